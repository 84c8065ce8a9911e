"""The HTTP server of the REST API: uvicorn's h11 protocol with the read deadlines and the
connection limit it lacks. uvicorn closes an idle keep-alive connection, but a client that
sends half a request header (or half a body) and then nothing holds its connection forever,
so a few thousand such clients would pin the server.

- header deadline: the request line and headers must arrive whole within header_timeout of
  the connection (or of the first byte of a keep-alive request); else 408 and close.
- body deadline: no more than body_timeout between two reads of a request body (a slow but
  moving upload goes on; one that stops is closed). Time the app spends not reading does
  not count: uvicorn stops reading then, so the client is not the one waiting.
- connection limit: past max_connections, the connection that has waited longest for its
  request header is closed to make room (a stalled or idle one, never one being served);
  when every connection is being served, the newcomer is closed."""
from __future__ import annotations

import dataclasses
import resource
import socket
import sys

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from backend.api.events import CLOSE_EXTENSION, ENDLESS

_TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 24\r\n"
                b"connection: close\r\n\r\nrequest header timed out")


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    header_timeout: float = 10.0   # Apache's mod_reqtimeout allows 20-40 s; our clients are local
    body_timeout: float = 30.0     # between two reads of a body
    max_connections: int = 1024


class GuardedH11Protocol(H11Protocol):
    limits = HttpLimits()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        app = self.app

        async def with_close(scope, receive, send):
            # the event stream drops a client that stopped reading: the connection is cut at
            # once (a close would wait to flush what that client does not read)
            scope.setdefault("extensions", {})[CLOSE_EXTENSION] = self._abort
            await app(scope, receive, send)
        self.app = with_close

    def shutdown(self) -> None:
        # a response that never ends by itself (the event stream) must not hold the shutdown
        if self.cycle is not None and not self.cycle.response_complete and self.cycle.scope.get(ENDLESS):
            self._abort()
        else:
            super().shutdown()

    def _abort(self) -> None:
        self._cancel()
        self.transport.abort()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # asyncio sets TCP_NODELAY only on sockets made with proto IPPROTO_TCP, and serve's
            # is made with 0: a kept-alive response (headers, then body) waited for the
            # client's delayed ACK, ~40 ms per request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._timer = None
        self._head_bytes = 0
        self._waiting_since = self.loop.time()
        self._arm(self.limits.header_timeout)
        # a closed transport stays in the set until its connection_lost: count only live ones
        live = [c for c in self.connections if not c.transport.is_closing()]
        if len(live) > self.limits.max_connections:
            waiting = [c for c in live
                       if c is not self and isinstance(c, GuardedH11Protocol) and c.awaiting_head()]
            victim = min(waiting, key=lambda c: c._waiting_since) if waiting else self
            victim._close()

    def connection_lost(self, exc) -> None:
        self._cancel()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event) -> None:
        # the connection is a WebSocket's from here (the serial console): no HTTP deadline
        # may close it, and its protocol, not this one, reads what comes next
        self._cancel()
        self._upgraded = True
        super().handle_websocket_upgrade(event)

    def awaiting_head(self) -> bool:
        """No request is being read or served: the next request header is awaited."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def data_received(self, data: bytes) -> None:
        if getattr(self, "_upgraded", False):
            return super().data_received(data)
        if self.awaiting_head():
            if self._timer is None:  # the first bytes of a request on a kept-alive connection
                self._waiting_since = self.loop.time()
                self._arm(self.limits.header_timeout)
            self._head_bytes += len(data)
        super().data_received(data)
        self._rearm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._rearm()

    def _rearm(self) -> None:
        if getattr(self, "_upgraded", False):
            return self._cancel()
        if self.transport.is_closing():
            self._cancel()
        elif self.conn.their_state is h11.SEND_BODY:
            self._head_bytes = 0
            self._arm(self.limits.body_timeout)
        elif not self.awaiting_head():
            self._head_bytes = 0
            self._cancel()
        elif self._timer is None and self.conn.trailing_data[0]:
            self._arm(self.limits.header_timeout)  # part of a pipelined header is waiting
        # else: awaiting a header. A deadline already running bounds the whole header (it is
        # not re-armed per read); with none, uvicorn's keep-alive timer guards the idle wait.

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY:
            if self.flow.read_paused:  # the app is behind, not the client
                self._arm(self.limits.body_timeout)
            else:
                self._close()
        elif self.awaiting_head():
            if self._head_bytes:
                self.transport.write(_TIMEOUT_408)
            self._close()

    def _arm(self, seconds: float) -> None:
        self._cancel()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        self._cancel()
        if not self.transport.is_closing():
            self.transport.close()


FD_RESERVE = 128  # descriptors besides client connections: the database, SSH links, logs


def fit_connections(limits: HttpLimits) -> HttpLimits:
    """Make room for max_connections open sockets: raise the soft descriptor limit toward
    the hard one, and where that is not enough lower max_connections, so the limit (and
    its eviction of stalled connections) acts before accept() fails with EMFILE."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = limits.max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < want:
        fit = max(soft - FD_RESERVE, 16)
        print(f"pocketstack: only {soft} file descriptors: at most {fit} connections "
              f"(--max-connections {limits.max_connections})", file=sys.stderr)
        limits = dataclasses.replace(limits, max_connections=fit)
    return limits


def server(app, limits: HttpLimits | None = None, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for app with limits (serve it with .serve(sockets=[...]))."""
    limits = fit_connections(limits or HttpLimits())
    proto = type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})
    # ws: the serial console's WebSocket (backend.api.remote_consoles)
    return uvicorn.Server(uvicorn.Config(app, http=proto, ws="websockets-sansio", lifespan="off", access_log=False,
                                         log_level=log_level))
