"""The launch flow on the fake driver: states, events, failures, cleanup."""
from __future__ import annotations

import asyncio

import pytest

from backend.core import power_state
from backend.core.errors import Conflict
from backend.virt.fake import FakeBehaviour, FakeDriver
from dbhelp import dbconnect
from cloudhelp import run_power_syncs, settle, wait_for, wait_gone, wait_task


def count(config, sql, params=()):
    con = dbconnect(config)
    try:
        return con.execute(sql, params).fetchone()[0]
    finally:
        con.close()


def leftovers(config, uuid):
    return {"ports": count(config, "SELECT count(*) FROM ports WHERE device_id=?", (uuid,)),
            "claims": count(config, "SELECT count(*) FROM claims WHERE instance_uuid=?", (uuid,)),
            "volumes": count(config, "SELECT count(*) FROM volumes WHERE attached_to=?", (uuid,))}


NOTHING = {"ports": 0, "claims": 0, "volumes": 0}


@pytest.fixture
async def start_cloud():
    """start(config): a started cloud on an initialised config, stopped at the test's end if
    the test has not (tests/test_flow_cluster.py starts a cluster of processes instead)."""
    from backend.facade import Cloud
    running = []

    async def start(cfg):
        c = Cloud(cfg)
        await c.start()
        running.append(c)
        return c
    yield start
    for c in running:
        await c.stop()  # a no-op when the test stopped it


async def test_create_walks_the_upstream_states_in_order(cloud, admin, image):
    seen = []
    cloud.subscribe(lambda e: e["type"] == "instance" and seen.append(
        (e["server"]["vm_state"], e["server"]["task_state"], e["server"]["power_state"])))
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    assert (s["status"], s["vm_state"], s["task_state"], s["power_state"]) == ("BUILD", "building", "scheduling", 0)
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    await settle(cloud)  # in a cluster the feed crosses processes: it may trail the database
    dedup = [x for i, x in enumerate(seen) if i == 0 or seen[i - 1] != x]
    assert dedup == [("building", "scheduling", 0), ("building", None, 0), ("building", "networking", 0),
                     ("building", "block_device_mapping", 0), ("building", "spawning", 0),
                     ("active", None, power_state.RUNNING)]


async def test_create_records_action_and_events(cloud, admin, image):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    actions = await cloud.list_instance_actions(admin, s["id"])
    assert [a["action"] for a in actions] == ["create"]
    assert actions[0]["request_id"].startswith("req-")
    act = await cloud.get_instance_action(admin, s["id"], actions[0]["request_id"])
    names = [e["event"] for e in act["events"]]
    assert names == ["conductor_schedule_and_build_instances", "compute__do_build_and_run_instance",
                     "compute_claim_resources", "compute_allocate_network", "compute_fetch_image",
                     "compute_block_device_mapping", "compute_spawn"]
    assert all(e["result"] == "Success" and e["finish_time"] >= e["start_time"] for e in act["events"])
    assert {e["host"] for e in act["events"][1:]} == {s["host"]}
    await settle(cloud)  # every process has written its trace (in a cluster each one in batches)
    trace = await cloud.get_trace(admin, s["id"])
    services = {t["service"] for t in trace}
    assert {"identity", "compute-api", "queue", "conductor", "scheduler", "compute", "network", "image",
            "volume", "hypervisor"} <= services
    assert s["addresses"]["private"][0]["mac"].startswith("fa:16:3e:")


async def test_spawn_failure_lands_on_an_alternate(cloud, admin, image, config):
    FakeDriver.behaviours["fake-1"] = FakeBehaviour(fail_always=True)
    FakeDriver.behaviours["fake-2"] = FakeBehaviour(fail_always=True)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    assert s["host"] == "fake-3"
    assert count(config, "SELECT count(*) FROM ports") == 1
    assert count(config, "SELECT count(*) FROM claims") == 1
    ex = await cloud.explain_server(admin, s["id"])
    assert [a["host"] for a in ex[0]["build_attempts"]] == ["fake-1", "fake-2"]


