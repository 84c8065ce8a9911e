"""Each service on its own, through the facade: queue, network, image, volume."""
from __future__ import annotations

import asyncio
import hashlib

import pytest

from backend.core.context import RequestContext
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.messaging.events import EventHub, Tracer
from backend.messaging.bus import MessagingTimeout, NoSuchTopic
from backend.messaging.inproc import InProcessBus
from dbhelp import dbconnect
from cloudhelp import wait_for


class Echo:
    def __init__(self):
        self.seen = []

    async def hello(self, ctx, name, instance_uuid=None):
        self.seen.append((ctx.request_id, name))
        return f"hello {name}"

    async def slow(self, ctx):  # never answers: the call's timeout is the only way out
        await asyncio.Event().wait()


async def test_queue_cast_call_trace_and_timeout(tmp_path):
    from backend.core import db as dbm
    db = dbm.open_db(tmp_path / "q.db")
    hub = EventHub()
    traces = []
    hub.subscribe(lambda e: traces.append(e["trace"]))
    bus = InProcessBus(Tracer(db, hub))
    ep = Echo()
    bus.register("echo", ep)
    ctx = RequestContext("u", "user", "p", "proj", ("member",))
    assert await bus.call(ctx, "echo", "hello", name="a", instance_uuid="i-1") == "hello a"
    bus.cast(ctx, "echo", "hello", name="b")
    await bus.drain()
    assert ep.seen == [(ctx.request_id, "a"), (ctx.request_id, "b")]
    assert [(t["kind"], t["topic"], t["method"]) for t in traces] == [
        ("call", "echo", "hello"), ("reply", "echo", "hello"), ("cast", "echo", "hello")]
    assert all(t["request_id"] == ctx.request_id for t in traces)
    assert traces[0]["instance_uuid"] == "i-1" and traces[1]["duration_ms"] >= 0
    with pytest.raises(MessagingTimeout, match="echo.slow"):
        await bus.call(ctx, "echo", "slow", timeout=0.05)
    with pytest.raises(NoSuchTopic):
        bus.cast(ctx, "nobody", "x")


async def test_network_pool_fixed_ip_and_exhaustion(cloud, admin):
    net = await cloud.create_network(admin, "tiny-net")
    sub = await cloud.create_subnet(admin, net["id"], "192.168.50.0/29")
    assert sub["gateway_ip"] == "192.168.50.1"
    assert sub["allocation_pools"] == [{"start": "192.168.50.2", "end": "192.168.50.6"}]
    p = await cloud.create_port(admin, net["id"], fixed_ip="192.168.50.4")
    assert p["fixed_ips"][0]["ip_address"] == "192.168.50.4" and p["mac_address"].startswith("fa:16:3e:")
    with pytest.raises(Conflict, match="already allocated"):
        await cloud.create_port(admin, net["id"], fixed_ip="192.168.50.4")
    with pytest.raises(BadRequest, match="not a valid IP for any of the subnets"):
        await cloud.create_port(admin, net["id"], fixed_ip="10.9.9.9")
    ips = [(await cloud.create_port(admin, net["id"]))["fixed_ips"][0]["ip_address"] for _ in range(4)]
    assert ips == ["192.168.50.2", "192.168.50.3", "192.168.50.5", "192.168.50.6"]
    with pytest.raises(Conflict, match="No more IP addresses"):
        await cloud.create_port(admin, net["id"])
    await cloud.delete_port(admin, p["id"])
    again = await cloud.create_port(admin, net["id"])
    assert again["fixed_ips"][0]["ip_address"] == "192.168.50.4"
    with pytest.raises(BadRequest, match="overlaps with another subnet"):  # neutron's InvalidInput
        await cloud.create_subnet(admin, net["id"], "192.168.50.0/28")
    with pytest.raises(Conflict, match="port"):
        await cloud.delete_network(admin, net["id"])
    for bad in ("300.1.1.0/24", "10.0.0.1/24", "fe80::/64", "10.0.0.0/31"):
        with pytest.raises(BadRequest):
            await cloud.create_subnet(admin, net["id"], bad)


async def test_ports_of_an_instance_are_bound_and_released(cloud, admin, image, config):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    ports = await cloud.list_ports(admin, {"device_id": s["id"]})
    assert len(ports) == 1 and ports[0]["binding_host_id"] == s["host"]
    assert ports[0]["device_owner"] == "compute:nova"
    with pytest.raises(Conflict, match="in use by instance"):
        await cloud.delete_port(admin, ports[0]["id"])
    # a port the user made and gave to the instance survives the delete, unbound
    mine = await cloud.create_port(admin, "private", name="keep-me")
    s2 = (await cloud.create_server(admin, "vm2", image, "m1.nano", networks=[{"port": mine["id"]}]))[0]
    await wait_for(cloud, admin, s2["id"], "ACTIVE")
    assert (await cloud.get_port(admin, mine["id"]))["device_id"] == s2["id"]
    await cloud.delete_server(admin, s2["id"])
    await cloud.delete_server(admin, s["id"])
    for _ in range(200):
        left = await cloud.list_ports(admin)
        if len(left) == 1:
            break
        await asyncio.sleep(0.01)
    assert [p["id"] for p in left] == [mine["id"]] and left[0]["device_id"] == ""


