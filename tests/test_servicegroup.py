"""'A host is up' is one rule (backend/core/servicegroup.py) for the compute API, the
conductor, the scheduler and the hypervisor views."""
from __future__ import annotations

import pytest

from backend.core import servicegroup
from backend.core.config import Config
from pollhelp import apoll


def node(last_heartbeat, down_reason=None):
    return {"last_heartbeat": last_heartbeat, "down_reason": down_reason}


def test_up_only_with_a_recent_clean_heartbeat():
    c = Config(service_down_time=30)
    assert servicegroup.is_up(node(1000.0), c, now=1029.9)
    assert servicegroup.down_reason(node(1000.0), c, now=1030.0) == "no heartbeat for 30 s"
    assert servicegroup.down_reason(node(None), c, now=1000.0) == "never reported"
    assert servicegroup.down_reason(node(1000.0, "host lab-1 does not answer"), c, now=1000.0) == \
        "host lab-1 does not answer"


async def test_every_reader_agrees_when_a_heartbeat_goes_stale(cloud):
    """The scheduler's host state, the hypervisor view, the conductor's alternates and the
    compute API's action check all call a host down once its heartbeat is older than
    service_down_time. (No await in between: the periodic heartbeat cannot refresh it.)"""
    from backend.core import db as dbm
    from backend.core.errors import Conflict
    rt = cloud.rt
    host = next(iter(rt.computes))
    rt.db.conn.execute("UPDATE compute_nodes SET last_heartbeat=last_heartbeat-? WHERE host=?",
                       (rt.config.service_down_time + 1, host))
    hs = {h.name: h for h in rt.scheduler.host_states()}[host]
    assert not hs.up and hs.down_reason.startswith("no heartbeat for")
    hv = rt.compute_api.hypervisor_view(dbm.row(rt.db, "SELECT * FROM compute_nodes WHERE host=?", (host,)), {})
    assert hv["state"] == "down" and hv["down_reason"] == hs.down_reason
    assert not rt.conductor._host_up(host)
    with pytest.raises(Conflict, match=f"compute host {host} is down"):
        rt.compute_api._host_must_be_up(host, "stop")


# ---- a process's hosts report in one message (backend/compute/host_reports.py) ------------------

async def _until(check, what: str, timeout: float = 10.0):
    return await apoll(what, check, timeout, interval=0.02)


def _spy(obj, names):
    """Record the calls the bus makes to obj's methods (it looks them up at each call)."""
    calls = []
    for name in names:
        real = getattr(obj, name)

        async def spy(ctx, *a, _real=real, _name=name, **kw):
            calls.append((_name, kw))
            return await _real(ctx, *a, **kw)
        setattr(obj, name, spy)
    return calls


async def test_a_process_sends_its_hosts_heartbeats_and_power_sync_reads_in_one_message(cloud, admin, image):
    """Each report_interval one service_heartbeats message carries every host of the process
    (not one message per host), and each power sync reads the instances of all the hosts
    in one instances_on_hosts call (not two per host)."""
    from cloudhelp import wait_for
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    hosts = sorted(cloud.rt.computes)
    calls = _spy(cloud.rt.conductor, ["service_heartbeat", "service_heartbeats", "instances_on_host",
                                      "instances_on_hosts", "live_uuids_on_host"])
    await _until(lambda: sum(n == "service_heartbeats" for n, _ in calls) >= 3
                 and sum(n == "instances_on_hosts" for n, _ in calls) >= 3, "three rounds of each")
    names = {n for n, _ in calls}
    assert names == {"service_heartbeats", "instances_on_hosts"}, names
    for n, kw in calls:
        if n == "service_heartbeats":
            assert sorted(r["host"] for r in kw["reports"]) == hosts
            assert all(r["up"] and r["reason"] is None for r in kw["reports"])
        else:
            assert sorted(kw["hosts"]) == hosts


async def test_a_hung_host_probe_does_not_hold_the_other_hosts_heartbeats(cloud):
    """fake-1's probe hangs (a cut link not yet found dead): the other hosts of the process
    keep reporting each interval, fake-1's heartbeat ages until it is down, and nothing
    else is."""
    from backend.core import db as dbm
    from backend.virt.fake import FakeBehaviour, FakeDriver
    rt = cloud.rt

    def beats():
        return {r["host"]: r["last_heartbeat"] for r in dbm.rows(rt.db, "SELECT host, last_heartbeat FROM"
                                                                        " compute_nodes")}
    FakeDriver.behaviours["fake-1"] = cut = FakeBehaviour(partition_detect=60.0)
    cut.partitioned.set()
    first = beats()
    # the probe in flight when the link was cut may still report once: wait for fake-1 to stop
    await _until(lambda: beats()["fake-2"] > first["fake-1"] + 4 * rt.config.heartbeat_interval,
                 "fake-2 reporting on")
    stalled = beats()["fake-1"]
    await _until(lambda: beats()["fake-3"] > stalled + 4 * rt.config.heartbeat_interval, "fake-3 reporting on")
    assert beats()["fake-1"] == stalled
    hs = await _until(lambda: [h for h in rt.scheduler.host_states() if not h.up], "fake-1 down",
                      timeout=rt.config.service_down_time + 10)
    assert [(h.name, h.down_reason) for h in hs] == [("fake-1", f"no heartbeat for {rt.config.service_down_time:g} s")]


