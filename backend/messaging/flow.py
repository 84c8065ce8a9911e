"""The launch as the seed's six steps: a pure grouping of an instance's trace records and
its 'create' action events into 1 Keystone token, 2 nova-api and the queue to the scheduler,
3 Neutron, 4 storage (block device mapping), 5 Glance, 6 boot.

Input is what the facade already gives (get_server, get_trace, get_instance_action), so a
client holding those views gets the same answer as `Cloud.get_flow`."""
from __future__ import annotations

import json
import time

from backend.core import power_state

STEPS = [(1, "Keystone token"), (2, "nova-api and the queue to the scheduler"), (3, "Neutron (network)"),
         (4, "storage (block device mapping)"), (5, "Glance (image)"), (6, "boot (hypervisor)")]

# (service, step) of a trace 'step' record -> flow step
_STEP_OF = {("identity", "token validated"): 1,
            ("compute-api", "request checked"): 2, ("compute-api", "instance recorded"): 2,
            ("conductor", "schedule"): 2, ("scheduler", "filter and weigh"): 2, ("compute", "claim"): 2,
            ("conductor", "reschedule"): 2,
            ("network", "allocate ports"): 3,
            ("volume", "block device mapping"): 4, ("hypervisor", "create volume"): 4,
            ("image", "fetch image"): 5,
            ("hypervisor", "spawn"): 6, ("network", "plug vifs"): 6}
# a queue message's topic (compute.<host> as 'compute') -> flow step, where the topic says it
_TOPIC_STEP = {"scheduler": 2, "network": 3, "volume": 4, "image": 5}
# (plugging the VIFs is part of the boot, as in nova's spawn: its messages to and from neutron too)
_METHOD_STEP = {("conductor", "build_instances"): 2, ("compute", "build_and_run_instance"): 2,
                ("network", "update_device_up"): 6, ("compute", "external_instance_event"): 6}
# instance-action events of a create -> flow step
EVENT_STEP = {"conductor_schedule_and_build_instances": 2, "compute_claim_resources": 2,
              "compute_allocate_network": 3, "compute_block_device_mapping": 4, "compute_fetch_image": 5,
              "compute_spawn": 6}
# the OpenStack service behind each backend service name and queue topic
SERVICE_NAMES = {"identity": "keystone", "compute-api": "nova-api", "conductor": "nova-conductor",
                 "scheduler": "nova-scheduler", "compute": "nova-compute", "network": "neutron",
                 "volume": "cinder", "image": "glance", "hypervisor": "hypervisor", "db": "nova-db",
                 "queue": "queue"}
_POWER = {name: code for code, name in power_state.NAMES.items()}


def token_detail(ctx) -> str:
    """What step 1 shows of the token a request used: user, project, roles, when it was
    scoped and who validated it. Never the token itself or its hash."""
    return json.dumps({"user": ctx.user_name, "project": ctx.project_name, "roles": list(ctx.roles),
                       "scoped_at": getattr(ctx, "token_issued_at", None), "validated_by": "nova-api"})


def parse_state(detail) -> dict | None:
    """A state record's detail (vm_state/task_state/power name, as the instance store and
    the compute API's first record write it) as a dict."""
    parts = str(detail or "").split("/")
    if len(parts) != 3:
        return None
    vm, task, power = parts
    code = _POWER.get(power)
    if code is None:
        try:
            code = int(power)
        except ValueError:
            return None
    return {"vm_state": vm, "task_state": None if task == "None" else task, "power_state": code}


def _topic_service(topic: str | None) -> str | None:
    return "compute" if topic and topic.startswith("compute.") else topic


def _direct_step(r: dict) -> int | None:
    """The flow step a record names by itself; None for the conductor's bookkeeping calls
    (events, instance updates) and state records, placed by their neighbours."""
    if r.get("kind") == "step":
        return _STEP_OF.get((r.get("service"), r.get("step")))
    if r.get("kind") in ("cast", "call", "reply"):
        svc = _topic_service(r.get("topic"))
        return _METHOD_STEP.get((svc, r.get("method"))) or _TOPIC_STEP.get(svc)
    return None


def _token(r: dict | None) -> dict | None:
    if r is None:
        return None
    out = {"user": None, "project": None, "roles": [], "scoped_at": None, "validated_by": None,
           "validate_ms": r.get("duration_ms"), "detail": None}
    try:
        got = json.loads(r.get("detail") or "")
    except ValueError:
        got = None
    if isinstance(got, dict):
        out.update({k: got.get(k) for k in ("user", "project", "scoped_at", "validated_by")})
        out["roles"] = [str(x) for x in got.get("roles") or []]
    else:  # a record written before the token's details were kept
        out["detail"] = r.get("detail")
    return out


