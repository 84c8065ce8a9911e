"""nova's remote consoles (serial) through the REST API, on the fake driver's tiny shell: the
POST answers a ws:// URL with a single-use token; the WebSocket carries keys and output;
readers are refused, other projects' servers are not found, one client at a time."""
from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
import websockets
from websockets.asyncio.client import connect

from servedhelp import served

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"
SERIAL = {"remote_console": {"protocol": "serial", "type": "serial"}}


async def active_server(env, name, who="admin") -> str:
    body = {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}]}}
    r = await env.post(f"{V}/servers", body, who=who)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who)
    return sid


async def read_until(ws, text: bytes) -> bytes:
    got = b""
    while text not in got:
        got += await asyncio.wait_for(ws.recv(), 10)
    return got


async def test_console_url_token_is_single_use_and_carries_the_shell(env):
    sid = await active_server(env, "console-a")
    r = await env.post(f"{V}/servers/{sid}/remote-consoles", SERIAL, who="mia")
    assert r.status_code == 200, r.text
    rc = r.json()["remote_console"]
    assert (rc["protocol"], rc["type"]) == ("serial", "serial")
    url = urlsplit(rc["url"])
    assert url.scheme == "ws" and url.path == "/pocketstack/v1/console" and url.query.startswith("token=")
    async with served(env.cloud) as s:
        ws_url = s.url.replace("http://", "ws://") + url.path + "?" + url.query
        async with connect(ws_url, subprotocols=["binary"]) as ws:
            assert ws.subprotocol == "binary"
            await read_until(ws, b"/ # ")
            await ws.send(b"hostname\r")
            out = await read_until(ws, b"console-a\r\n")
            assert out.startswith(b"hostname")  # echoed, as a tty does
            await ws.send(b"echo hi there\r")
            await read_until(ws, b"hi there\r\n")
            await ws.send(b"frobnicate\r")
            await read_until(ws, b"sh: frobnicate: not found")
            # one client at a time: asking again while attached is 409 naming the holder
            r = await env.post(f"{V}/servers/{sid}/remote-consoles", SERIAL)
            assert r.status_code == 409, r.text
            assert "in use by user mia (project admin)" in r.json()["conflictingRequest"]["message"]
        # the token was used: a second connect with it is closed 4401
        async with connect(ws_url) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 4401 and "used or expired" in closed.value.rcvd.reason
        # detached: the console is free again, and the session is in the console log
        r = await env.post(f"{V}/servers/{sid}/remote-consoles", SERIAL)
        assert r.status_code == 200, r.text
        log = await env.post(f"{V}/servers/{sid}/action", {"os-getConsoleOutput": {}})
        assert "hi there" in log.json()["output"]


async def test_expired_token_is_refused(env):
    sid = await active_server(env, "console-exp")
    api = env.cloud.rt.console_api
    api.ttl = 0.0
    try:
        r = await env.post(f"{V}/servers/{sid}/remote-consoles", SERIAL)
        assert r.status_code == 200, r.text
    finally:
        api.ttl = 600.0
    token = urlsplit(r.json()["remote_console"]["url"]).query.split("=", 1)[1]
    with pytest.raises(Exception, match="used or expired"):
        await env.cloud.connect_console(token)


async def test_reader_refused_other_project_not_found_bad_body(env):
    sid = await active_server(env, "console-b")
    r = await env.post(f"{V}/servers/{sid}/remote-consoles", SERIAL, who="rita")
    assert r.status_code == 403, r.text
    assert "reader" in r.json()["forbidden"]["message"]
    r = await env.post(f"{V}/servers/{sid}/remote-consoles", SERIAL, who="bob")
    assert r.status_code == 404, r.text
    r = await env.post(f"{V}/servers/{sid}/remote-consoles",
                       {"remote_console": {"protocol": "vnc", "type": "novnc"}})
    assert r.status_code == 400 and "'vnc'" in r.json()["badRequest"]["message"]
    r = await env.post(f"{V}/servers/{sid}/remote-consoles", {"remote_console": {"protocol": "serial"}})
    assert r.status_code == 400, r.text
    r = await env.post(f"{V}/servers/{sid}/remote-consoles", {"console": {}})
    assert r.status_code == 400 and "remote_console" in r.json()["badRequest"]["message"]


async def test_a_stopped_server_has_no_console(env):
    sid = await active_server(env, "console-c")
    r = await env.post(f"{V}/servers/{sid}/action", {"os-stop": None})
    assert r.status_code == 202, r.text
    await env.wait_status(sid, "SHUTOFF")
    r = await env.post(f"{V}/servers/{sid}/remote-consoles", SERIAL)
    assert r.status_code == 409 and "active" in r.json()["conflictingRequest"]["message"]


async def test_an_attached_console_outlives_the_http_deadlines(env):
    """The HTTP server's header and body deadlines close stalled requests; a WebSocket that
    is quiet for longer than them is not a stalled request and stays open."""
    import socket
    from backend.api import create_app
    from backend.api.httpserver import HttpLimits, server as http_server
    sid = await active_server(env, "console-idle")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    limits = HttpLimits(header_timeout=0.2, body_timeout=0.2)
    srv = http_server(create_app(env.cloud), limits, log_level="critical")
    task = asyncio.get_running_loop().create_task(srv.serve(sockets=[sock]))
    try:
        while not srv.started:
            assert not task.done()
            await asyncio.sleep(0.01)
        made = await env.cloud.create_remote_console(env.tokens["admin"], sid)
        url = f"ws://127.0.0.1:{sock.getsockname()[1]}/pocketstack/v1/console?token={made['token']}"
        async with connect(url) as ws:
            await read_until(ws, b"/ # ")
            await asyncio.sleep(5 * limits.header_timeout)  # quiet for longer than both deadlines
            await ws.send(b"echo still open\r")
            await read_until(ws, b"still open\r\n")
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
