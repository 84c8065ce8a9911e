"""A build taken from its host (the host deemed lost, or the build resumed after a restart)
is fenced: the host's process, should it still run it, is refused at its next step; and a
restart's recovery leaves alone what changed after it began."""
from __future__ import annotations

import pytest

from backend.core import db as dbm
from backend.core.context import RequestContext
from backend.virt.fake import FakeBehaviour, FakeDriver
from cloudhelp import wait_for, wait_task


async def spawning_build(cloud, admin, image):
    """A create held in spawning (every host spawns for 30 s)."""
    for h in ("fake-1", "fake-2", "fake-3"):
        FakeDriver.behaviours[h] = FakeBehaviour(spawn_latency=30)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_task(cloud, admin, s["id"], "spawning")
    return s


async def test_a_step_from_a_host_the_build_was_taken_from_is_refused(cloud, admin, image):
    s = await spawning_build(cloud, admin, image)
    rt = cloud.rt
    host = rt.store.get(s["id"])["host"]
    ctx = RequestContext.system()
    # the conductor takes the build from its host, as host_lost does
    dbm.update_returning(rt.db, "instances", s["id"], {"host": None}, " AND vm_state='building'")
    with pytest.raises(LookupError, match=f"no longer building on {host}"):
        await rt.conductor.build_progress(ctx, s["id"], host=host,
                                          updates=[{"expected_task_state": "spawning", "vm_state": "active",
                                                    "task_state": None}])
    assert rt.store.get(s["id"])["vm_state"] == "building"  # nothing of the step was written


async def test_recovery_leaves_alone_a_build_changed_after_it_began(cloud, admin, image):
    s = await spawning_build(cloud, admin, image)
    rt = cloud.rt
    before = rt.store.get(s["id"])
    cutoff = "2000-01-01T00:00:00.000000Z"  # a recovery that began before this build existed
    await rt.recovery.reconcile(images=False, before=cutoff)
    after = rt.store.get(s["id"])
    assert (after["task_state"], after["host"]) == ("spawning", before["host"])
    # a row read by the recovery but changed before it acted is not taken back either
    stale = dict(before, updated_at="1999-01-01T00:00:00.000000Z")
    await rt.recovery._resume_build(RequestContext.system(), stale)
    after = rt.store.get(s["id"])
    assert (after["task_state"], after["host"]) == ("spawning", before["host"])
    # (a build cut by a real restart is resumed: tests/test_flow.py::test_restart_keeps_states_and_resumes)


def _count(rt, sql, *args):
    return dbm.row(rt.db, sql, args)["c"]


async def test_a_build_no_compute_process_takes_is_rescheduled_and_never_left_in_build(cloud, admin, image):
    """A build cast to a host whose compute process is not running (a cluster started again
    before all of it was back) is a failed attempt that never began: the claim is released and
    the next alternate tried; with none left, ERROR naming why — not BUILD forever."""
    rt = cloud.rt
    for h in ("fake-1", "fake-2"):  # their processes gone: nobody serves their topics
        rt.bus.unregister(f"compute.{h}")
    ids = [(await cloud.create_server(admin, f"vm{i}", image, "m1.nano"))[0]["id"] for i in range(4)]
    for u in ids:
        s = await wait_for(cloud, admin, u, "ACTIVE")
        assert s["host"] == "fake-3"
    # the scheduler spreads by free memory: some builds went to fake-1/fake-2 first
    tried = [a["host"] for u in ids for a in dbm.jload(rt.store.get(u)["attempts"], [])]
    assert set(tried) & {"fake-1", "fake-2"}, tried
    assert _count(rt, "SELECT count(*) c FROM claims WHERE host='fake-3'") == 4
    assert _count(rt, "SELECT count(*) c FROM claims") == 4
    # a failure that never began on the host does not count against it
    assert _count(rt, "SELECT sum(failed_builds) c FROM compute_nodes") == 0

    rt.bus.unregister("compute.fake-3")
    s = (await cloud.create_server(admin, "lost", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ERROR")
    assert "Exceeded maximum number of retries" in s["fault"]["message"]
    assert "did not take the build: no service listens on topic" in s["fault"]["message"]
    assert _count(rt, "SELECT count(*) c FROM claims WHERE instance_uuid=?", s["id"]) == 0
    assert _count(rt, "SELECT count(*) c FROM ports WHERE device_id=?", s["id"]) == 0
