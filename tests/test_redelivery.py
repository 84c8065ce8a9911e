"""At-least-once delivery (docs/broker.md): a message whose server died before its ack (a
SIGKILLed process, a channel lost with the broker) is delivered again, to another process,
which runs the method a second time. Each test sends the same message twice through the bus,
as the broker's redelivery does, and checks the second copy takes up what the first made (or
does nothing) instead of making it again, undoing it or refusing it."""
from __future__ import annotations

import asyncio

from backend.compute.manager import BUILD_EVENT
from backend.core import db as dbm
from backend.core.context import RequestContext
from backend.virt.fake import FakeBehaviour, FakeDriver
from cloudhelp import settle, wait_for, wait_task
from pollhelp import apoll


async def _until(fn, what, timeout=10.0):
    return await apoll(what, fn, timeout)


def _count(rt, sql, *args):
    return dbm.row(rt.db, sql, args)["c"]


def _create_ctx(rt, uuid):
    """The context the build's messages carry: the create's request id."""
    a = dbm.row(rt.db, "SELECT request_id FROM instance_actions WHERE instance_uuid=? AND action='create'", (uuid,))
    return RequestContext.system().with_request_id(a["request_id"])


def _events(rt, uuid):
    return _count(rt, "SELECT count(*) c FROM instance_action_events e JOIN instance_actions a"
                      " ON a.id=e.action_id WHERE a.instance_uuid=?", uuid)


def _hold(stage=None, spawn=None):
    for h in ("fake-1", "fake-2", "fake-3"):
        FakeDriver.behaviours[h] = (FakeBehaviour(spawn_latency=spawn) if spawn else
                                    FakeBehaviour(stage_latency={stage: 30}))


async def test_a_build_delivered_again_after_it_ended_leaves_the_server_alone(cloud, admin, image):
    """A compute process killed after its build ran but before its ack: the restarted process
    gets the build again. It must not clean up (destroy the guest, delete the ports) of a
    server that is ACTIVE."""
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    ports = [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})]
    events = _events(rt, s["id"])
    rt.bus.cast(_create_ctx(rt, s["id"]), f"compute.{s['host']}", "build_and_run_instance",
                instance_uuid=s["id"], alternates=[], attempt=1)
    await settle(cloud)
    after = await cloud.get_server(admin, s["id"])
    assert (after["status"], after["host"]) == ("ACTIVE", s["host"])
    assert [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})] == ports
    assert s["id"] in await rt.computes[s["host"]].driver.list_instances()
    assert _count(rt, "SELECT count(*) c FROM claims WHERE instance_uuid=?", s["id"]) == 1
    assert _events(rt, s["id"]) == events


async def test_a_build_cast_to_a_host_the_build_left_is_not_run(cloud, admin, image):
    """The copy of an earlier attempt's cast (its host's process died; the build went on
    elsewhere): it neither claims the build for its host nor releases what the build holds."""
    rt = cloud.rt
    _hold(spawn=30)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_task(cloud, admin, s["id"], "spawning")
    host = rt.store.get(s["id"])["host"]
    other = next(h for h in ("fake-1", "fake-2", "fake-3") if h != host)
    ports = [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})]
    events = _events(rt, s["id"])
    await rt.computes[other].build_and_run_instance(_create_ctx(rt, s["id"]), s["id"], [], attempt=1)
    r = rt.store.get(s["id"])
    assert (r["vm_state"], r["task_state"], r["host"]) == ("building", "spawning", host)
    assert [c["host"] for c in dbm.rows(rt.db, "SELECT host FROM claims WHERE instance_uuid=?", (s["id"],))] == [host]
    assert [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})] == ports
    assert _events(rt, s["id"]) == events


async def test_a_build_step_delivered_again_is_taken_as_made(cloud, admin, image):
    """A conductor killed (or its channel lost) after committing a build step, before its ack:
    the copy another conductor runs finds the step made. It answers as the step did, adds no
    event, and does not refuse it as a state mismatch (which the host takes for a delete and
    cleans the build up)."""
    rt = cloud.rt
    _hold(spawn=30)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_task(cloud, admin, s["id"], "spawning")
    host = rt.store.get(s["id"])["host"]
    ctx = _create_ctx(rt, s["id"])
    step = dict(instance_uuid=s["id"], host=host, finish="compute_spawn", finish_after=BUILD_EVENT,
                updates=[{"expected_task_state": "spawning", "vm_state": "active", "task_state": None,
                          "power_state": 1, "launched": True}])
    await rt.bus.call(ctx, "conductor", "build_progress", **step)
    events = _events(rt, s["id"])
    await rt.bus.call(ctx, "conductor", "build_progress", **step)
    assert _events(rt, s["id"]) == events
    assert rt.store.get(s["id"])["vm_state"] == "active"


