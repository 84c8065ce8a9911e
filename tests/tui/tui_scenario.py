"""A fixed cloud for the snapshot tests: four instances in the main states, a full launch
trace, scheduler decisions (one placed, one with no valid host), actions and a console."""
from __future__ import annotations

from datetime import timedelta

from tui.fake_adapter import NOW, FakeAdapter, iso, server

ACTIVE = "00000000-0000-4000-8000-000000000001"
BUILDING = "00000000-0000-4000-8000-000000000002"
FAILED = "00000000-0000-4000-8000-000000000003"
STOPPED = "00000000-0000-4000-8000-000000000004"

FAULT = {"code": 500, "message": "No valid host was found. There are not enough hosts available.",
         "details": "RamFilter removed compute-1 (768 MB free < 4096 MB); ComputeFilter removed "
                    "compute-3 (service down)", "host": None, "created": iso(NOW - timedelta(seconds=30))}


def _t(i: int, ms: int, service: str, kind: str = "step", step: str | None = None,
       phase: str | None = None, dur: float | None = None, topic=None, method=None, sid=ACTIVE,
       detail=None, ago_ms: int = 60_000) -> dict:
    return {"id": i, "ts": (NOW - timedelta(milliseconds=ago_ms) + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z"),
            "request_id": "req-0001", "instance_uuid": sid, "service": service, "kind": kind,
            "topic": topic, "method": method, "step": step, "phase": phase, "duration_ms": dur,
            "detail": detail}


def launch_trace(sid: str = ACTIVE, running: bool = False) -> list[dict]:
    """The running one started 200 ms before the fixed clock, so the spawn is mid-way."""
    ago = 200 if running else 60_000
    recs = [
        _t(1, 0, "identity", step="validate token", phase="start", sid=sid, ago_ms=ago),
        _t(2, 4, "identity", step="validate token", phase="end", dur=4, sid=sid, ago_ms=ago),
        _t(3, 5, "compute-api", step="create", phase="start", sid=sid, ago_ms=ago),
        _t(4, 30, "compute-api", step="create", phase="end", dur=25, sid=sid, ago_ms=ago),
        _t(5, 31, "queue", kind="cast", topic="conductor", method="build_instances", sid=sid, ago_ms=ago),
        _t(6, 33, "conductor", step="schedule_and_build", phase="start", sid=sid, ago_ms=ago),
        _t(7, 34, "queue", kind="call", topic="scheduler", method="select_destinations", sid=sid, ago_ms=ago),
        _t(8, 35, "scheduler", step="select_destinations", phase="start", sid=sid, ago_ms=ago),
        _t(9, 47, "scheduler", step="select_destinations", phase="end", dur=12, sid=sid, ago_ms=ago,
           detail={"host": "compute-1"}),
        _t(24, 47, "queue", kind="reply", topic="scheduler", method="select_destinations", sid=sid,
           ago_ms=ago, dur=13),
        _t(10, 48, "queue", kind="cast", topic="compute.compute-1", method="build_and_run_instance", sid=sid, ago_ms=ago),
        _t(11, 49, "conductor", step="schedule_and_build", phase="end", dur=16, sid=sid, ago_ms=ago),
        _t(12, 50, "compute", step="networking", phase="start", sid=sid, ago_ms=ago),
        _t(13, 52, "network", step="allocate port", phase="start", sid=sid, ago_ms=ago),
        _t(14, 70, "network", step="allocate port", phase="end", dur=18, sid=sid, ago_ms=ago,
           detail={"ip": "10.0.0.3"}),
        _t(15, 71, "compute", step="networking", phase="end", dur=21, sid=sid, ago_ms=ago),
        _t(16, 72, "compute", step="block_device_mapping", phase="start", sid=sid, ago_ms=ago),
        _t(17, 80, "compute", step="block_device_mapping", phase="end", dur=8, sid=sid, ago_ms=ago),
        _t(18, 81, "compute", step="spawning", phase="start", sid=sid, ago_ms=ago),
        _t(19, 82, "image", step="fetch image", phase="start", sid=sid, ago_ms=ago),
        _t(20, 140, "image", step="fetch image", phase="end", dur=58, sid=sid, ago_ms=ago),
        _t(21, 141, "hypervisor", step="spawn", phase="start", sid=sid, ago_ms=ago),
    ]
    if not running:
        recs += [_t(22, 260, "hypervisor", step="spawn", phase="end", dur=119, sid=sid, ago_ms=ago),
                 _t(23, 262, "compute", step="spawning", phase="end", dur=181, sid=sid, ago_ms=ago)]
    return recs


def placed_decision() -> list[dict]:
    return [{"attempt": 1, "created": iso(NOW - timedelta(seconds=60)),
             "requested": {"vcpus": 1, "memory_mb": 128, "disk_gb": 1, "availability_zone": None},
             "hosts_considered": ["compute-1", "compute-2", "compute-3"],
             "filters": [
                 {"name": "ComputeFilter", "removed": [{"host": "compute-3", "reason": "service is down"}],
                  "remaining": ["compute-1", "compute-2"]},
                 {"name": "AvailabilityZoneFilter", "removed": [], "remaining": ["compute-1", "compute-2"]},
                 {"name": "RamFilter", "removed": [], "remaining": ["compute-1", "compute-2"]}],
             "weights": [{"host": "compute-1", "total": 1.5, "by_weigher": {"RAMWeigher": 1.0, "CPUWeigher": 0.5}},
                         {"host": "compute-2", "total": 0.25, "by_weigher": {"RAMWeigher": 0.0, "CPUWeigher": 0.25}}],
             "selected": "compute-1", "alternates": ["compute-2"], "message": None}]


def no_host_decision() -> list[dict]:
    return [{"attempt": 1, "created": iso(NOW - timedelta(seconds=30)),
             "requested": {"vcpus": 2, "memory_mb": 4096, "disk_gb": 4, "availability_zone": None},
             "hosts_considered": ["compute-1", "compute-2", "compute-3"],
             "filters": [
                 {"name": "ComputeFilter", "removed": [{"host": "compute-3", "reason": "service is down"}],
                  "remaining": ["compute-1", "compute-2"]},
                 {"name": "RamFilter", "removed": [
                     {"host": "compute-1", "reason": "768 MB free < 4096 MB requested"},
                     {"host": "compute-2", "reason": "3584 MB free < 4096 MB requested"}],
                  "remaining": []}],
             "weights": [], "selected": None, "alternates": [],
             "message": "No valid host: ComputeFilter removed 1 (service is down); RamFilter removed 2 (not enough RAM)"}]


def actions(sid: str = ACTIVE) -> list[dict]:
    t = lambda s: iso(NOW - timedelta(seconds=s))  # noqa: E731
    return [{"action": "create", "instance_uuid": sid, "request_id": "req-0001", "user_id": "u-admin",
             "project_id": "p-admin", "start_time": t(60), "finish_time": t(59), "message": None,
             "events": [
                 {"event": "schedule_and_build", "start_time": t(60), "finish_time": t(60), "result": "Success",
                  "host": None, "details": None},
                 {"event": "compute_build_and_run_instance", "start_time": t(60), "finish_time": t(59),
                  "result": "Success", "host": "compute-1", "details": None}]}]


def build() -> FakeAdapter:
    a = FakeAdapter()
    for s in (server(1, "ACTIVE", age_s=3600 * 5, name="web-1"),
              server(2, "BUILD", host="compute-2", age_s=20, task="spawning", name="db-1"),
              server(3, "ERROR", host=None, age_s=30, fault=FAULT, name="big-1"),
              server(4, "SHUTOFF", host="compute-1", age_s=86400 * 2, name="old-1")):
        a.servers[s["id"]] = s
    a.servers[FAILED]["flavor"] = {"id": "3", "name": "m1.medium", "vcpus": 2, "ram": 4096, "disk": 4}
    a.traces = {ACTIVE: launch_trace(), BUILDING: launch_trace(BUILDING, running=True)}
    a.decisions = {ACTIVE: placed_decision(), FAILED: no_host_decision()}
    a.actions = {ACTIVE: actions()}
    a.console = {ACTIVE: "SeaBIOS (version 1.16.2)\nBooting from ROM...\n[    0.000000] Linux version 6.1.0\n"
                         "pocketstack guest web-1 up: 10.0.0.3\nPOCKETSTACK-BOOT-OK\n"}
    return a
