"""A disabled action says why, and the app's reason is the backend's: for every vm_state ×
task_state and every action, the reason the app gives (from the instance's view and the
token) is exactly the end of the compute API's refusal, and where the app gives none the API
accepts."""
from __future__ import annotations

import asyncio

import pytest

from backend.core import glossary
from backend.core.actions import ACTIONS
from backend.core.errors import Conflict, Forbidden
from cloudhelp import wait_for
from tui.screens.instances import refusal_for

CALLS = {"stop": ("stop_server", {}), "start": ("start_server", {}), "reboot": ("reboot_server", {"hard": False}),
         "reboot_hard": ("reboot_server", {"hard": True}), "delete": ("delete_server", {}),
         "pause": ("pause_server", {}), "unpause": ("unpause_server", {}), "suspend": ("suspend_server", {}),
         "resume": ("resume_server", {}), "rebuild": ("rebuild_server", {"image": "IMAGE"})}


class _App:
    """What refusal_for reads of the app: the token view."""
    def __init__(self, token: dict):
        self.token = token


async def _refused(cloud, tok, action, sid, image=None) -> str | None:
    method, kw = CALLS[action]
    kw = {k: image if v == "IMAGE" else v for k, v in kw.items()}
    try:
        await getattr(cloud, method)(tok, sid, **kw)
    except (Conflict, Forbidden) as e:
        return e.message
    return None


async def test_reason_per_state_matches_the_backend(cloud, admin, image):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    sent = []
    cloud.rt.compute_api.bus.cast = lambda *a, **k: sent.append(a)  # accepted actions go nowhere
    token = await cloud.validate_token(admin)
    app = _App(token)
    checked = refused = 0
    for vm in glossary.VM_STATES:
        for task in [None, *glossary.TASK_STATES]:
            for action in ACTIONS:
                await asyncio.sleep(0)  # a turn for the hosts' heartbeats: the loop never waits otherwise
                cloud.rt.store.update(s["id"], vm_state=vm, task_state=task)
                view = await cloud.get_server(admin, s["id"])
                why = refusal_for(app, view, action)
                n_actions = len(await cloud.list_instance_actions(admin, s["id"]))
                got = await _refused(cloud, admin, action, s["id"], image)
                if why is None:
                    assert got is None, (vm, task, action, got)
                elif action == "delete":  # delete while deleting: nova answers 204 and does nothing
                    assert why == "already being deleted" and got is None
                    assert len(await cloud.list_instance_actions(admin, s["id"])) == n_actions
                else:
                    assert got is not None and got.endswith(f": {why}"), (vm, task, action, got, why)
                    refused += 1
                checked += 1
    assert checked == len(glossary.VM_STATES) * (len(glossary.TASK_STATES) + 1) * len(ACTIONS)
    assert refused > checked // 2


async def test_the_reasons_read_as_a_person_would_say_them(cloud, admin, image):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    cloud.rt.compute_api.bus.cast = lambda *a, **k: None
    cases = [("stopped", None, "stop", "already SHUTOFF"),
             ("active", None, "start", "already ACTIVE"),
             ("building", "spawning", "stop", "task 'spawning' in progress"),
             ("active", "powering-off", "reboot", "task 'powering-off' in progress"),
             ("stopped", None, "reboot", "cannot reboot while SHUTOFF (vm_state stopped)")]
    for vm, task, action, reason in cases:
        cloud.rt.store.update(s["id"], vm_state=vm, task_state=task)
        assert (await _refused(cloud, admin, action, s["id"])).endswith(": " + reason)


async def test_an_instance_that_never_got_a_host(cloud, admin, image):
    big = await cloud.create_flavor(admin, "huge", 4, 8192, 1)
    s = (await cloud.create_server(admin, "vm", image, big["id"]))[0]
    s = await wait_for(cloud, admin, s["id"], "ERROR")
    app = _App(await cloud.validate_token(admin))
    why = refusal_for(app, s, "stop")
    assert why == "it has no host (it was never scheduled)"
    assert (await _refused(cloud, admin, "stop", s["id"])).endswith(": " + why)


@pytest.mark.parametrize("action", ACTIONS)
async def test_a_reader_is_refused_with_the_same_words(cloud, admin, image, action):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    user = await cloud.create_user(admin, "rita", "pw-rita-123")
    await cloud.grant_role(admin, "admin", user["id"], "reader")
    rtok = (await cloud.login("rita", "pw-rita-123", "admin"))
    view = await cloud.get_server(rtok["token"], s["id"])
    why = refusal_for(_App(rtok), view, action)
    assert why == "your role 'reader' cannot change anything"
    assert await _refused(cloud, rtok["token"], action, s["id"]) == why
