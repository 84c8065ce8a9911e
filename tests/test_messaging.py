"""The seams a broker will need: the request context serialises, the in-process bus can be
told to send every message through JSON, and only the typed clients use the bus."""
from __future__ import annotations

import ast
import json
import pathlib

import pytest

from backend.core.context import RequestContext
from backend.messaging.events import EventHub, Tracer
from backend.messaging.inproc import InProcessBus

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_context_round_trips_through_json_with_every_field():
    ctx = RequestContext("u-1", "alice", "p-1", "demo", ("member", "reader"), "req-abc", validate_ms=1.5,
                         token_issued_at="2026-11-30T15:00:00.000000Z",
                         token_expires_at="2026-11-30T16:00:00.000000Z")
    wire = json.loads(json.dumps(ctx.to_dict()))
    back = RequestContext.from_dict(wire)
    assert back.to_dict() == ctx.to_dict()
    assert back.roles == ("member", "reader") and isinstance(back.roles, tuple)
    assert back.request_id == "req-abc" and back.token_expires_at == "2026-11-30T16:00:00.000000Z"
    assert back.is_admin is False and back.can_write is True
    assert RequestContext.from_dict(RequestContext.system().to_dict()).is_admin


def test_a_context_with_an_unknown_field_is_refused_by_name():
    d = RequestContext("u", "user", "p", "proj").to_dict()
    d["is_admin"] = True  # a sender cannot smuggle in anything that is not a field
    with pytest.raises(ValueError, match="unknown field.*is_admin"):
        RequestContext.from_dict(d)


async def test_a_token_context_carries_its_expiry_across(cloud, admin):
    ctx = cloud.rt.identity.context_for(admin)
    assert ctx.token_expires_at and ctx.token_issued_at and "admin" in ctx.roles
    back = RequestContext.from_dict(json.loads(json.dumps(ctx.to_dict())))
    assert back.to_dict() == ctx.to_dict()


class Endpoint:
    def __init__(self):
        self.got = []

    async def take(self, ctx, value):
        self.got.append((ctx, value))
        return {"echo": value}

    async def give_set(self, ctx):
        return {1, 2}


async def test_the_serialising_bus_sends_what_a_broker_would(tmp_path):
    from backend.core import db as dbm
    bus = InProcessBus(Tracer(dbm.open_db(tmp_path / "q.db"), EventHub()), serialize=True)
    ep = Endpoint()
    bus.register("ep", ep)
    ctx = RequestContext("u", "user", "p", "proj", ("member",), token_expires_at="2026-11-30T16:00:00Z")
    assert await bus.call(ctx, "ep", "take", value=("a", 1)) == {"echo": ["a", 1]}
    got_ctx, got = ep.got[0]
    assert got == ["a", 1]  # a tuple arrives as a list, as over JSON
    assert got_ctx is not ctx and got_ctx.to_dict() == ctx.to_dict()
    with pytest.raises(TypeError, match=r"argument 'value' of ep.take cannot cross the bus"):
        bus.cast(ctx, "ep", "take", value=object())
    with pytest.raises(TypeError, match=r"argument 'value' of ep.take cannot cross the bus"):
        await bus.call(ctx, "ep", "take", value=float("nan"))
    with pytest.raises(TypeError, match=r"the reply of ep.give_set cannot cross the bus"):
        await bus.call(ctx, "ep", "give_set")
    assert len(ep.got) == 1  # nothing refused was delivered


def _bus_users():
    """(file, line) of every bus.call/bus.cast outside the bus and the typed clients."""
    out = []
    for p in (ROOT / "backend").rglob("*.py"):
        rel = p.relative_to(ROOT).as_posix()
        if rel.startswith("backend/messaging/") or p.name == "rpcapi.py":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in ("call", "cast")
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "bus"):
                out.append(f"{rel}:{node.lineno}")
    return out


def test_only_the_typed_clients_send_on_the_bus():
    assert _bus_users() == []


async def test_a_build_makes_five_conductor_trips_and_records_every_stage(cloud, admin, image):
    """One cast to the conductor, the claim with the first stage transition, three more stage
    transitions (it made 19 trips, 12 of them bookkeeping; the empty block-device stage of an
    image boot rides with the spawn's); the create action still has each stage's event, in
    order, all Success."""
    from cloudhelp import settle, wait_for
    bus, sent = cloud.rt.bus, []
    call, cast = bus.call, bus.cast

    async def counting_call(ctx, topic, method, timeout=None, **kw):
        sent.append((topic, method))
        return await call(ctx, topic, method, timeout=timeout, **kw)

    def counting_cast(ctx, topic, method, **kw):
        sent.append((topic, method))
        return cast(ctx, topic, method, **kw)

    bus.call, bus.cast = counting_call, counting_cast
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    await settle(cloud)
    assert [m for t, m in sent if t == "conductor"] == [
        "build_instances", "instance_claim", "build_progress", "build_progress", "build_progress"]
    create = next(a for a in await cloud.list_instance_actions(admin, s["id"]) if a["action"] == "create")
    events = (await cloud.get_instance_action(admin, s["id"], create["request_id"]))["events"]
    assert [(e["event"], e["result"]) for e in events] == [
        ("conductor_schedule_and_build_instances", "Success"),
        ("compute__do_build_and_run_instance", "Success"),
        ("compute_claim_resources", "Success"), ("compute_allocate_network", "Success"),
        ("compute_fetch_image", "Success"), ("compute_block_device_mapping", "Success"),
        ("compute_spawn", "Success")]
    assert all(e["finish_time"] for e in events)


async def test_a_state_change_reads_only_the_instance_row_and_its_view_follows(cloud, admin, image):
    """A build's state change reads the instance row alone, as its UPDATE answers it (RETURNING:
    no SELECT; its ports, groups, fault and volumes are read when those rows change), and the
    pushed and listed views are still whole."""
    from cloudhelp import settle, wait_for
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    await settle(cloud)
    pushed = []
    unsubscribe = cloud.subscribe(lambda e: pushed.append(e) if e["type"] == "instance" else None)
    conn, seen = cloud.rt.db.conn, []
    conn.set_trace_callback(seen.append)
    try:
        cloud.rt.store.update(s["id"], task_state="powering-off")
    finally:
        conn.set_trace_callback(None)
        if callable(unsubscribe):
            unsubscribe()
    reads = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
    assert not reads and [q for q in seen if q.startswith("UPDATE instances") and q.endswith("RETURNING *")], seen
    listed = next(v for v in await cloud.list_servers(admin) if v["id"] == s["id"])
    assert pushed[-1]["server"]["task_state"] == "powering-off" == listed["task_state"]
    assert pushed[-1]["server"]["addresses"] == listed["addresses"] and listed["addresses"]["private"]
    assert pushed[-1]["server"]["security_groups"] == listed["security_groups"] == ["default"]
    # a change of another part (the fault) is read again
    cloud.rt.store.set_error(s["id"], "broken on purpose")
    listed = next(v for v in await cloud.list_servers(admin) if v["id"] == s["id"])
    assert listed["status"] == "ERROR" and listed["fault"]["message"] == "broken on purpose"
