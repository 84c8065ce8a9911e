"""The REST API's connections send without Nagle's delay. serve listens on a socket made with
protocol 0, on whose connections asyncio does not set TCP_NODELAY itself; a kept-alive
connection's response (headers and body, two writes) then waited for the client's delayed ACK,
~40 ms per request."""
from __future__ import annotations

import asyncio
import socket

import httpx

from backend.api import httpserver
from backend.cli.serve import _bind


async def _app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_served_connections_have_tcp_nodelay():
    sock = _bind("127.0.0.1", 0)  # as `pocketstack serve` makes it
    port = sock.getsockname()[1]
    srv = httpserver.server(_app)
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while not srv.started:
            assert loop.time() < end, "the server did not start"
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as c:
            for _ in range(2):  # the same kept-alive connection twice
                r = await c.get(f"http://127.0.0.1:{port}/")
                assert r.status_code == 200 and r.text == "ok"
            conns = list(srv.server_state.connections)
            assert conns, "no connection is open"
            for proto in conns:
                s = proto.transport.get_extra_info("socket")
                assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), "Nagle's algorithm is on"
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, 10)
