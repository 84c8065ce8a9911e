"""The remote app's live events: one Server-Sent Events stream, `GET /pocketstack/v1/events`
(backend/api/events.py), read with httpx. Pushed, never polled.

The stream carries the facade's events as an in-process subscription gets them. When it
breaks, it is opened again with backoff and `Last-Event-ID`, so the server replays what was
missed; when that is no longer kept the server says `reset` and the lists are reloaded.
A new token (renewed, another project) reopens it at once; a 401 waits for a new token."""
from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import httpx
import orjson
from httpx_sse import SSEError, aconnect_sse

from tui.adapter import Event

EVENTS_PATH = "/pocketstack/v1/events"


class EventStream:
    def __init__(self, http: httpx.AsyncClient, deliver: Callable[[Event], None],
                 reload: Callable[[], Awaitable[None]], backoff: tuple[float, float] = (0.25, 10.0),
                 read_timeout: float = 45.0) -> None:
        self.http = http
        self.deliver = deliver        # each event, as the facade pushes it
        self.reload = reload          # after a reset: fetch the lists again
        self.backoff = backoff        # first and longest wait between two attempts
        self.read_timeout = read_timeout  # the server sends a keep-alive every 15 s
        self.last_id: str | None = None
        self.connects = 0             # streams opened (answered 200)
        self._token: str | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._conn: asyncio.Task | None = None
        self._reloading: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        for t in (self._task, self._conn, self._reloading):
            if t is not None:
                t.cancel()
        self._task = None

    def set_token(self, token: str | None, resume: bool) -> None:
        """A new token: reopen the stream with it. resume=False (another user or project)
        forgets the last id: that session's screens load their lists afresh."""
        if token == self._token:
            return
        self._token = token
        if not resume:
            self.last_id = None
        self._changed.set()
        if self._conn is not None:
            self._conn.cancel()

    async def _run(self) -> None:
        delay = self.backoff[0]
        try:
            while True:
                token = self._token
                if token is None:
                    await self._wait_for_change(None)
                    continue
                self._changed.clear()
                opened = self.connects
                self._conn = conn = asyncio.get_running_loop().create_task(self._read(token))
                await asyncio.wait([conn])
                self._conn = None
                if conn.cancelled():
                    continue  # a new token: open again at once
                outcome = None if conn.exception() else conn.result()
                if outcome == "unauthorized":
                    await self._wait_for_change(token)  # expired or revoked: wait for a new one
                    continue
                if self.connects > opened:
                    delay = self.backoff[0]  # it was open: start the backoff afresh
                # full jitter, so many clients of a restarted server do not come back at once
                try:
                    async with asyncio.timeout(random.uniform(delay / 2, delay)):
                        await self._changed.wait()
                except TimeoutError:
                    pass
                delay = min(delay * 2, self.backoff[1])
        finally:
            if self._conn is not None:
                self._conn.cancel()

    async def _wait_for_change(self, token: str | None) -> None:
        while self._token == token:
            self._changed.clear()
            await self._changed.wait()

    async def _read(self, token: str) -> str:
        headers = {"X-Auth-Token": token}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        timeout = httpx.Timeout(10.0, read=self.read_timeout)
        try:
            async with aconnect_sse(self.http, "GET", EVENTS_PATH, headers=headers, timeout=timeout) as source:
                status = source.response.status_code
                if status == 401:
                    return "unauthorized"
                if status == 400 and self.last_id:  # an id this server does not take
                    self.last_id = None
                    self._start_reload()
                    return "refused"
                if status != 200:
                    return "refused"
                self.connects += 1
                async for sse in source.aiter_sse():
                    if sse.id:
                        self.last_id = sse.id
                    if not sse.data:
                        continue  # a keep-alive: only the id moves on
                    event = orjson.loads(sse.data)
                    kind = event.get("type")
                    if kind == "reset":
                        self._start_reload()
                    elif kind != "end":  # end: the server says why it closes (token gone)
                        self.deliver(event)
                return "ended"
        except (httpx.HTTPError, SSEError, orjson.JSONDecodeError):
            return "broken"

    def _start_reload(self) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self.reload())
