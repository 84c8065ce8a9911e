"""The launch as the seed's six steps (Cloud.get_flow) on a real cloud over the fake driver:
every record of the create lands in one step, each step has its services, queues, times and
the instance's states, the running step is marked, failures are red with their fault."""
from __future__ import annotations

import asyncio

import pytest

from backend.facade import Cloud
from backend.virt.fake import FakeBehaviour, FakeDriver
from cloudhelp import make_config, settle, wait_for, wait_task

NOSTATE, RUNNING = 0, 1


def states(step: dict) -> list[tuple]:
    return [(s["vm_state"], s["task_state"], s["power_state"]) for s in step["states"]]


async def flow_of(cloud, token, sid) -> dict:
    return await cloud.get_flow(token, sid)


async def until(cloud, token, sid, cond, timeout: float = 10.0) -> dict:
    """Poll the flow until cond holds (bounded)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond(f := await flow_of(cloud, token, sid)):
        if loop.time() > end:
            raise AssertionError(f"the flow never got there: {[st['status'] for st in f['steps']]}")
        await asyncio.sleep(0.01)
    return f


async def test_an_active_instance_walks_the_six_steps(cloud, admin, image):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    await settle(cloud)
    f = await flow_of(cloud, admin, s["id"])
    assert f["status"] == "done" and f["current_step"] is None and f["fault"] is None
    assert [st["number"] for st in f["steps"]] == [1, 2, 3, 4, 5, 6]
    assert [st["status"] for st in f["steps"]] == ["done"] * 6
    by = {st["number"]: st for st in f["steps"]}
    # step 1: the token the request used, validated by nova-api; never the token itself
    tok = f["token"]
    assert (tok["user"], tok["project"], tok["validated_by"]) == ("admin", "admin", "nova-api")
    assert set(tok["roles"]) == {"admin", "member", "reader"}
    assert tok["scoped_at"] == (await cloud.validate_token(admin))["issued_at"]
    assert admin not in repr(f)
    assert by[1]["services"] == ["keystone", "nova-api"]
    # step 2: nova-api, the queue to the conductor and the scheduler, the cast to the host
    assert {"nova-api", "nova-conductor", "nova-scheduler", "nova-compute"} <= set(by[2]["services"])
    assert by[2]["queues"][:2] == ["conductor", "scheduler"] and by[2]["queues"][2].startswith("compute.")
    assert states(by[2])[0] == ("building", "scheduling", NOSTATE)
    # 3 neutron, 4 block devices, 5 glance, 6 the hypervisor
    assert "neutron" in by[3]["services"] and "network" in by[3]["queues"]
    assert ("building", "networking", NOSTATE) in states(by[3])
    assert "cinder" in by[4]["services"] and ("building", "block_device_mapping", NOSTATE) in states(by[4])
    assert "glance" in by[5]["services"] and "image" in by[5]["queues"]
    assert "hypervisor" in by[6]["services"]
    assert states(by[6])[0] == ("building", "spawning", NOSTATE) and states(by[6])[-1] == ("active", None, RUNNING)
    # each record of the create in exactly one step, none lost
    trace = await cloud.get_trace(admin, s["id"])
    placed = [m["id"] for st in f["steps"] for m in st["messages"]]
    assert sorted(placed) == sorted(r["id"] for r in trace) and len(placed) == len(set(placed))
    for st in f["steps"]:
        assert st["start"] is not None and st["duration_ms"] >= 0 and st["offset_ms"] >= 0
    assert by[1]["offset_ms"] == 0
    events = {e["event"]: n for n, st in by.items() for e in st["events"]}
    assert events == {"conductor_schedule_and_build_instances": 2, "compute_claim_resources": 2,
                      "compute_allocate_network": 3, "compute_block_device_mapping": 4,
                      "compute_fetch_image": 5, "compute_spawn": 6}


async def test_the_running_step_is_marked(cloud, admin, image):
    for h in ("fake-1", "fake-2", "fake-3"):
        FakeDriver.behaviours[h] = FakeBehaviour(hang=True)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_task(cloud, admin, s["id"], "spawning")
    # (in a cluster each process writes its trace in batches: the earlier steps may show a moment later)
    f = await until(cloud, admin, s["id"], lambda f: [st["status"] for st in f["steps"]] == ["done"] * 5 + ["running"])
    assert f["status"] == "running" and f["current_step"] == 6
    assert [st["status"] for st in f["steps"]] == ["done"] * 5 + ["running"]
    assert f["steps"][5]["runs"][-1]["status"] == "running"
    # the build timeout ends the hung spawn (lowered only now, so it cannot come first)
    cloud.config.build_timeout = 0.5
    await wait_for(cloud, admin, s["id"], "ERROR", timeout=20)
    f = await flow_of(cloud, admin, s["id"])
    assert f["status"] == "failed" and f["current_step"] is None
    assert [st["status"] for st in f["steps"]] == ["done"] * 5 + ["failed"]
    assert "timed out" in f["steps"][5]["fault"]


async def test_a_failed_schedule_is_red_at_step_2(cloud, admin, image):
    await cloud.create_flavor(admin, "huge", 2, 8192, 1)
    s = (await cloud.create_server(admin, "vm", image, "huge"))[0]
    await wait_for(cloud, admin, s["id"], "ERROR")
    await settle(cloud)
    f = await flow_of(cloud, admin, s["id"])
    assert f["status"] == "failed" and f["fault"].startswith("No valid host was found")
    assert [st["status"] for st in f["steps"]] == ["done", "failed", "skipped", "skipped", "skipped", "skipped"]
    assert f["steps"][1]["fault"] == f["fault"]
    assert states(f["steps"][1])[-1] == ("error", None, NOSTATE)
    assert all(st["fault"] is None for st in f["steps"] if st["number"] != 2)


# fake-1 the roomiest, so the weighers pick it first and the reschedule goes elsewhere
HOSTS = """
hosts:
  - {name: fake-1, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80}
  - {name: fake-2, address: 127.0.0.1, driver: fake, vcpus: 4, memory_mb: 4096, disk_gb: 40}
  - {name: fake-3, address: 127.0.0.1, driver: fake, vcpus: 4, memory_mb: 4096, disk_gb: 40}
