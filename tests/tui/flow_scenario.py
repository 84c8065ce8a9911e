"""A create as the backend records it (every bus message, state change and action event, in
the order tests/test_flow_steps.py sees on a real cloud), for the Flow tab's snapshots: cut at
the moment each of the six steps runs, or ending in a failed schedule. Fixed ids and times."""
from __future__ import annotations

import json
from datetime import timedelta

import tui_scenario as sc
from tui.fake_adapter import NOW, FakeAdapter, iso, server

SID = "00000000-0000-4000-8000-000000000042"
TOKEN = json.dumps({"user": "admin", "project": "admin", "roles": ["admin", "member"],
                    "scoped_at": "2026-11-26T14:58:00.000000Z", "validated_by": "nova-api"})


class Script:
    """Records and action events, appended in order; `cut(name)` marks a moment."""

    def __init__(self, sid: str = SID):
        self.sid, self.rows, self.events, self.marks = sid, [], [], {}
        self.ms = 0.0

    def at(self, ms: float) -> Script:
        self.ms = ms
        return self

    def rec(self, service, kind="step", **kw) -> None:
        self.rows.append(sc._t(len(self.rows) + 1, self.ms, service, kind, sid=self.sid, **kw))

    def call(self, topic, method, took=0.5, state=None) -> None:
        self.rec("queue", "call", topic=topic, method=method)
        if state:
            self.rec("db", "state", detail=state)
        self.ms += took
        self.rec("queue", "reply", topic=topic, method=method, dur=took)

    def mark(self, name, host="compute-1", result=None, details=None) -> None:
        """An action event started (result None) or finished, inside a conductor call."""
        if result is None:
            self.events.append({"event": name, "start_ms": self.ms, "finish_ms": None, "result": None,
                                "host": host, "details": None})
        else:
            e = next(e for e in reversed(self.events) if e["event"] == name)
            e.update(finish_ms=self.ms, result=result, details=details)

    def progress(self, finish=None, states=(), start=None, finish_after=None, took=0.5) -> None:
        """conductor.build_progress: the ended stage's event, the state changes, the next
        stage's event, in one round trip."""
        self.rec("queue", "call", topic="conductor", method="build_progress")
        if finish:
            self.mark(finish, result="Success")
        for st in states:
            self.rec("db", "state", detail=st)
        if start:
            self.mark(start)
        if finish_after:
            self.mark(finish_after, result="Success")
        self.ms += took
        self.rec("queue", "reply", topic="conductor", method="build_progress", dur=took)

    def cut(self, name: str) -> None:
        self.marks[name] = (len(self.rows), len(self.events), self.ms)


def api_part(s: Script) -> None:
    s.at(4).rec("identity", step="token validated", phase="end", dur=4, detail=TOKEN)
    s.at(20).rec("compute-api", step="request checked", phase="end", dur=15,
                 detail="policy, quota, image, flavor, network")
    s.at(30).rec("compute-api", step="instance recorded", phase="end", detail="building/scheduling/NOSTATE")
    s.at(31).rec("queue", "cast", topic="conductor", method="build_instances")
    s.at(33).rec("conductor", step="schedule", phase="start")
    s.cut("schedule")
    s.at(34).rec("queue", "call", topic="scheduler", method="select_destinations")
    s.at(35).rec("scheduler", step="filter and weigh", phase="start")
    s.at(47).rec("scheduler", step="filter and weigh", phase="end", dur=12)
    s.rec("queue", "reply", topic="scheduler", method="select_destinations", dur=13)


