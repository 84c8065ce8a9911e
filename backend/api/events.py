"""GET /pocketstack/v1/events: the live events as Server-Sent Events, for remote apps.

Outside the upstream schemas (no OpenStack service streams events to its clients). The
stream carries exactly what an in-process subscription with the same token gets (the
facade's token-scoped feed: a member sees its project only, hosts only for admins), each
event with its id, so a client that reconnects with `Last-Event-ID` is given what it missed
or, when that is no longer kept, a `reset` telling it to reload its lists.

The token comes in the X-Auth-Token header, never in the URL (URLs end up in logs).
The backend never waits for a client: events go into a bounded outbox per client, and a
client that lets it fill up is dropped (it reconnects and resumes from its last id)."""
from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from backend.api.common import token_of
from backend.core.errors import BadRequest, CloudError

PATH = "/pocketstack/v1/events"
# set by the HTTP server (backend.api.httpserver): close this connection now
CLOSE_EXTENSION = "pocketstack.close"
# read by the HTTP server: a response that never ends by itself (shutdown closes it)
ENDLESS = "pocketstack.endless"


@dataclass(frozen=True)
class StreamSettings:
    keepalive: float = 15.0    # a comment at least this often, so idle links are seen alive
    token_check: float = 1.0   # a revoked or expired token ends the stream within this
    outbox: int = 10_000       # events waiting for one client; one more and it is dropped


class Outbox:
    """Events for one client. push() is the backend's callback: it never blocks; past the
    limit the client is dropped (subscription ended, connection closed)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: deque[tuple[str, dict]] = deque()
        self.wake = asyncio.Event()
        self.dropped = False
        self.on_drop: list = []
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def push(self, event_id: str, event: dict) -> None:
        if threading.get_ident() != self._thread:  # events are published on the loop; be safe
            self._loop.call_soon_threadsafe(self.push, event_id, event)
            return
        if self.dropped:
            return
        if len(self.items) >= self.limit:
            self.dropped = True
            self.items.clear()
            for fn in self.on_drop:
                fn()
        else:
            self.items.append((event_id, event))
        self.wake.set()

    def take(self) -> list[tuple[str, dict]]:
        items = list(self.items)
        self.items.clear()
        self.wake.clear()
        return items


def frame(event_id: str, event: dict) -> bytes:
    # JSON escapes every line break inside strings, so one data: line holds the event
    data = orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS)
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), str(event.get("type")).encode(), data)


TYPES = ("instance", "action", "trace", "host")


def _types(request: Request) -> frozenset[str] | None:
    """?type=instance,action (or repeated): only those events (resets always come); none given:
    every type. A client that reads only server states is then not sent a build's ~60 traces."""
    given = [t.strip() for v in request.query_params.getlist("type") for t in v.split(",")]
    if not given:
        return None
    for t in given:
        if t not in TYPES:
            raise BadRequest(f"unknown event type {t!r} in 'type': one of {', '.join(TYPES)}")
    return frozenset(given)


def marker(event_id: str, comment: str) -> bytes:
    """A comment with the current id and no data: no event for the client, but its
    Last-Event-ID moves on (everything up to that id it may see was sent before)."""
    return b": %s\nid: %s\n\n" % (comment.encode(), event_id.encode())


async def events(request: Request) -> Response:
    cloud = request.app.state.cloud
    opts: StreamSettings = getattr(request.app.state, "event_stream", None) or StreamSettings()
    token = token_of(request)
    await cloud.validate_token(token)  # a bad token is a 401 before anything streams
    types = _types(request)
    box = Outbox(opts.outbox)
    # a malformed Last-Event-ID is a 400 here, before the stream starts
    sub = cloud.stream(box.push, token, request.headers.get("last-event-id"), types)
    box.on_drop.append(sub.close)
    close = request.scope.get("extensions", {}).get(CLOSE_EXTENSION)
    if close is not None:  # a client that does not read at all is cut off, not waited for
        box.on_drop.append(close)
    request.scope[ENDLESS] = True
    return StreamingResponse(_body(cloud, token, box, sub, opts), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _body(cloud, token: str, box: Outbox, sub, opts: StreamSettings):
    loop = asyncio.get_running_loop()
    try:
        if not box.items:  # else the replayed events carry their ids
            yield marker(sub.position, "connected")
        next_check = loop.time() + opts.token_check
        next_alive = loop.time() + opts.keepalive
        while True:
            if not box.items and not box.dropped:
                try:
                    async with asyncio.timeout(max(0.0, min(next_check, next_alive) - loop.time())):
                        await box.wake.wait()
                except TimeoutError:
                    pass
            if box.dropped:
                return  # the client fell behind: it reconnects and resumes from its last id
            now = loop.time()
            if now >= next_check:
                next_check = now + opts.token_check
                try:
                    await cloud.validate_token(token)
                except CloudError as e:
                    # no id: events still waiting here were not sent
                    yield b"event: end\ndata: %s\n\n" % orjson.dumps({"type": "end", "reason": e.message})
                    return
            items = box.take()
            if items:
                yield b"".join(frame(i, e) for i, e in items)
                next_alive = now + opts.keepalive
            elif now >= next_alive:
                yield marker(sub.position, "keep-alive")
                next_alive = now + opts.keepalive
    finally:
        sub.close()


def routes() -> list[Route]:
    return [Route(PATH, events, methods=["GET"])]
