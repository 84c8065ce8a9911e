"""A Cloud's REST API on a real 127.0.0.1 socket, served on the test's loop by the HTTP
server of `serve` (backend.api.httpserver), behind a middleware that records every request:
the counting hook of the "pushed, never polled" tests, and a way to cut event streams from
the server side."""
from __future__ import annotations

import asyncio
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from backend.api import create_app
from backend.api.events import CLOSE_EXTENSION, PATH as EVENTS_PATH, StreamSettings
from backend.api.httpserver import server as http_server


@dataclass
class Recorder:
    """Pure ASGI middleware: (method, path, headers) of every request, in order."""
    app: object
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    refuse_streams: bool = False     # answer the event stream 503, as a server not back yet
    _closers: list = field(default_factory=list)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            self.requests.append((scope["method"], scope["path"], headers))
            if scope["path"] == EVENTS_PATH:
                if self.refuse_streams:
                    await send({"type": "http.response.start", "status": 503, "headers": []})
                    await send({"type": "http.response.body", "body": b""})
                    return
                self._closers.append(scope["extensions"][CLOSE_EXTENSION])
        await self.app(scope, receive, send)

    def since(self, n: int) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests[n:]]

    def streams(self) -> list[dict]:
        """The headers of every event-stream request."""
        return [h for _, p, h in self.requests if p == EVENTS_PATH]

    def drop_streams(self) -> None:
        """Close every open event stream's connection, as a server or a proxy that goes away."""
        for close in self._closers:
            close()
        self._closers.clear()


@dataclass
class Served:
    url: str
    recorder: Recorder
    app: object
    server: object   # the uvicorn.Server

    def connections(self) -> int:
        """Connections the server holds open."""
        return len(self.server.server_state.connections)


@asynccontextmanager
async def served(cloud, **stream_settings):
    app = create_app(cloud)
    if stream_settings:
        app.state.event_stream = StreamSettings(**stream_settings)
    rec = Recorder(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = http_server(rec, log_level="critical")
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while not server.started:
        assert loop.time() < end and not task.done(), "the test server did not start"
        await asyncio.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", rec, app, server)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)  # an open event stream must not hold the shutdown
        sock.close()