async def test_image_upload_checksums_visibility_and_download(cloud, admin, config):
    data = bytes(range(256)) * 100
    img = await cloud.create_image(admin, "blob", disk_format="raw", properties={"architecture": "x86_64"})
    assert img["status"] == "queued"
    img = await cloud.upload_image(admin, img["id"], iter([data[:1000], data[1000:]]))
    assert img["status"] == "active" and img["size"] == len(data)
    assert img["os_hash_value"] == hashlib.sha256(data).hexdigest()
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    view, path = await cloud.download_image(admin, img["id"])
    assert path.read_bytes() == data and path.stat().st_mode & 0o077 == 0
    with pytest.raises(Conflict, match="already has data"):
        await cloud.upload_image(admin, img["id"], b"again")
    await cloud.create_project(admin, "other")
    await cloud.create_user(admin, "o", "pw-o")
    await cloud.grant_role(admin, "other", "o", "member")
    other = (await cloud.login("o", "pw-o", "other"))["token"]
    with pytest.raises(NotFound):
        await cloud.get_image(other, img["id"])  # private to the admin project
    with pytest.raises(Forbidden, match="public"):
        await cloud.create_image(other, "mine", visibility="public")
    for kwargs, msg in (({"disk_format": "exe"}, "disk_format"), ({"container_format": "zip"}, "container_format"),
                        ({"min_ram": -1}, "min_ram"), ({"properties": {"size": "1"}}, "reserved")):
        with pytest.raises(BadRequest, match=msg):
            await cloud.create_image(admin, "bad", **kwargs)
    await cloud.delete_image(admin, img["id"])
    assert not path.exists()


async def test_volume_lifecycle_and_boot_from_volume(cloud, admin, image, config):
    v = await cloud.create_volume(admin, 2, "data")
    assert (v["status"], v["size"], v["host"]) == ("available", 2, None)
    for bad in (0, -1, 1001, "x", True):
        with pytest.raises(BadRequest, match="size"):
            await cloud.create_volume(admin, bad)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano", boot_volume_size=3))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    boot = await cloud.get_volume(admin, s["boot_volume_id"])
    assert (boot["status"], boot["size"], boot["bootable"], boot["host"]) == ("in-use", 3, True, s["host"])
    assert cloud.rt.computes[s["host"]].driver.volumes[boot["id"]] == 3
    att = await cloud.attach_volume(admin, s["id"], v["id"])
    assert att["device"] == "/dev/vdb"  # vda is the boot volume
    guest = cloud.rt.computes[s["host"]].driver.guests[s["id"]]
    assert [x["volume_id"] for x in guest.spec.volumes] == [v["id"]]
    assert (await cloud.get_volume(admin, v["id"]))["status"] == "in-use"
    with pytest.raises(Conflict, match="attached"):
        await cloud.delete_volume(admin, v["id"])
    await cloud.detach_volume(admin, s["id"], v["id"])
    assert guest.spec.volumes == [] and (await cloud.get_volume(admin, v["id"]))["status"] == "available"
    await cloud.delete_server(admin, s["id"])
    for _ in range(200):
        if len(await cloud.list_volumes(admin)) == 1:
            break
        await asyncio.sleep(0.01)
    assert [x["id"] for x in await cloud.list_volumes(admin)] == [v["id"]]  # boot volume went with it
    assert boot["id"] not in cloud.rt.computes[s["host"]].driver.volumes
    await cloud.delete_volume(admin, v["id"])
    con = dbconnect(config)
    assert con.execute("SELECT count(*) FROM volumes").fetchone()[0] == 0


async def test_server_views_follow_every_change(cloud, admin, image):
    """Lists come from cached views: each change to what a view shows must be visible at once,
    whichever service wrote it (ports, volumes, image name, fault, state)."""
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    first = (await cloud.list_servers(admin))[0]
    assert first["addresses"]["private"] and first["volumes_attached"] == []
    v = await cloud.create_volume(admin, 1)
    await cloud.attach_volume(admin, s["id"], v["id"])
    # the facade's view carries what microversion 2.3 shows (delete_on_termination) too
    assert (await cloud.list_servers(admin))[0]["volumes_attached"] == [
        {"id": v["id"], "delete_on_termination": False}]
    await cloud.update_image(admin, image, {"name": "renamed"})
    assert (await cloud.list_servers(admin))[0]["image"]["name"] == "renamed"
    extra = await cloud.create_port(admin, "private")
    cloud.rt.db.conn.execute("UPDATE ports SET device_id=? WHERE id=?", (s["id"], extra["id"]))
    assert len((await cloud.list_servers(admin))[0]["addresses"]["private"]) == 2
    await cloud.stop_server(admin, s["id"])
    await wait_for(cloud, admin, s["id"], "SHUTOFF")
    assert (await cloud.list_servers(admin))[0]["status"] == "SHUTOFF"
    listed = await cloud.list_servers(admin)
    listed[0]["name"] = "changed by a caller"  # callers get copies
    assert (await cloud.list_servers(admin))[0]["name"] == "vm"