def _create_rows(trace: list[dict], request_id: str | None) -> list[dict]:
    """The create request's records, plus the state records written while it ran (a state
    change does not carry a request id); it ends where the instance leaves 'building' or
    another request begins."""
    rows = sorted(trace, key=lambda r: (r.get("id") is None, r.get("id") or 0, r.get("ts") or 0))
    if request_id is None:
        request_id = next((r.get("request_id") for r in rows if r.get("request_id")), None)
    out, mine = [], False
    for r in rows:
        rid = r.get("request_id")
        if rid == request_id:
            mine = True
            out.append(r)
        elif rid:
            mine = False
        elif mine and r.get("kind") == "state":
            out.append(r)
            st = parse_state(r.get("detail"))
            if st and st["vm_state"] != "building":
                mine = False
    return out


def _assign(rows: list[dict]) -> list[int]:
    """Each record's step: its own when it names one; a bookkeeping call joins the step that
    comes next (the conductor opens a stage's event and sets its task_state just before),
    an event_finish the step before; a reply goes with its call, a state record with the
    call that wrote it."""
    direct = [_direct_step(r) for r in rows]
    out: list[int] = [0] * len(rows)
    prev = 2
    for i, r in enumerate(rows):
        if direct[i] is not None:
            out[i] = prev = direct[i]
            continue
        behind = r.get("kind") == "reply" or r.get("method") in ("event_finish", "build_failed")
        nxt = next((d for d in direct[i + 1:] if d is not None), None)
        out[i] = prev if behind or nxt is None else nxt
        if r.get("kind") == "state" and i:  # written inside the call before it
            out[i] = out[i - 1]
        if r.get("kind") == "reply":  # a reply goes with its call
            call = next((out[j] for j in range(i - 1, -1, -1) if rows[j].get("kind") == "call"
                         and rows[j].get("topic") == r.get("topic") and rows[j].get("method") == r.get("method")),
                        None)
            out[i] = call or out[i]
    return out


def _bounds(r: dict) -> tuple[float, float]:
    ts = float(r.get("ts") or 0)
    if r.get("kind") == "step" and r.get("phase") == "end" and r.get("duration_ms") and \
            (r.get("service"), r.get("step")) in _STEP_OF:  # not the build that spans every step
        return ts - r["duration_ms"] / 1000, ts
    return ts, ts


