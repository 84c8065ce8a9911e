"""nova's user_data on server create: base64 text of at most 65535 characters, kept with the
instance, handed to the driver (the fake driver's spec and console say what arrived), never
shown in the server view at 2.1; bad base64 or too long is 400 naming the field, nothing written."""
from __future__ import annotations

import base64
import hashlib

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


def body(env, name, **extra):
    return {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}], **extra}}


def guest_spec(env, sid):
    for cm in env.cloud.rt.computes.values():
        if sid in cm.driver.guests:
            return cm.driver.guests[sid]
    raise AssertionError(f"{sid} reached no hypervisor")


async def test_user_data_reaches_the_driver_and_is_not_shown(env):
    script = b"#!/bin/sh\necho hello-$(hostname)\n"
    r = await env.post(f"{V}/servers", body(env, "ud-1", user_data=base64.b64encode(script).decode()),
                       who="mia")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    shown = await env.wait_status(sid, "ACTIVE", who="mia")
    # only microversion >= 2.3 (admins) shows OS-EXT-SRV-ATTR:user_data; we offer 2.1
    assert not any("user_data" in k for k in shown)
    admin_view = (await env.get(f"{V}/servers/{sid}")).json()["server"]
    assert not any("user_data" in k for k in admin_view)
    g = guest_spec(env, sid)
    assert base64.b64decode(g.spec.user_data) == script
    assert f"user_data: {len(script)} bytes sha256 {hashlib.sha256(script).hexdigest()}" in g.console
    row = env.cloud.rt.db.conn.execute("SELECT user_data FROM instances WHERE uuid=?", (sid,)).fetchone()
    assert base64.b64decode(row[0]) == script


async def test_largest_user_data_is_taken(env):
    text = base64.b64encode(b"x" * (65535 // 4 * 3)).decode()
    assert len(text) <= 65535
    r = await env.post(f"{V}/servers", body(env, "ud-big", user_data=text), who="mia")
    assert r.status_code == 202, r.text
    await env.wait_status(r.json()["server"]["id"], "ACTIVE", who="mia")


@pytest.mark.parametrize("value,word", [
    ("not base64!", "not valid base64"),
    ("YWJj*", "not valid base64"),
    ("YWJjZA", "not valid base64"),          # bad padding
    (12, "must be a base64 string"),
    (["YWJj"], "must be a base64 string"),
    ("A" * 65536, "longer than 65535"),
])
async def test_bad_user_data_is_400_and_writes_nothing(env, value, word):
    before = await env.state()
    r = await env.post(f"{V}/servers", body(env, "ud-bad", user_data=value), who="mia")
    assert r.status_code == 400, r.text
    msg = r.json()["badRequest"]["message"]
    assert "'server.user_data'" in msg and word in msg
    assert await env.state() == before
