"""user_data on the real lab: the API's base64 text reaches the config drive
(openstack/latest/user_data) and the tiny guest runs it when it is a script (#!), its output
on the serial console between markers; other user_data is left alone."""
from __future__ import annotations

import asyncio
import base64
import time

import pytest

from real.labcloud import lab_cloud
from backend.lab.guestimage import MARKER

pytestmark = pytest.mark.real


@pytest.fixture
async def real_cloud(lab_home, tmp_path, tiny_build):
    async with lab_cloud(lab_home, tmp_path, tiny_build) as cloud_and_token:
        yield cloud_and_token


async def console_with(cloud, tok, sid, text, timeout=60.0) -> str:
    end = time.monotonic() + timeout
    while True:
        s = await cloud.get_server(tok, sid)
        assert s["status"] != "ERROR", s.get("fault")
        log = await cloud.get_console_output(tok, sid) if s["status"] == "ACTIVE" else ""
        if text in log:
            return log
        assert time.monotonic() < end, f"no {text!r} on {sid}'s console:\n{log[-2000:]}"
        await asyncio.sleep(0.2)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_user_data_script_runs_and_prints_on_the_console(real_cloud):
    cloud, tok = real_cloud
    script = b"#!/bin/sh\necho hello-$(hostname)\nexit 7\n"
    not_a_script = b"#cloud-config\nruncmd: [echo should-not-run]\n"
    s1 = (await cloud.create_server(tok, "ud-real", "tiny", "m1.nano", user_data=b64(script)))[0]
    s2 = (await cloud.create_server(tok, "ud-plain", "tiny", "m1.nano",
                                    user_data=b64(not_a_script)))[0]
    log = await console_with(cloud, tok, s1["id"], "--- user_data end")
    hostname = (await cloud.get_server(tok, s1["id"]))["hostname"]
    body = log.split("--- user_data begin ---", 1)[1].split("--- user_data end", 1)
    assert body[0].strip().splitlines() == [f"hello-{hostname}"]
    assert body[1].startswith(" rc=7 ---")
    assert log.index(MARKER) < log.index("--- user_data begin ---")
    # the serial shell is there after it
    await console_with(cloud, tok, s1["id"], "built-in shell")

    log2 = await console_with(cloud, tok, s2["id"], "built-in shell")
    assert MARKER in log2 and "user_data" not in log2 and "should-not-run" not in log2