def build_flow(server: dict | None, trace: list[dict], actions: list[dict], now: float | None = None) -> dict:
    """The six steps of an instance's launch. server: its view (None once deleted); trace:
    get_trace's records; actions: get_instance_action views (the 'create' one is used)."""
    now = time.time() if now is None else now
    create = next((a for a in actions if a.get("action") == "create"), None)
    rows = _create_rows(trace, create.get("request_id") if create else None)
    where = _assign(rows)
    steps = [{"number": n, "title": t, "services": [], "queues": [], "status": "pending", "start": None,
              "offset_ms": None, "duration_ms": None, "states": [], "messages": [], "events": [], "runs": [],
              "fault": None} for n, t in STEPS]
    attempt, hosts = 0, {}
    runs: dict[tuple[int, int], dict] = {}
    opened: dict[tuple, list[dict]] = {}
    token_row = None
    state = None
    entry: dict[int, dict | None] = {}
    for r, n in zip(rows, where):
        if r.get("kind") == "step" and r.get("service") == "compute" and r.get("step") == "build" \
                and r.get("phase") == "start":
            attempt += 1
            hosts[attempt] = r.get("detail")
        st = steps[n - 1]
        if not st["messages"]:
            entry[n] = state  # the state it began in, for a step that changes none
        msg = dict(r, attempt=max(attempt, 1))
        st["messages"].append(msg)
        svc = SERVICE_NAMES.get(_topic_service(r.get("topic")) if r.get("kind") in ("cast", "call") else
                                r.get("service"))
        if svc and svc != "queue" and svc not in st["services"] and r.get("kind") not in ("reply", "state"):
            st["services"].append(svc)
        if r.get("kind") in ("cast", "call") and r.get("topic") and r["topic"] not in st["queues"]:
            st["queues"].append(r["topic"])
        if r.get("kind") == "state" or (r.get("service"), r.get("step")) == ("compute-api", "instance recorded"):
            state = parse_state(r.get("detail")) or state
            if state and (not st["states"] or st["states"][-1] != state):
                st["states"].append(state)
        if (r.get("service"), r.get("step")) == ("identity", "token validated"):
            token_row = r
        lo, hi = _bounds(r)
        run = runs.setdefault((n, max(attempt, 1)), {"attempt": max(attempt, 1), "host": hosts.get(attempt),
                                                      "start": lo, "end": hi, "status": "done", "fault": None,
                                                      "open": 0})
        run["start"], run["end"] = min(run["start"], lo), max(run["end"], hi)
        if r.get("kind") == "step" and n == _STEP_OF.get((r.get("service"), r.get("step"))):
            key = (r.get("service"), r.get("step"))
            if r.get("phase") == "start" and key != ("conductor", "reschedule"):
                opened.setdefault(key, []).append(run)
                run["open"] += 1
            elif r.get("phase") == "end":
                if opened.get(key):
                    opened[key].pop()["open"] -= 1
                if str(r.get("detail") or "").startswith("failed:"):
                    run["status"], run["fault"] = "failed", str(r["detail"])[len("failed:"):].strip()
    for st in steps:
        if not st["states"] and entry.get(st["number"]):
            st["states"].append(entry[st["number"]])
    if token_row is not None and steps[0]["messages"]:
        # identity's record is written after the request check: lay it out before it
        check = next((m for m in steps[1]["messages"] if m.get("step") == "request checked"), None)
        run = runs[(1, 1)]
        if check is not None:
            end = _bounds(check)[0]
            run["start"], run["end"] = end - (token_row.get("duration_ms") or 0) / 1000, end
    for e in (create or {}).get("events") or []:
        n = EVENT_STEP.get(e.get("event"))
        if n:
            steps[n - 1]["events"].append(e)
            if e.get("result") == "Error" and n == 2 and e.get("event") == "conductor_schedule_and_build_instances":
                run = runs.get((2, 1))
                if run:
                    run["status"], run["fault"] = "failed", e.get("details") or "no valid host"
    building = bool(server) and server.get("vm_state") == "building" and server.get("task_state") != "deleting"
    errored = bool(server) and server.get("vm_state") == "error"
    for (n, _), run in sorted(runs.items()):
        if run["open"] > 0 and building:
            run["status"] = "running"
            run["end"] = max(run["end"], now)
        steps[n - 1]["runs"].append({k: run[k] for k in ("attempt", "host", "start", "status", "fault")}
                                    | {"duration_ms": (run["end"] - run["start"]) * 1000})
    last_n = where[-1] if where else None
    current = None
    if building and last_n:
        running = [s["number"] for s in steps if s["runs"] and s["runs"][-1]["status"] == "running"]
        current = running[-1] if running else last_n
    for st in steps:
        if not st["runs"]:  # not reached yet, never needed (no image: boot from volume), or no trace kept
            st["status"] = "pending" if building or not rows and server is None else \
                "unrecorded" if not rows else "skipped"
            continue
        last = st["runs"][-1]
        st["start"] = st["runs"][0]["start"]
        st["duration_ms"] = sum(x["duration_ms"] for x in st["runs"])
        st["status"] = "running" if st["number"] == current else last["status"]
        if st["number"] >= 3 and last["attempt"] < attempt:  # the next host has not got here yet
            st["status"] = "pending" if building else "skipped"
        st["fault"] = last["fault"] if st["status"] == "failed" else None
    fault = ((server or {}).get("fault") or {}).get("message") if errored else None
    if errored:  # the step that ended the build carries the instance's fault
        failed = [s for s in steps if s["status"] == "failed"]
        blamed = max(failed, key=lambda s: s["runs"][-1]["start"]) if failed else \
            steps[last_n - 1] if last_n else None
        for st in [blamed] if blamed else []:
            st["status"], st["fault"] = "failed", fault or st["fault"]
    t0 = min((s["start"] for s in steps if s["start"] is not None), default=None)
    for st in steps:
        if st["start"] is not None:
            st["offset_ms"] = (st["start"] - t0) * 1000
    if token_row is not None:
        steps[0]["services"] = ["keystone", "nova-api"]
    return {"instance_uuid": (server or {}).get("id") or next((r.get("instance_uuid") for r in rows), None),
            "request_id": create.get("request_id") if create else (rows[0].get("request_id") if rows else None),
            "status": "running" if building else "failed" if errored else "done" if rows or server else "pending",
            "current_step": current, "started_at": t0, "token": _token(token_row),
            "state": ({k: server.get(k) for k in ("vm_state", "task_state", "power_state")} if server else None),
            "fault": fault,
            "steps": steps}