async def test_spawn_failing_everywhere_gives_error_listing_each_attempt(cloud, admin, image, config):
    for h in ("fake-1", "fake-2", "fake-3"):
        FakeDriver.behaviours[h] = FakeBehaviour(fail_always=True, fail_message="disk on fire")
    s = (await cloud.create_server(admin, "vm", image, "m1.nano", boot_volume_size=1))[0]
    s = await wait_for(cloud, admin, s["id"], "ERROR")
    assert "Exceeded maximum number of retries" in s["fault"]["message"]
    for h in ("fake-1", "fake-2", "fake-3"):
        assert f"on {h}: disk on fire" in s["fault"]["details"]
    assert leftovers(config, s["id"]) == NOTHING
    assert count(config, "SELECT count(*) FROM volumes") == 0
    assert count(config, "SELECT count(*) FROM ports") == 0


async def test_no_capacity_explains_per_filter(cloud, admin, image, config):
    await cloud.create_flavor(admin, "huge", 2, 8192, 1)
    s = (await cloud.create_server(admin, "vm", image, "huge"))[0]
    s = await wait_for(cloud, admin, s["id"], "ERROR")
    msg = s["fault"]["message"]
    assert "No valid host was found" in msg and "RamFilter" in msg
    for h in ("fake-1", "fake-2", "fake-3"):
        assert f"RamFilter removed {h}" in s["fault"]["details"]
    ex = (await cloud.explain_server(admin, s["id"]))[0]
    ram = next(f for f in ex["filters"] if f["name"] == "RamFilter")
    assert len(ram["removed"]) == 3 and ram["remaining"] == 0
    assert leftovers(config, s["id"]) == NOTHING


async def test_unreachable_host_is_skipped(cloud, admin, image):
    FakeDriver.behaviours["fake-1"] = FakeBehaviour(unreachable=True)
    FakeDriver.behaviours["fake-2"] = FakeBehaviour(unreachable=True)
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while True:  # until the heartbeats have seen both hosts gone
        hv = {h["name"]: h["state"] for h in await cloud.list_hypervisors(admin)}
        if hv == {"fake-1": "down", "fake-2": "down", "fake-3": "up"} or loop.time() > end:
            break
        await asyncio.sleep(0.02)
    assert hv == {"fake-1": "down", "fake-2": "down", "fake-3": "up"}
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    assert s["host"] == "fake-3"
    ex = (await cloud.explain_server(admin, s["id"]))[0]
    cf = next(f for f in ex["filters"] if f["name"] == "ComputeFilter")
    assert sorted(r["host"] for r in cf["removed"]) == ["fake-1", "fake-2"]


async def test_stop_start_reboot_delete(cloud, admin, image, config):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    await cloud.stop_server(admin, s["id"])
    s2 = await wait_for(cloud, admin, s["id"], "SHUTOFF")
    assert s2["power_state"] == power_state.SHUTDOWN
    with pytest.raises(Conflict, match="vm_state stopped"):
        await cloud.stop_server(admin, s["id"])
    await cloud.start_server(admin, s["id"])
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    await cloud.reboot_server(admin, s["id"], hard=True)
    assert (await cloud.get_server(admin, s["id"]))["status"] == "HARD_REBOOT"
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    await cloud.reboot_server(admin, s["id"])
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    actions = [a["action"] for a in await cloud.list_instance_actions(admin, s["id"])]
    assert actions == ["reboot", "reboot", "start", "stop", "create"]
    await cloud.delete_server(admin, s["id"])
    await wait_gone(cloud, admin, s["id"])
    assert leftovers(config, s["id"]) == NOTHING
    assert count(config, "SELECT deleted FROM instances WHERE uuid=?", (s["id"],)) == 1


async def test_delete_during_build_releases_everything(cloud, admin, image, config):
    for h in ("fake-1", "fake-2", "fake-3"):
        FakeDriver.behaviours[h] = FakeBehaviour(spawn_latency=1.0)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano", boot_volume_size=1))[0]
    await wait_task(cloud, admin, s["id"], "spawning")
    await cloud.delete_server(admin, s["id"])
    await wait_gone(cloud, admin, s["id"])
    await settle(cloud)  # the aborted build's cleanup has run to its end
    assert leftovers(config, s["id"]) == NOTHING
    assert count(config, "SELECT count(*) FROM volumes") == 0


async def test_power_sync_notices_a_dead_guest(cloud, admin, image):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    # the guest dies on its host (the driver sees it at its next call: in a cluster, in another process)
    FakeDriver.behaviours[s["host"]] = FakeBehaviour(crash={s["id"]: power_state.CRASHED})
    s = await wait_for(cloud, admin, s["id"], "SHUTOFF", timeout=5)
    assert s["power_state"] == power_state.CRASHED
    actions = await cloud.list_instance_actions(admin, s["id"])
    assert actions[0]["action"] == "stop" and "power state sync" in actions[0]["message"]


