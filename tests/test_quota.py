"""Quotas through the facade on the fake driver: upstream defaults, per-project overrides set by
admins, usage counted from the resources, every limit enforced with the service's upstream
error, nothing half-written, and concurrent creates never overshoot."""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid

import pytest

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Forbidden, OverLimit, OverQuota, RequestTooLarge
from cloudhelp import wait_for

MIB = 1024 * 1024


@pytest.fixture
async def member(cloud, admin):
    """bob, member of the project 'other' (no network of its own: 'private' is shared)."""
    p = await cloud.create_project(admin, "other")
    await cloud.create_user(admin, "bob", "bob-pw")
    await cloud.grant_role(admin, "other", "bob", "member")
    tok = (await cloud.login("bob", "bob-pw", "other"))["token"]
    return tok, p["id"]


async def _admin_pid(cloud, admin):
    return (await cloud.validate_token(admin))["project"]["id"]


async def test_defaults_are_upstream_and_usage_is_counted(cloud, admin, image):
    pid = await _admin_pid(cloud, admin)
    c = await cloud.get_quotas(admin, pid, "compute")
    assert {k: c[k]["limit"] for k in ("instances", "cores", "ram", "metadata_items", "server_groups",
                                       "server_group_members")} == {
        "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128, "server_groups": 10,
        "server_group_members": 10}
    n = await cloud.get_quotas(admin, pid, "network")
    assert {k: n[k]["limit"] for k in ("network", "subnet", "port")} == {"network": 100, "subnet": 100,
                                                                         "port": 500}
    assert n["network"]["in_use"] == 1 and n["subnet"]["in_use"] == 1  # 'private' from init
    v = await cloud.get_quotas(admin, pid, "volume")
    assert (v["volumes"]["limit"], v["gigabytes"]["limit"]) == (10, 1000)
    i = await cloud.get_quotas(admin, pid, "image")
    assert i["image_count_total"] == {"limit": 100, "in_use": 1}
    assert i["image_size_total"] == {"limit": 51200, "in_use": 1}  # 4 KiB counts as 1 MiB

    s = (await cloud.create_server(admin, "a", image, "m1.tiny"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    await cloud.create_volume(admin, 3)
    c = await cloud.get_quotas(admin, pid, "compute")
    assert (c["instances"]["in_use"], c["cores"]["in_use"], c["ram"]["in_use"]) == (1, 1, 512)
    assert (await cloud.get_quotas(admin, pid, "network"))["port"]["in_use"] == 1
    v = await cloud.get_quotas(admin, pid, "volume")
    assert (v["volumes"]["in_use"], v["gigabytes"]["in_use"]) == (1, 3)
    lim = await cloud.get_limits(admin)
    assert (lim["maxTotalInstances"], lim["totalInstancesUsed"], lim["totalRAMUsed"]) == (10, 1, 512)
    assert (lim["maxServerMeta"], lim["maxServerGroups"], lim["maxServerGroupMembers"]) == (128, 10, 10)


async def test_admin_raises_instances_to_12_and_11_servers_run(cloud, admin, image, member):
    tok, pid = member
    for i in range(10):
        await cloud.create_server(tok, f"s{i}", image, "m1.nano")
    with pytest.raises(OverLimit) as e:
        await cloud.create_server(tok, "s10", image, "m1.nano")
    assert e.value.code == 403
    assert "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances" in e.value.message

    got = await cloud.update_quotas(admin, pid, "compute", {"instances": 12})
    assert got["instances"] == {"limit": 12, "in_use": 10}
    await cloud.create_server(tok, "s10", image, "m1.nano")
    assert (await cloud.get_limits(tok))["maxTotalInstances"] == 12
    assert len(await cloud.list_servers(tok)) == 11
    # another project keeps the default
    assert (await cloud.get_limits(admin))["maxTotalInstances"] == 10
    await cloud.delete_quotas(admin, pid, "compute")
    assert (await cloud.get_quotas(tok, pid, "compute"))["instances"] == {"limit": 10, "in_use": 11}


async def test_min_max_count_fit_the_room_and_over_names_each_resource(cloud, admin, image, member):
    tok, pid = member
    await cloud.update_quotas(admin, pid, "compute", {"instances": 3, "cores": -1})
    made = await cloud.create_server(tok, "m", image, "m1.nano", min_count=1, max_count=5)
    assert len(made) == 3
    await cloud.update_quotas(admin, pid, "compute", {"instances": -1, "ram": 1000}, force=True)
    with pytest.raises(OverLimit) as e:
        await cloud.create_server(tok, "big", image, "m1.small")
    assert e.value.message == ("Quota exceeded for ram: Requested 2048, but already used 384 of 1000 ram")
    assert len(await cloud.list_servers(tok)) == 3  # nothing written


async def test_ports_for_new_servers_are_checked_before_202(cloud, admin, image, member):
    tok, pid = member
    await cloud.update_quotas(admin, pid, "network", {"port": 2})
    with pytest.raises(OverLimit) as e:
        await cloud.create_server(tok, "p", image, "m1.nano", min_count=3, max_count=3)
    assert "Quota exceeded for port: Requested 3, but already used 0 of 2 port" in e.value.message
    assert await cloud.list_servers(tok) == []
    assert len(await cloud.create_server(tok, "p", image, "m1.nano", min_count=1, max_count=3)) == 2


async def test_metadata_items_server_groups_and_members(cloud, admin, image, member):
    tok, pid = member
    meta = {f"k{i}": "v" for i in range(129)}
    with pytest.raises(OverLimit) as e:
        await cloud.create_server(tok, "m", image, "m1.nano", metadata=meta)
    assert "metadata_items: Requested 129, but already used 0 of 128" in e.value.message
    await cloud.create_server(tok, "m", image, "m1.nano", metadata=dict(list(meta.items())[:128]))

    await cloud.update_quotas(admin, pid, "compute", {"server_groups": 1, "server_group_members": 2})
    g = await cloud.create_server_group(tok, "g", "anti-affinity")
    with pytest.raises(OverLimit) as e:
        await cloud.create_server_group(tok, "g2", "affinity")
    assert "server_groups: Requested 1, but already used 1 of 1" in e.value.message
    assert len(await cloud.list_server_groups(tok)) == 1
    hints = {"group": g["id"]}
    with pytest.raises(OverLimit) as e:
        await cloud.create_server(tok, "g", image, "m1.nano", min_count=3, max_count=3, scheduler_hints=hints)
    assert "server_group_members: Requested 3, but already used 0 of 2" in e.value.message
    assert len(await cloud.create_server(tok, "g", image, "m1.nano", max_count=3, scheduler_hints=hints)) == 2


async def test_neutron_quotas_are_409_overquota(cloud, admin, member):
    tok, pid = member
    await cloud.update_quotas(admin, pid, "network", {"network": 1, "subnet": 1})
    n = await cloud.create_network(tok, "n1")
    with pytest.raises(OverQuota) as e:
        await cloud.create_network(tok, "n2")
    assert e.value.code == 409 and "['network']" in e.value.message and "limit 1, used 1, requested 1" \
        in e.value.message
    await cloud.create_subnet(tok, n["id"], "192.168.5.0/24")
    with pytest.raises(OverQuota):
        await cloud.create_subnet(tok, n["id"], "192.168.6.0/24")
    assert [x["name"] for x in await cloud.list_networks(tok) if x["project_id"] == pid] == ["n1"]
    assert len((await cloud.get_network(tok, n["id"]))["subnets"]) == 1


async def test_member_ports_on_a_shared_network_stop_at_the_port_quota(cloud, admin, member):
    tok, pid = member
    await cloud.update_quotas(admin, pid, "network", {"port": 5})
    for i in range(5):
        p = await cloud.create_port(tok, "private", f"p{i}")
        assert p["project_id"] == pid
    with pytest.raises(OverQuota) as e:
        await cloud.create_port(tok, "private", "p5")
    assert "['port']" in e.value.message and "limit 5, used 5, requested 1" in e.value.message
    assert len(await cloud.list_ports(tok)) == 5
    assert (await cloud.get_quotas(tok, pid, "network"))["port"] == {"limit": 5, "in_use": 5}


async def test_fixed_ip_on_a_network_not_yours_is_for_admins_only(cloud, admin, image, member):
    tok, pid = member
    with pytest.raises(Forbidden) as e:
        await cloud.create_port(tok, "private", "squat", fixed_ip="10.0.0.50")
    assert "fixed IP" in e.value.message and "private" in e.value.message
    assert await cloud.list_ports(tok) == []
    # without a chosen address the shared network is open to members, as neutron's
    assert (await cloud.create_port(tok, "private", "ok"))["fixed_ips"][0]["ip_address"].startswith("10.0.0.")
    net = (await cloud.get_network(admin, "private"))["id"]
    with pytest.raises(Forbidden):
        await cloud.create_server(tok, "s", image, "m1.nano", networks=[{"uuid": net, "fixed_ip": "10.0.0.51"}])
    assert await cloud.list_servers(tok) == []
    assert (await cloud.create_port(admin, "private", "adm", fixed_ip="10.0.0.50"))["fixed_ips"][0][
        "ip_address"] == "10.0.0.50"
    own = await cloud.create_network(tok, "mine")
    await cloud.create_subnet(tok, own["id"], "192.168.9.0/24")
    assert (await cloud.create_port(tok, own["id"], "x", fixed_ip="192.168.9.7"))["fixed_ips"][0][
        "ip_address"] == "192.168.9.7"


async def test_cinder_quotas_are_413(cloud, admin, member):
    tok, pid = member
    await cloud.update_quotas(admin, pid, "volume", {"volumes": 2, "gigabytes": 5, "per_volume_gigabytes": 4})
    await cloud.create_volume(tok, 2)
    with pytest.raises(RequestTooLarge) as e:
        await cloud.create_volume(tok, 4)
    assert e.value.code == 413
    assert e.value.message == ("Requested volume or snapshot exceeds allowed gigabytes quota. Requested 4G, "
                               "quota is 5G and 2G has been consumed.")
    with pytest.raises(RequestTooLarge) as e:
        await cloud.update_quotas(admin, pid, "volume", {"gigabytes": 100})
        await cloud.create_volume(tok, 5)
    assert "larger than maximum allowed limit 4G" in e.value.message
    await cloud.create_volume(tok, 3)
    with pytest.raises(RequestTooLarge) as e:
        await cloud.create_volume(tok, 1)
    assert "Maximum number of volumes allowed (2) exceeded for quota 'volumes' (2 used, 1 requested)" \
        in e.value.message
    assert len(await cloud.list_volumes(tok)) == 2


async def test_boot_from_volume_counts_against_cinder_quota(cloud, admin, image, member):
    tok, pid = member
    await cloud.update_quotas(admin, pid, "volume", {"gigabytes": 3})
    with pytest.raises(OverLimit) as e:
        await cloud.create_server(tok, "bfv", image, "m1.nano", boot_volume_size=4)
    assert "gigabytes: Requested 4, but already used 0 of 3" in e.value.message
    assert await cloud.list_servers(tok) == []


async def test_glance_image_count_and_size(cloud, admin, member, config):
    tok, pid = member
    await cloud.update_quotas(admin, pid, "image", {"image_count_total": 2, "image_size_total": 2})
    a = await cloud.create_image(tok, "a")
    b = await cloud.create_image(tok, "b")
    with pytest.raises(RequestTooLarge) as e:
        await cloud.create_image(tok, "c")
    assert e.value.message == (f"Project {pid} is over a limit for [Resource image_count_total is over limit "
                               "of 2 due to current usage 2 and delta 1]")
    assert len([i for i in await cloud.list_images(tok) if i["owner"] == pid]) == 2

    with pytest.raises(RequestTooLarge) as e:  # refused while streaming, before it is all read
        await cloud.upload_image(tok, a["id"], (b"\0" * MIB for _ in range(3)))
    assert "image_size_total is over limit of 2 due to current usage 0 and delta 3" in e.value.message
    got = await cloud.get_image(tok, a["id"])
    assert got["status"] == "queued" and got["size"] is None
    assert sorted(p.name for p in config.images_dir.iterdir()) == []
    await cloud.upload_image(tok, a["id"], b"\0" * (MIB + 1))  # counts as 2 MiB
    with pytest.raises(RequestTooLarge) as e:
        await cloud.upload_image(tok, b["id"], b"\0" * 10)
    assert "current usage 2 and delta 1" in e.value.message
    assert (await cloud.get_quotas(tok, pid, "image"))["image_size_total"] == {"limit": 2, "in_use": 2}


async def test_only_admins_set_members_read_their_own(cloud, admin, member):
    tok, pid = member
    apid = await _admin_pid(cloud, admin)
    assert (await cloud.get_quotas(tok, pid, "network"))["port"]["limit"] == 500
    with pytest.raises(Forbidden):
        await cloud.get_quotas(tok, apid, "compute")
    for service in ("compute", "network", "volume", "image"):
        with pytest.raises(Forbidden):
            await cloud.update_quotas(tok, pid, service, {})
        with pytest.raises(Forbidden):
            await cloud.delete_quotas(tok, pid, service)
    assert (await cloud.get_quotas(admin, pid, "compute"))["instances"]["limit"] == 10
    with pytest.raises(BadRequest) as e:
        await cloud.get_quotas(admin, "no-such-project", "compute")
    assert "no-such-project" in e.value.message


@pytest.mark.parametrize("values, named", [
    ({"instances": "many"}, "instances"), ({"cores": -2}, "cores"), ({"ram": 2 ** 31}, "ram"),
    ({"instances": 5, "port": 3}, "port"), ({"instances": True}, "instances"),
    ({"instances": "²"}, "instances"), ({"instances": 12, "bogus": 1}, "bogus"),
    ({"key_pairs": "x"}, "key_pairs"), ({"injected_files": 5}, "injected_files")])
async def test_bad_values_name_the_key_and_write_nothing(cloud, admin, member, values, named):
    tok, pid = member
    with pytest.raises(BadRequest) as e:
        await cloud.update_quotas(admin, pid, "compute", values)
    assert named in e.value.message
    assert dbm.rows(cloud.rt.db, "SELECT * FROM quotas") == []


async def test_string_digits_and_unlimited(cloud, admin, image, member):
    tok, pid = member
    got = await cloud.update_quotas(admin, pid, "compute", {"instances": "-1", "cores": "40"})
    assert (got["instances"]["limit"], got["cores"]["limit"]) == (-1, 40)
    assert len(await cloud.create_server(tok, "u", image, "m1.nano", min_count=12, max_count=12)) == 12


async def test_nova_refuses_a_limit_under_usage_unless_forced(cloud, admin, image, member):
    tok, pid = member
    await cloud.create_server(tok, "u", image, "m1.nano", min_count=3, max_count=3)
    with pytest.raises(BadRequest) as e:
        await cloud.update_quotas(admin, pid, "compute", {"instances": 2}, force=False)
    assert e.value.message == ("Quota limit 2 for instances must be greater than or equal to already used and "
                               "reserved 3.")
    assert (await cloud.get_quotas(admin, pid, "compute"))["instances"]["limit"] == 10
    await cloud.update_quotas(admin, pid, "compute", {"instances": 2}, force=True)
    with pytest.raises(OverLimit):
        await cloud.create_server(tok, "v", image, "m1.nano")


async def test_concurrent_creates_never_overshoot(cloud, admin, image, member):
    tok, pid = member
    await cloud.update_quotas(admin, pid, "compute", {"instances": 7})
    await cloud.update_quotas(admin, pid, "volume", {"volumes": 4})
    results = await asyncio.gather(*[cloud.create_server(tok, f"c{i}", image, "m1.nano") for i in range(20)],
                                   *[cloud.create_volume(tok, 1) for _ in range(10)], return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results[:20]) == 7
    assert sum(not isinstance(r, Exception) for r in results[20:]) == 4
    assert all(isinstance(r, (OverLimit, RequestTooLarge)) for r in results if isinstance(r, Exception))
    assert len(await cloud.list_servers(tok)) == 7 and len(await cloud.list_volumes(tok)) == 4


def test_check_and_insert_hold_the_write_lock_across_connections(tmp_path, config):
    """Eight connections (as eight processes would have) race to add networks with a quota of 3:
    the count and the insert share one BEGIN IMMEDIATE transaction, so exactly 3 land."""
    path = tmp_path / "race.db"
    dbm.open_db(path).conn.close()
    config.quota_defaults = {"network": 3}
    barrier = threading.Barrier(8)
    outcomes = []

    def worker(i):
        db = dbm.open_db(path)
        barrier.wait()
        try:
            with dbm.transaction(db):
                quota.check(db, config, "p1", {"network": 1}, "network")
                db.conn.execute("INSERT INTO networks (id, name, project_id, created_at) VALUES (?,?,?,?)",
                                (str(uuid.uuid4()), f"n{i}", "p1", dbm.now_iso()))
            outcomes.append("ok")
        except OverQuota:
            outcomes.append("over")
        finally:
            db.conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok"] * 3 + ["over"] * 5
    assert sqlite3.connect(path).execute("SELECT count(*) FROM networks").fetchone()[0] == 3


def test_a_database_from_before_quotas_opens_and_gets_the_table(tmp_path):
    path = tmp_path / "old.db"
    db = dbm.open_db(path)
    db.conn.execute("DROP TABLE quotas")
    db.conn.execute("DROP TABLE alembic_version")  # as a file made before migrations
    db.conn.execute("INSERT INTO projects (id, name, domain_id, description, enabled, created_at) "
                    "VALUES ('p', 'p', 'default', '', 1, 'now')")
    db.conn.close()
    db = dbm.open_db(path)
    assert dbm.rows(db, "SELECT * FROM quotas") == []
    assert dbm.row(db, "SELECT id FROM projects")["id"] == "p"


async def test_a_deleted_project_takes_its_quota_overrides_along(cloud, admin, member):
    tok, pid = member
    await cloud.update_quotas(admin, pid, "compute", {"instances": 40})
    await cloud.delete_project(admin, pid)
    assert dbm.rows(cloud.rt.db, "SELECT * FROM quotas WHERE project_id=?", (pid,)) == []