async def test_the_conductor_saves_a_batch_of_reports_and_publishes_only_changes(cloud):
    """A host that reports up again costs its heartbeat only; a host found down, or one
    reporting capabilities, is saved and published as a host event."""
    from backend.core import db as dbm
    from backend.core.context import RequestContext
    rt = cloud.rt
    events = []
    unsubscribe = rt.events.subscribe(lambda e: events.append(e) if e.get("type") == "host" else None)
    try:
        before = {r["host"]: r for r in dbm.rows(rt.db, "SELECT * FROM compute_nodes")}
        caps = {"vcpus": 7, "memory_mb": 7000, "disk_gb": 70, "hypervisor_type": "fake",
                "hypervisor_version": "2.0", "cpu_arch": "x86_64", "accelerator": "none"}
        # no await between the call and the reads: the periodic heartbeat cannot interleave
        await rt.conductor.service_heartbeats(RequestContext.system(), reports=[
            {"host": "fake-1", "up": True, "reason": None, "caps": None},
            {"host": "fake-2", "up": False, "reason": "host fake-2 does not answer", "caps": None},
            {"host": "fake-3", "up": True, "reason": None, "caps": caps}])
        after = {r["host"]: r for r in dbm.rows(rt.db, "SELECT * FROM compute_nodes")}
        seen = [e["host"] for e in events]
    finally:
        unsubscribe()
    assert after["fake-1"]["last_heartbeat"] > before["fake-1"]["last_heartbeat"]
    assert after["fake-1"]["down_reason"] is None
    assert after["fake-2"]["down_reason"] == "host fake-2 does not answer"
    assert after["fake-2"]["last_heartbeat"] == before["fake-2"]["last_heartbeat"]
    assert (after["fake-3"]["vcpus"], after["fake-3"]["memory_mb"], after["fake-3"]["hypervisor_version"]) == \
        (7, 7000, "2.0")
    assert seen == [{"name": "fake-2", "state": "down", "down_reason": "host fake-2 does not answer"},
                    {"name": "fake-3", "state": "up", "down_reason": None}]
    states = {h.name: h for h in rt.scheduler.host_states()}
    assert not states["fake-2"].up and states["fake-2"].down_reason == "host fake-2 does not answer"


async def test_the_schedulers_host_states_follow_every_change_between_decisions(cloud):
    """The scheduler keeps the HostStates it built and builds a host's again only when its
    row changed: a claim, a disabled host, a heartbeat gone stale and one come back are all
    seen at the next decision; unchanged hosts keep their HostState."""
    rt = cloud.rt
    sdt = rt.config.service_down_time
    first = {h.name: h for h in rt.scheduler.host_states()}
    assert all(h.up and h.enabled for h in first.values())
    # no await from here on: the periodic heartbeat cannot refresh what is changed
    rt.db.conn.execute("UPDATE compute_nodes SET vcpus_used=vcpus_used+3 WHERE host='fake-1'")
    rt.db.conn.execute("UPDATE compute_nodes SET disabled=1, disabled_reason='maintenance' WHERE host='fake-2'")
    rt.db.conn.execute("UPDATE compute_nodes SET last_heartbeat=last_heartbeat-? WHERE host='fake-3'", (sdt + 1,))
    second = {h.name: h for h in rt.scheduler.host_states()}
    assert second["fake-1"].vcpus_used == first["fake-1"].vcpus_used + 3 and second["fake-1"].up
    assert not second["fake-2"].enabled and second["fake-2"].down_reason == "maintenance"
    assert not second["fake-3"].up and second["fake-3"].down_reason == f"no heartbeat for {sdt:g} s"
    third = {h.name: h for h in rt.scheduler.host_states()}
    assert all(third[n] is second[n] for n in third)  # nothing changed: nothing built again
    rt.db.conn.execute("UPDATE compute_nodes SET last_heartbeat=last_heartbeat+? WHERE host='fake-3'", (sdt + 1,))
    fourth = {h.name: h for h in rt.scheduler.host_states()}
    assert fourth["fake-3"].up and fourth["fake-3"].down_reason is None
    assert fourth["fake-1"] is second["fake-1"]


async def test_the_schedulers_step_records_the_hosts_it_considered_and_the_cpu_it_took(cloud, admin, image):
    """The scheduler's trace step says how many hosts it read and the CPU the decision took
    (its wall time counts waits for a core too): what bench/cluster_scale.py reports."""
    import re
    from cloudhelp import wait_for
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    cloud.rt.tracer.flush()
    ends = [t for t in await cloud.get_trace(admin, s["id"])
            if t["service"] == "scheduler" and t["step"] == "filter and weigh" and t["phase"] == "end"]
    assert len(ends) == 1 and re.fullmatch(r"3 hosts, \d+\.\d\d ms CPU", ends[0]["detail"]), ends


async def test_a_batched_power_sync_looks_again_before_it_stops_a_guest_it_listed_too_early(cloud, admin, image):
    """In a batch every host's guests are listed before one read of all their instances, so
    a build that ended between the two (while a slow host was still listing) is ACTIVE in the
    read but missing from the list: the guest is listed again before anything is changed."""
    from backend.core.context import RequestContext
    from cloudhelp import wait_for
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    cm = cloud.rt.computes[s["host"]]
    known = (await cloud.rt.conductor.instances_on_hosts(RequestContext.system(), hosts=[cm.host]))[cm.host]
    assert [k["uuid"] for k in known] == [s["id"]]
    await cm.sync_power_states(RequestContext.system(), actual={}, known=known)  # listed before it spawned
    assert (await cloud.get_server(admin, s["id"]))["status"] == "ACTIVE"
    # a guest that really is gone is still found so
    cm.driver.guests.pop(s["id"])
    await cm.sync_power_states(RequestContext.system(), actual={}, known=known)
    assert (await cloud.get_server(admin, s["id"]))["status"] == "SHUTOFF"