async def test_build_timeout_turns_a_hung_build_into_error(tmp_path, start_cloud):
    from cloudhelp import make_config
    from backend.facade import Cloud
    cfg = make_config(tmp_path, build_timeout=0.5)
    Cloud.init(cfg, "secret")
    c = await start_cloud(cfg)
    for h in ("fake-1", "fake-2", "fake-3"):
        FakeDriver.behaviours[h] = FakeBehaviour(hang=True)
    tok = (await c.login("admin", "secret", "admin"))["token"]
    img = await c.create_image(tok, "i", visibility="public")
    await c.upload_image(tok, img["id"], b"x")
    s = (await c.create_server(tok, "vm", img["id"], "m1.nano"))[0]
    s = await wait_for(c, tok, s["id"], "ERROR", timeout=10)
    assert "timed out" in s["fault"]["message"]
    assert leftovers(cfg, s["id"]) == NOTHING
    await c.delete_server(tok, s["id"])
    await wait_gone(c, tok, s["id"])


async def test_multi_create_names_and_all_or_nothing(cloud, admin, image, config):
    servers = await cloud.create_server(admin, "web", image, "m1.nano", min_count=3, max_count=3)
    assert [s["name"] for s in servers] == ["web-1", "web-2", "web-3"]
    assert len({s["reservation_id"] for s in servers}) == 1
    for s in servers:
        await wait_for(cloud, admin, s["id"], "ACTIVE")
    # 3 hosts × 4096 MB − 512 reserved: three 2 GB instances fit once per host, a fourth cannot
    await cloud.create_flavor(admin, "m2", 1, 2048, 1)
    big = await cloud.create_server(admin, "big", image, "m2", min_count=4, max_count=4)
    for s in big:
        s = await wait_for(cloud, admin, s["id"], "ERROR")
        assert "No valid host" in s["fault"]["message"] or "could not be placed" in s["fault"]["message"]
    assert count(config, "SELECT count(*) FROM claims") == 3


async def test_anti_affinity_group_spreads(cloud, admin, image):
    g = await cloud.create_server_group(admin, "spread", "anti-affinity")
    hosts = set()
    for i in range(3):
        s = (await cloud.create_server(admin, f"a{i}", image, "m1.nano", scheduler_hints={"group": g["id"]}))[0]
        hosts.add((await wait_for(cloud, admin, s["id"], "ACTIVE"))["host"])
    assert hosts == {"fake-1", "fake-2", "fake-3"}
    s = (await cloud.create_server(admin, "a4", image, "m1.nano", scheduler_hints={"group": g["id"]}))[0]
    s = await wait_for(cloud, admin, s["id"], "ERROR")
    assert "ServerGroupAntiAffinityFilter" in s["fault"]["message"]


async def test_restart_keeps_states_and_resumes(config, start_cloud):
    """Stop the backend cleanly with one instance ACTIVE, one SHUTOFF: after a start both are
    as they were (the hypervisor outlives the control plane) and the power sync agrees."""
    from backend.facade import Cloud
    Cloud.init(config, "secret")
    c = await start_cloud(config)
    tok = (await c.login("admin", "secret", "admin"))["token"]
    img = await c.create_image(tok, "i", visibility="public")
    await c.upload_image(tok, img["id"], b"x")
    a = (await c.create_server(tok, "a", img["id"], "m1.nano"))[0]
    b = (await c.create_server(tok, "b", img["id"], "m1.nano"))[0]
    await wait_for(c, tok, a["id"], "ACTIVE")
    await wait_for(c, tok, b["id"], "ACTIVE")
    await c.stop_server(tok, b["id"])
    await wait_for(c, tok, b["id"], "SHUTOFF")
    await c.stop()
    FakeDriver.behaviours.clear()
    c = await start_cloud(config)
    tok = (await c.login("admin", "secret", "admin"))["token"]
    await run_power_syncs(c)  # the guests the driver found again agree with the database
    assert (await c.get_server(tok, a["id"]))["status"] == "ACTIVE"
    sb = await wait_for(c, tok, b["id"], "SHUTOFF")
    assert sb["power_state"] == power_state.SHUTDOWN