"""


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, HOSTS)


async def test_a_reschedule_shows_both_attempts(cloud, admin, image):
    FakeDriver.behaviours["fake-1"] = FakeBehaviour(fail_spawns=1, fail_message="disk on fire")
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    await settle(cloud)
    assert s["host"] != "fake-1"
    f = await flow_of(cloud, admin, s["id"])
    assert f["status"] == "done" and [st["status"] for st in f["steps"]] == ["done"] * 6
    boot = f["steps"][5]
    assert [(r["attempt"], r["host"], r["status"]) for r in boot["runs"]] == \
        [(1, "fake-1", "failed"), (2, s["host"], "done")]
    assert "disk on fire" in boot["runs"][0]["fault"]
    assert [r["attempt"] for r in f["steps"][2]["runs"]] == [1, 2]  # a new port on the next host
    assert any(m["step"] == "reschedule" for m in f["steps"][1]["messages"])
    assert f"compute.{s['host']}" in f["steps"][1]["queues"]


async def test_members_see_no_host_names(cloud, admin, image):
    await cloud.create_user(admin, "alice", "pw-alice", default_project="admin")
    await cloud.grant_role(admin, "admin", "alice", "member")
    alice = (await cloud.login("alice", "pw-alice", "admin"))["token"]
    s = (await cloud.create_server(alice, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, alice, s["id"], "ACTIVE")
    await settle(cloud)
    f = await flow_of(cloud, alice, s["id"])
    assert f["token"]["user"] == "alice" and "member" in f["token"]["roles"]
    assert "admin" not in f["token"]["roles"]
    assert not any(h in repr(f) for h in ("fake-1", "fake-2", "fake-3"))


def test_the_grouping_is_pure():
    """Cloud.flow_of is the same grouping over views a client already holds."""
    f = Cloud.flow_of(None, [], [], now=0.0)
    assert f["status"] == "pending" and [st["status"] for st in f["steps"]] == ["pending"] * 6