async def test_a_claim_delivered_again_is_taken_as_made(cloud, admin, image):
    rt = cloud.rt
    _hold(stage="scheduling")  # the claim is made, the build waits in scheduling
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_task(cloud, admin, s["id"], "scheduling")
    host = await _until(lambda: rt.store.get(s["id"])["host"], "the claim's host")
    ctx = _create_ctx(rt, s["id"])
    claim = dict(instance_uuid=s["id"], host=host, start="compute_allocate_network",
                 updates=[{"expected_task_state": "scheduling", "task_state": None},
                          {"expected_task_state": None, "task_state": "networking"}])
    first = await rt.bus.call(ctx, "conductor", "instance_claim", **claim)
    events = _events(rt, s["id"])
    again = await rt.bus.call(ctx, "conductor", "instance_claim", **claim)
    assert "aborted" not in again and "aborted" not in first
    assert (again["host"], again["task_state"]) == (host, "networking")
    assert _events(rt, s["id"]) == events
    assert _count(rt, "SELECT count(*) c FROM claims WHERE instance_uuid=?", s["id"]) == 1


async def test_a_state_save_delivered_again_answers_the_saved_row(cloud, admin, image):
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    rt.store.update(s["id"], task_state="rebooting")
    ctx = RequestContext.system()
    save = dict(instance_uuid=s["id"], expected_task_state="rebooting", task_state="reboot_pending")
    await rt.bus.call(ctx, "conductor", "instance_update", **save)
    again = await rt.bus.call(ctx, "conductor", "instance_update", **save)
    assert again["task_state"] == "reboot_pending"


async def test_a_build_failure_delivered_twice_counts_one_attempt(cloud, admin, image):
    """build_failed again: one attempt recorded, one failed build counted against the host,
    one reschedule (not the build cast twice, nor the rescheduled build's host taken back)."""
    rt = cloud.rt
    _hold(spawn=30)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_task(cloud, admin, s["id"], "spawning")
    host = rt.store.get(s["id"])["host"]
    others = [h for h in ("fake-1", "fake-2", "fake-3") if h != host]
    ctx = _create_ctx(rt, s["id"])
    failed = dict(instance_uuid=s["id"], host=host, reason="DriverError: boom", reschedulable=True,
                  alternates=others, attempt=1)
    await rt.bus.call(ctx, "conductor", "build_failed", **failed)
    await wait_task(cloud, admin, s["id"], "spawning")  # on the alternate now
    moved = rt.store.get(s["id"])["host"]
    await rt.bus.call(ctx, "conductor", "build_failed", **failed)
    r = rt.store.get(s["id"])
    assert [a["host"] for a in dbm.jload(r["attempts"], [])] == [host]
    assert (r["task_state"], r["host"]) == ("spawning", moved)
    assert _count(rt, "SELECT failed_builds c FROM compute_nodes WHERE host=?", host) == 1


async def test_a_boot_volume_asked_twice_is_made_once(cloud, admin, image):
    rt = cloud.rt
    ctx = RequestContext.system()
    project = dbm.row(rt.db, "SELECT id FROM projects WHERE name='admin'")["id"]
    ask = dict(instance_uuid="inst-1", project_id=project, size=1, image_id=image, host="fake-1")
    first = await rt.bus.call(ctx, "volume", "create_boot_volume", **ask)
    again = await rt.bus.call(ctx, "volume", "create_boot_volume", **ask)
    assert again == first
    assert _count(rt, "SELECT count(*) c FROM volumes WHERE attached_to='inst-1'") == 1
    # a build on another host (a reschedule) gets a volume of its own there
    elsewhere = await rt.bus.call(ctx, "volume", "create_boot_volume", **dict(ask, host="fake-2"))
    assert elsewhere != first


async def test_a_power_state_change_delivered_twice_is_synced_once(cloud, admin, image):
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    ctx = RequestContext.system()
    change = dict(instance_uuid=s["id"], host=s["host"], old=1, new=4, vm_state="active")
    await rt.bus.call(ctx, "conductor", "power_state_changed", **change)
    await rt.bus.call(ctx, "conductor", "power_state_changed", **change)
    assert _count(rt, "SELECT count(*) c FROM instance_actions WHERE instance_uuid=? AND action='stop'", s["id"]) == 1
    assert rt.store.get(s["id"])["vm_state"] == "stopped"


async def test_an_event_start_delivered_twice_opens_one_event(cloud, admin, image):
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    ctx = _create_ctx(rt, s["id"])
    for _ in range(2):
        await rt.bus.call(ctx, "conductor", "event_start", instance_uuid=s["id"], event="compute_x", host=s["host"])
    assert _count(rt, "SELECT count(*) c FROM instance_action_events WHERE event='compute_x'") == 1