def create(sid: str = SID) -> Script:
    s = Script(sid)
    api_part(s)
    s.events.append({"event": "conductor_schedule_and_build_instances", "start_ms": 33, "finish_ms": 48,
                     "result": "Success", "host": None, "details": None})
    s.at(48).rec("conductor", step="schedule", phase="end", dur=15)
    s.at(49).rec("queue", "cast", topic="compute.compute-1", method="build_and_run_instance")
    s.at(50).rec("compute", step="build", phase="start", detail="compute-1")
    s.rec("compute", step="claim", phase="start", detail="compute-1")
    s.cut("claim")
    s.rec("queue", "call", topic="conductor", method="instance_claim")
    s.mark("compute__do_build_and_run_instance")
    s.mark("compute_claim_resources")
    s.ms += 4
    s.mark("compute_claim_resources", result="Success")
    s.rec("queue", "reply", topic="conductor", method="instance_claim", dur=4)
    s.rec("compute", step="claim", phase="end", dur=5, detail="compute-1")
    s.progress(states=("building/None/NOSTATE", "building/networking/NOSTATE"), start="compute_allocate_network")
    s.rec("network", step="allocate ports", phase="start")
    s.cut("network")
    s.call("network", "allocate_for_instance", took=11)
    s.rec("network", step="allocate ports", phase="end", dur=12)
    s.progress(finish="compute_allocate_network", states=("building/block_device_mapping/NOSTATE",),
               start="compute_fetch_image")
    s.rec("image", step="fetch image", phase="start")
    s.cut("image")
    s.call("image", "get_image_file", took=52)
    s.rec("image", step="fetch image", phase="end", dur=53)
    s.progress(finish="compute_fetch_image", start="compute_block_device_mapping")
    s.rec("volume", step="block device mapping", phase="start")
    s.cut("storage")
    s.ms += 8
    s.rec("volume", step="block device mapping", phase="end", dur=8)
    s.progress(finish="compute_block_device_mapping", states=("building/spawning/NOSTATE",), start="compute_spawn")
    s.rec("hypervisor", step="spawn", phase="start", detail="compute-1")
    s.cut("boot")
    s.ms += 117
    s.rec("hypervisor", step="spawn", phase="end", dur=117, detail="compute-1")
    s.progress(finish="compute_spawn", states=("active/None/Running",),
               finish_after="compute__do_build_and_run_instance")
    s.rec("compute", step="build", phase="end", dur=211, detail="compute-1")
    s.cut("done")
    return s


def failed_schedule(sid: str = SID) -> Script:
    s = Script(sid)
    api_part(s)
    s.events.append({"event": "conductor_schedule_and_build_instances", "start_ms": 33, "finish_ms": 48,
                     "result": "Error", "host": None, "details": sc.NO_HOST})
    s.at(48).rec("conductor", step="schedule", phase="end", dur=15)
    s.rec("db", "state", detail="error/None/NOSTATE")
    s.cut("done")
    return s


# the instance's state while each step runs, as the backend has it then
STATE_AT = {"schedule": ("BUILD", "scheduling", None), "claim": ("BUILD", "scheduling", "compute-1"),
            "network": ("BUILD", "networking", "compute-1"), "image": ("BUILD", "block_device_mapping", "compute-1"),
            "storage": ("BUILD", "block_device_mapping", "compute-1"), "boot": ("BUILD", "spawning", "compute-1"),
            "done": ("ACTIVE", None, "compute-1")}


def adapter(moment: str, failed: bool = False) -> FakeAdapter:
    """The scripted cloud with one instance cut at `moment` (the clock 100 ms after it)."""
    s = failed_schedule() if failed else create()
    rows_n, events_n, ms = s.marks[moment]
    ago = ms + 100  # the records' times relative to the fixed clock: now is 100 ms after the cut
    rows = [dict(r, ts=r["ts"] + (60_000 - ago) / 1000) for r in s.rows[:rows_n]]
    t = lambda m: iso(NOW - timedelta(milliseconds=ago - m))  # noqa: E731
    events = [{"event": e["event"], "start_time": t(e["start_ms"]),
               "finish_time": t(e["finish_ms"]) if e["finish_ms"] is not None and e["finish_ms"] <= ms else None,
               "result": e["result"] if e["finish_ms"] is not None and e["finish_ms"] <= ms else None,
               "host": e["host"], "details": e["details"] if e["finish_ms"] is not None else None}
              for e in s.events[:events_n] if e["start_ms"] <= ms]
    a = FakeAdapter()
    if failed:
        srv = server(42, "ERROR", host=None, age_s=1, fault=sc.FAULT, name="big-1")
    else:
        status, task, host = STATE_AT[moment]
        srv = server(42, status, host=host, age_s=1, task=task, name="web-1")
    a.servers = {srv["id"]: srv}
    a.traces = {srv["id"]: rows}
    a.actions = {srv["id"]: [{"action": "create", "instance_uuid": srv["id"], "request_id": "req-0001",
                              "user_id": "u-admin", "project_id": "p-admin", "start_time": t(0),
                              "finish_time": events[-1]["finish_time"] if events else None,
                              "message": "Error" if failed else None, "events": events}]}
    return a
