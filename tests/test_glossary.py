"""The glossary says exactly what the backend has: every state, every fault kind it records,
every scheduler filter and weigher it can load; and the facade serves it."""
from __future__ import annotations

import asyncio

from backend.core import glossary, power_state, states
from backend.core.config import Config
from backend.facade import Cloud
from backend.scheduler import core as sched
from backend.scheduler.filters import FILTERS
from backend.scheduler.weighers import WEIGHERS
from backend.virt.driver import DriverError
from backend.virt.fake import FakeBehaviour, FakeDriver
from cloudhelp import make_config, settle, wait_for


def _constants(module) -> set[str]:
    return {v for k, v in vars(module).items() if k.isupper() and not k.startswith("_") and isinstance(v, str)}


def test_vm_and_task_states_match_the_backend_both_ways():
    vm_states = set(states._STATE_MAP)   # every vm_state has its API status mapping
    task_states = _constants(states) - vm_states
    assert set(glossary.VM_STATES) == vm_states
    assert set(glossary.TASK_STATES) == task_states
    # and nothing the backend writes is missing: every task_state an action sets is a constant
    assert {"scheduling", "networking", "block_device_mapping", "spawning", "deleting"} <= task_states


def test_power_states_match_names_and_codes():
    assert {name: code for name, (code, _) in glossary.POWER_STATES.items()} == \
        {name: code for code, name in power_state.NAMES.items()}


def test_api_statuses_match_the_status_mapping():
    derived = {s for by_task in states._STATE_MAP.values() for s in by_task.values()}
    derived.add(states.api_status("no-such-state", None))  # UNKNOWN
    assert set(glossary.STATUSES) == derived


def test_every_filter_and_weigher_the_scheduler_can_load_has_an_entry():
    assert set(glossary.FILTERS) == set(FILTERS)
    assert set(glossary.WEIGHERS) == set(WEIGHERS)
    # the chain the scheduler really runs with the default configuration
    conf = sched.SchedulerConfig.from_config(Config())
    loaded = [f.name for f in sched._filter_chain(conf)] + [w.name for w in sched._load(conf.weighers, WEIGHERS,
                                                                                         "weigher")]
    assert loaded and set(loaded) <= set(glossary.FILTERS) | set(glossary.WEIGHERS)


def test_every_entry_is_one_or_two_plain_sentences():
    for e in glossary.entries():
        text = e["text"]
        assert text and not text[0].isspace() and text.endswith("."), e
        assert 1 <= text.count(". ") + 1 <= 2, e
        assert "[" not in text, e  # no markup, no brackets to mistake for it
    kinds = {e["kind"] for e in glossary.entries()}
    assert kinds == set(glossary.KINDS)


def _fault_messages(cloud) -> list[str]:
    return [r[0] for r in cloud.rt.db.conn.execute("SELECT message FROM instance_faults ORDER BY id")]


async def test_every_fault_the_backend_records_is_of_a_listed_kind(tmp_path):
    """Each way an instance gets a fault, on the real services over the fake driver."""
    cfg = make_config(tmp_path, build_timeout=1.0)
    Cloud.init(cfg, "secret")
    c = Cloud(cfg)
    await c.start()
    try:
        tok = (await c.login("admin", "secret", "admin"))["token"]
        img = await c.create_image(tok, "i", visibility="public")
        await c.upload_image(tok, img["id"], b"x")
        big = await c.create_flavor(tok, "huge", 4, 8192, 1)  # more RAM than any host has
        seen: dict[str, str] = {}

        async def fault_of(server_id, kind):
            s = await wait_for(c, tok, server_id, "ERROR", timeout=15)
            seen[kind] = s["fault"]["message"]

        # no host passes the filters
        s = (await c.create_server(tok, "nohost", img["id"], big["id"]))[0]
        await fault_of(s["id"], "No valid host")
        # every host fails the build, each retry too
        for h in ("fake-1", "fake-2", "fake-3"):
            FakeDriver.behaviours[h] = FakeBehaviour(fail_always=True)
        s = (await c.create_server(tok, "retries", img["id"], "m1.nano"))[0]
        await fault_of(s["id"], "Retries exhausted")
        FakeDriver.behaviours.clear()
        # a failure another host would not fix
        real_spawns = {}
        for name, cm in c.rt.computes.items():
            real_spawns[name] = cm.driver.spawn

            async def bad_spawn(guest, _name=name):
                raise DriverError(f"bad image on {_name}", reschedulable=False)
            cm.driver.spawn = bad_spawn
        s = (await c.create_server(tok, "aborted", img["id"], "m1.nano"))[0]
        await fault_of(s["id"], "Build aborted")
        for name, cm in c.rt.computes.items():
            cm.driver.spawn = real_spawns[name]
        # a build that hangs past build_timeout
        for h in ("fake-1", "fake-2", "fake-3"):
            FakeDriver.behaviours[h] = FakeBehaviour(hang=True)
        s = (await c.create_server(tok, "hung", img["id"], "m1.nano"))[0]
        await fault_of(s["id"], "Build timed out")
        FakeDriver.behaviours.clear()
        # a power action and a delete that fail on the host
        s = (await c.create_server(tok, "ok", img["id"], "m1.nano"))[0]
        s = await wait_for(c, tok, s["id"], "ACTIVE")
        drv = c.rt.computes[s["host"]].driver

        async def refuse(*a, **k):
            raise DriverError("the hypervisor said no", reschedulable=False)
        drv.power_off, drv.destroy = refuse, refuse
        await c.stop_server(tok, s["id"])
        for _ in range(200):
            if any(m.startswith("compute_stop_instance failed") for m in _fault_messages(c)):
                break
            await asyncio.sleep(0.05)
        await settle(c)
        await c.delete_server(tok, s["id"])
        await fault_of(s["id"], "Delete failed")
        recorded = _fault_messages(c)
        assert any(glossary.fault_kind(m) == "Power action failed" for m in recorded)
        for kind, message in seen.items():
            assert glossary.fault_kind(message) == kind, message
        # nothing recorded is of an unknown kind
        assert [m for m in recorded if glossary.fault_kind(m) is None] == []
        # every kind but the scheduler's own crash was produced here
        assert {glossary.fault_kind(m) for m in recorded} == set(glossary.FAULTS) - {"Scheduler failed"}
    finally:
        await c.stop()


def test_a_scheduler_crash_is_of_its_kind():
    # the conductor's words when its call to the scheduler raises (backend.conductor.manager)
    assert glossary.fault_kind("scheduler failed: RemoteError: boom") == "Scheduler failed"


async def test_the_facade_serves_the_glossary_to_any_token(cloud, admin):
    got = await cloud.glossary(admin)
    assert got == glossary.entries()
    reader = await cloud.create_user(admin, "rita", "pw-rita-123")
    await cloud.grant_role(admin, "admin", reader["id"], "reader")
    rtok = (await cloud.login("rita", "pw-rita-123", "admin"))["token"]
    assert await cloud.glossary(rtok) == got