async def test_a_fault_delivered_twice_is_recorded_once(cloud, admin, image):
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    ctx = RequestContext.system()
    for method in ("instance_fault", "instance_error"):
        for _ in range(2):
            await rt.bus.call(ctx, "conductor", method, instance_uuid=s["id"], host=s["host"], message=f"{method} x")
        assert _count(rt, "SELECT count(*) c FROM instance_faults WHERE message=?", f"{method} x") == 1


async def test_a_failed_attempts_cleanup_delivered_again_leaves_the_next_attempt_alone(cloud, admin, image):
    """A failed attempt's cleanup on host X releases only what is bound to X: a copy of its
    calls delivered again once the build was rescheduled and went on on Y releases nothing of
    Y's ports or claim."""
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    x = next(h for h in ("fake-1", "fake-2", "fake-3") if h != s["host"])
    ports = [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})]
    ctx = _create_ctx(rt, s["id"])
    for _ in range(2):  # as compute x's cleanup sends them
        await rt.bus.call(ctx, "network", "deallocate_for_instance", instance_uuid=s["id"], host=x)
        assert await rt.bus.call(ctx, "volume", "release_for_instance", instance_uuid=s["id"], host=x) == []
        await rt.bus.call(ctx, "conductor", "instance_release", instance_uuid=s["id"], host=x)
    assert [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})] == ports
    assert _count(rt, "SELECT count(*) c FROM claims WHERE instance_uuid=? AND host=?", s["id"], s["host"]) == 1


async def test_a_stop_delivered_again_after_a_start_does_not_undo_it(cloud, admin, image):
    """The host's process died after a stop ran, before its ack; the user started the server
    meanwhile. The stop's copy finds the instance past powering-off: it does nothing."""
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    await cloud.stop_server(admin, s["id"])
    await wait_for(cloud, admin, s["id"], "SHUTOFF")
    await cloud.start_server(admin, s["id"])
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    stop = dbm.row(rt.db, "SELECT request_id FROM instance_actions WHERE instance_uuid=? AND action='stop'", (s["id"],))
    events = _events(rt, s["id"])
    rt.bus.cast(RequestContext.system().with_request_id(stop["request_id"]), f"compute.{s['host']}",
                "stop_instance", instance_uuid=s["id"])
    await settle(cloud)
    after = await cloud.get_server(admin, s["id"])
    assert (after["status"], after["power_state"]) == ("ACTIVE", 1)
    assert _events(rt, s["id"]) == events
    assert not _count(rt, "SELECT count(*) c FROM instance_faults WHERE instance_uuid=?", s["id"])


async def test_a_reboot_left_in_a_step_goes_on_from_it(cloud, admin, image):
    """A reboot whose first copy died after saving reboot_pending: the copy goes on from there
    (not refused as a state mismatch, which left a fault)."""
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    rt.store.update(s["id"], task_state="reboot_pending")
    await rt.computes[s["host"]].reboot_instance(_create_ctx(rt, s["id"]), s["id"], "SOFT")
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    assert not _count(rt, "SELECT count(*) c FROM instance_faults WHERE instance_uuid=?", s["id"])


async def test_an_end_of_task_delivered_again_leaves_the_next_action_alone(cloud, admin, image):
    """end_task's first copy ended a stop and its reply went out; the user started the server;
    the copy another conductor runs must not end the start (nor make the server stopped)."""
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    ctx = RequestContext.system()
    end = dict(instance_uuid=s["id"], tasks=["powering-off"], vm_state="stopped", power_state=4)
    rt.store.update(s["id"], task_state="powering-off")
    await rt.bus.call(ctx, "conductor", "end_task", **end)
    rt.store.update(s["id"], task_state="powering-on")  # the start the user asked for next
    await rt.bus.call(ctx, "conductor", "end_task", **end)
    r = rt.store.get(s["id"])
    assert (r["vm_state"], r["task_state"]) == ("stopped", "powering-on")


async def test_a_cut_builds_cleanup_delivered_again_leaves_the_resumed_build_alone(cloud, admin, image):
    """Recovery asks a host to clean up a cut build, then resumes it. A copy of that call run
    after the resumed build went on (on another host, or on this one) removes nothing of it."""
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    x = next(h for h in ("fake-1", "fake-2", "fake-3") if h != s["host"])
    ports = [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})]
    ctx = _create_ctx(rt, s["id"])
    for host in (x, s["host"]):
        await rt.bus.call(ctx, f"compute.{host}", "cleanup_build", instance_uuid=s["id"])
    assert [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})] == ports
    assert s["id"] in await rt.computes[s["host"]].driver.list_instances()
    assert _count(rt, "SELECT count(*) c FROM claims WHERE instance_uuid=?", s["id"]) == 1


