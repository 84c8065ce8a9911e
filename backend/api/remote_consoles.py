"""nova's remote consoles, serial only: POST /servers/{id}/remote-consoles answers a WebSocket
URL carrying a short-lived single-use token (as nova-serialproxy's), and the WebSocket at
/pocketstack/v1/console carries the guest's serial bytes both ways (binary frames; the
'binary' subprotocol is accepted, as websockify's clients ask for it).

The socket ends with close code 1000 when the guest's console ends (detach, guest stopped);
4401 when the token is invalid, used or expired; 4409 when the console is held by another
client (the reason names who), as a 409 would say."""
from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from backend.api.common import base, check_fields, read_json, token_of, want_str
from backend.core.errors import BadRequest, CloudError, Conflict, Unauthorized

CONSOLE_PATH = "/pocketstack/v1/console"


def console_url(request: Request, token: str) -> str:
    root = base(request)
    scheme, _, rest = root.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{CONSOLE_PATH}?token={token}"


async def create(request: Request) -> Response:
    from backend.api.compute import _server_id
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    body = await read_json(request)
    rc = body.get("remote_console") if isinstance(body, dict) else None
    if not isinstance(rc, dict):
        raise BadRequest('the body is {"remote_console": {"protocol": "serial", "type": "serial"}}')
    check_fields(rc, ("protocol", "type"), "remote_console")
    made = await cloud.create_remote_console(token, sid, want_str(rc, "protocol", "remote_console"),
                                             want_str(rc, "type", "remote_console"))
    return JSONResponse({"remote_console": {"protocol": made["protocol"], "type": made["type"],
                                            "url": console_url(request, made["token"])}})


async def console_socket(ws: WebSocket) -> None:
    cloud = ws.app.state.cloud
    offered = ws.scope.get("subprotocols") or []
    await ws.accept(subprotocol="binary" if "binary" in offered else None)
    try:
        session = await cloud.connect_console(ws.query_params.get("token", ""))
    except Unauthorized as e:
        return await ws.close(code=4401, reason=str(e)[:120])
    except Conflict as e:
        return await ws.close(code=4409, reason=str(e)[:120])
    except CloudError as e:
        return await ws.close(code=1011, reason=str(e)[:120])

    async def to_client():
        while True:
            data = await session.read()
            if not data:
                return "the guest's console ended"
            await ws.send_bytes(data)

    async def from_client():
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return None
            data = msg.get("bytes")
            if data is None and msg.get("text") is not None:
                data = msg["text"].encode()
            if data:
                await session.write(data)

    tasks = [asyncio.ensure_future(to_client()), asyncio.ensure_future(from_client())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        ended = next(iter(done))
        reason = None if ended.exception() else ended.result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
    if reason:  # the guest's side ended; the client is still there to be told
        try:
            await ws.close(code=1000, reason=reason)
        except (RuntimeError, WebSocketDisconnect):
            pass


def routes() -> list:
    v = "/compute/v2.1"
    return [Route(f"{v}/servers/{{id}}/remote-consoles", create, methods=["POST"]),
            WebSocketRoute(CONSOLE_PATH, console_socket)]
