"""The app's end of a guest's serial console: one interface (read() -> bytes, b"" at the end;
write(bytes); close()) over the two ways to reach it: the in-process facade's session, which
lives on the backend's loop (each call hops there), and nova's remote-consoles WebSocket
(over --url)."""
from __future__ import annotations

from typing import Any

import websockets
from websockets.asyncio.client import connect


class LoopHop:
    """A facade console session that lives on the BackendThread's loop."""

    def __init__(self, session: Any, backend: Any):
        self.session, self.backend = session, backend

    async def read(self) -> bytes:
        return await self.backend.acall(self.session.read)

    async def write(self, data: bytes) -> None:
        await self.backend.acall(self.session.write, data)

    async def close(self) -> None:
        await self.backend.acall(self.session.close)


class WsConsole:
    """The serial console over the REST API's WebSocket."""

    def __init__(self, ws):
        self.ws = ws
        self.ended: str | None = None

    @classmethod
    async def open(cls, url: str) -> "WsConsole":
        try:
            return cls(await connect(url, subprotocols=["binary"], open_timeout=10, max_size=1 << 20))
        except websockets.InvalidHandshake as e:  # as an unreachable server: the caller says so
            raise ConnectionError(f"the console WebSocket was refused: {e}") from None

    async def read(self) -> bytes:
        try:
            msg = await self.ws.recv()
        except websockets.ConnectionClosed as e:
            self.ended = e.rcvd.reason if e.rcvd else None
            return b""
        return msg if isinstance(msg, bytes) else msg.encode()

    async def write(self, data: bytes) -> None:
        try:
            await self.ws.send(data)
        except websockets.ConnectionClosed:
            pass

    async def close(self) -> None:
        await self.ws.close()
