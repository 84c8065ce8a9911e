"""The remote app's live events: one Server-Sent Events stream, `GET /pocketstack/v1/events`
(backend/api/events.py), read with httpx. Pushed, never polled.

The stream carries the facade's events as an in-process subscription gets them. When it
breaks, it is opened again with backoff and `Last-Event-ID`, so the server replays what was
missed; when that is no longer kept the server says `reset` and the lists are reloaded.
A new token (renewed, another project) reopens it at once; a 401 waits for a new token.

It is read in a thread of its own (its own event loop and connection), as the in-process
backend pushes from its own thread: parsing never waits for the app to paint a 20,000-row
table, and the app's event pump (thread-safe) gets each event as it arrives. `deliver` is
called on that thread; `reload` runs on the app's loop. With a custom httpx transport (an
in-process ASGI app in tests) it is read on the app's loop instead, through that transport."""
from __future__ import annotations

import asyncio
import concurrent.futures
import random
import threading
from collections.abc import Awaitable, Callable

import httpx
import orjson
from httpx_sse import SSEError, aconnect_sse

from tui.adapter import Event

EVENTS_PATH = "/pocketstack/v1/events"


class EventStream:
    def __init__(self, http: httpx.AsyncClient, deliver: Callable[[Event], None],
                 reload: Callable[[], Awaitable[None]], backoff: tuple[float, float] = (0.25, 10.0),
                 read_timeout: float = 45.0, threaded: bool = True) -> None:
        self.app_http = http          # the adapter's client: its base URL, or its transport
        self.deliver = deliver        # each event, as the facade pushes it
        self.reload = reload          # after a reset: fetch the lists again (on the app's loop)
        self.backoff = backoff        # first and longest wait between two attempts
        self.read_timeout = read_timeout  # the server sends a keep-alive every 15 s
        self.threaded = threaded
        self.last_id: str | None = None
        self.connects = 0             # streams opened (answered 200)
        self._token: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None      # where the stream is read
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._conn: asyncio.Task | None = None
        self._reloading: concurrent.futures.Future | None = None

    def start(self) -> None:
        """On the app's loop, once: start reading (when a token is set)."""
        if self._loop is not None:
            return
        self._app_loop = asyncio.get_running_loop()
        if not self.threaded:
            self._begin(self._app_loop, self.app_http)
            return
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            async def run() -> None:
                async with httpx.AsyncClient(base_url=self.app_http.base_url, timeout=30) as http:
                    self._begin(loop, http)
                    ready.set()
                    try:
                        await self._task
                    except asyncio.CancelledError:
                        pass
            try:
                loop.run_until_complete(run())
            finally:
                loop.close()
        self._thread = threading.Thread(target=main, name="pocketstack-events", daemon=True)
        self._thread.start()
        ready.wait(10)

    def _begin(self, loop: asyncio.AbstractEventLoop, http: httpx.AsyncClient) -> None:
        self.http = http
        self._changed = asyncio.Event()
        self._loop = loop
        self._task = loop.create_task(self._run())

    def stop(self) -> None:
        """Stop reading (from any thread; the app's loop may be gone already)."""
        loop, task = self._loop, self._task
        if loop is None or task is None:
            return
        if self._reloading is not None:
            self._reloading.cancel()
        if loop is self._app_loop:
            task.cancel()
        elif not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # the thread's loop is gone already

    async def close(self) -> None:
        self.stop()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)

    def set_token(self, token: str | None, resume: bool) -> None:
        """A new token (from the app's loop): reopen the stream with it. resume=False
        (another user or project) forgets the last id: that session's screens load their
        lists afresh."""
        if token == self._token:
            return
        self._token = token
        if self._loop is None:
            if not resume:
                self.last_id = None
            return
        try:
            self._loop.call_soon_threadsafe(self._token_changed, resume)
        except RuntimeError:
            pass  # closed

    def _token_changed(self, resume: bool) -> None:
        # on the stream's loop: no read is under way while the last id is forgotten
        if not resume:
            self.last_id = None
        assert self._changed is not None
        self._changed.set()
        if self._conn is not None:
            self._conn.cancel()

    async def _run(self) -> None:
        assert self._changed is not None
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
        assert self._changed is not None
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
        if self._app_loop is None or (self._reloading is not None and not self._reloading.done()):
            return
        self._reloading = asyncio.run_coroutine_threadsafe(self.reload(), self._app_loop)
