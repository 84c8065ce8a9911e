"""Rebuild and pause on the real lab (qemu over ssh): a rebuilt server is a new guest from
the new image (a new qemu process, a fresh console that shows the boot marker again) with the
same id and addresses; pause freezes the guest's vCPUs (QMP stop: power state Paused) and
unpause lets it run on in the same process."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from real.labcloud import lab_cloud
from backend.cli.tiny import register_with_cloud
from backend.lab.guestimage import MARKER

pytestmark = pytest.mark.real


@pytest.fixture
async def real_cloud(lab_home, tmp_path, tiny_build):
    async with lab_cloud(lab_home, tmp_path, tiny_build) as cloud_and_token:
        yield cloud_and_token


async def settled(cloud, tok, sid, status, timeout=90.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        s = await cloud.get_server(tok, sid)
        assert s["status"] != "ERROR", s.get("fault")
        if s["status"] == status and not s["task_state"]:
            return s
        assert time.monotonic() < end, f"{sid} is {s['status']}/{s['task_state']}"
        await asyncio.sleep(0.2)


async def console_with(cloud, tok, sid, text, timeout=60.0) -> str:
    end = time.monotonic() + timeout
    while True:
        log = await cloud.get_console_output(tok, sid)
        if text in log:
            return log
        assert time.monotonic() < end, f"no {text!r} on {sid}'s console:\n{log[-2000:]}"
        await asyncio.sleep(0.2)


def qemu_pid(cloud, s) -> int:
    d = cloud.rt.computes[s["host"]].driver
    return int((Path(d._idir(s["id"])) / "qemu.pid").read_text())


async def test_rebuild_boots_a_new_guest_from_the_new_image(real_cloud, tiny_build):
    cloud, tok = real_cloud
    other = await register_with_cloud(cloud, tok, tiny_build, name="tiny-rebuild")
    s = (await cloud.create_server(tok, "rebuild-real", "tiny", "m1.nano"))[0]
    s = await settled(cloud, tok, s["id"], "ACTIVE")
    await console_with(cloud, tok, s["id"], MARKER)
    pid = qemu_pid(cloud, s)
    got = await cloud.rebuild_server(tok, s["id"], other["disk"], name="rebuilt-real")
    assert got["status"] == "REBUILD"
    r = await settled(cloud, tok, s["id"], "ACTIVE")
    assert r["image"]["id"] == other["disk"] and r["name"] == "rebuilt-real"
    assert r["addresses"] == s["addresses"] and r["host"] == s["host"]
    log = await console_with(cloud, tok, s["id"], MARKER)
    assert log.count(MARKER) == 1          # the old guest's console went with it
    assert qemu_pid(cloud, r) != pid
    acts = await cloud.list_instance_actions(tok, s["id"])
    assert acts[0]["action"] == "rebuild"


async def test_pause_freezes_the_guest_and_unpause_resumes_it(real_cloud):
    cloud, tok = real_cloud
    s = (await cloud.create_server(tok, "pause-real", "tiny", "m1.nano"))[0]
    s = await settled(cloud, tok, s["id"], "ACTIVE")
    await console_with(cloud, tok, s["id"], MARKER)
    pid = qemu_pid(cloud, s)
    await cloud.pause_server(tok, s["id"])
    p = await settled(cloud, tok, s["id"], "PAUSED")
    assert p["power_state"] == 3
    await cloud.unpause_server(tok, s["id"])
    u = await settled(cloud, tok, s["id"], "ACTIVE")
    assert u["power_state"] == 1 and qemu_pid(cloud, u) == pid