async def test_a_build_cast_delivered_again_after_its_host_was_lost_is_not_run(cloud, admin, image):
    """The conductor took the build from its lost host (host cleared, the reschedule to come):
    the host's process, back and given its build again, neither claims it nor cleans it up."""
    rt = cloud.rt
    _hold(spawn=30)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_task(cloud, admin, s["id"], "spawning")
    host = rt.store.get(s["id"])["host"]
    ports = [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})]
    rt.computes[host].abort_build(s["id"])  # its process died
    dbm.update_returning(rt.db, "instances", s["id"], {"host": None}, " AND vm_state='building'")  # as host_lost
    await rt.computes[host].build_and_run_instance(_create_ctx(rt, s["id"]), s["id"], [], attempt=1)
    r = rt.store.get(s["id"])
    assert (r["vm_state"], r["task_state"], r["host"]) == ("building", "spawning", None)
    assert [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})] == ports


async def test_a_build_cast_cut_in_scheduling_and_delivered_again_leaves_no_event_open(cloud, admin, image):
    """build_instances' first copy began its event, then its process died before the decision
    was saved: the copy schedules the build and takes that event up (it ends with the
    decision), instead of starting a second and leaving the first open for ever."""
    rt = cloud.rt
    ev = "conductor_schedule_and_build_instances"
    select = rt.conductor.scheduler_api.select_destinations
    cut = {}

    async def held(ctx, **kw):  # the first copy waits here until its "process" dies
        cut.update(task=asyncio.current_task(), ctx=ctx, kw=kw)
        await asyncio.Event().wait()
    rt.conductor.scheduler_api.select_destinations = held
    try:
        s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
        await _until(lambda: "task" in cut, "the first copy in scheduling")
        cut["task"].cancel()
        await _until(lambda: cut["task"].done(), "the first copy cut")
    finally:
        rt.conductor.scheduler_api.select_destinations = select
    assert _count(rt, "SELECT count(*) c FROM instance_action_events WHERE event=? AND finish_time IS NULL", ev) == 1
    kw = cut["kw"]
    rt.bus.cast(cut["ctx"], "conductor", "build_instances", instance_uuids=kw["instance_uuids"],
                request_spec=kw["request_spec"], instance_uuid=kw["instance_uuid"])
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    events = dbm.rows(rt.db, "SELECT result, finish_time FROM instance_action_events WHERE event=?", (ev,))
    assert [e["result"] for e in events] == ["Success"] and events[0]["finish_time"]


async def test_a_volume_release_delivered_again_names_the_boot_volume_it_deleted(cloud, admin, image):
    """release_for_instance's first copy deleted the boot volume's row, and its reply (the
    ids whose files go) was lost: the copy names that volume again, so the host that asked
    removes its file (before, the copy answered [] and the file stayed on the host)."""
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano",
                                                                boot_volume_size=1))[0]["id"], "ACTIVE")
    vid = rt.store.get(s["id"])["boot_volume_id"]
    driver = rt.computes[s["host"]].driver
    assert vid in driver.volumes
    ctx = _create_ctx(rt, s["id"])
    first = await rt.bus.call(ctx, "volume", "release_for_instance", instance_uuid=s["id"], host=s["host"])
    again = await rt.bus.call(ctx, "volume", "release_for_instance", instance_uuid=s["id"], host=s["host"])
    assert first == again == [vid]
    # the delete's cleanup sends it once more (the first copy's reply never reached it)
    await cloud.delete_server(admin, s["id"])
    await _until(lambda: rt.store.get(s["id"])["deleted"], "the delete")
    assert vid not in driver.volumes


async def test_a_first_volume_attach_delivered_again_keeps_the_attached_file(cloud, admin, image, monkeypatch):
    """attach_volume of a volume's first attach (create): its process died after attaching,
    before its reply. The copy finds the guest has the volume: it does not make the file
    again over the guest's disk (the guest's data), and answers the attach as made."""
    rt = cloud.rt
    s = await wait_for(cloud, admin, (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]["id"], "ACTIVE")
    v = await cloud.create_volume(admin, 1, "data")
    att = await cloud.attach_volume(admin, s["id"], v["id"])
    driver = rt.computes[s["host"]].driver
    made = []
    create = driver.create_volume

    async def counted(volume_id, *a, **kw):
        made.append(volume_id)
        return await create(volume_id, *a, **kw)
    monkeypatch.setattr(driver, "create_volume", counted)
    ctx = RequestContext.system()
    await rt.bus.call(ctx, f"compute.{s['host']}", "attach_volume", instance_uuid=s["id"], volume_id=v["id"],
                      size_gb=1, device=att["device"], create=True, image_id=None)
    assert made == []
    assert [x["volume_id"] for x in driver.guests[s["id"]].spec.volumes] == [v["id"]]
    assert v["id"] in driver.volumes
