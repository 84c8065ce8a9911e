"""Pushed events, coalesced. The facade calls us on the backend loop (we must not block
there), so events go into a locked buffer and the app loop flushes it once per tick:
many changes to one instance within a tick become one row update."""
from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Batch:
    servers: dict[str, dict] = field(default_factory=dict)   # id -> latest server view
    all_servers: dict[str, dict] = field(default_factory=dict)  # before the project filter
    hosts: dict[str, dict] = field(default_factory=dict)     # host name -> latest view
    traces: list[dict] = field(default_factory=list)         # a log: every record kept
    actions: list[dict] = field(default_factory=list)        # {"instance_uuid", "event"}
    events: int = 0

    def __bool__(self) -> bool:
        return bool(self.servers or self.hosts or self.traces or self.actions)


class EventPump:
    """push() from any thread; handler(batch) runs on the app loop at most once per tick."""

    def __init__(self, handler: Callable[[Batch], Any], tick: float = 0.05) -> None:
        self.handler = handler
        self.tick = tick
        self._lock = threading.Lock()
        self._batch = Batch()
        self._armed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ctx: contextvars.Context | None = None
        self.flushes = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Call on the app's loop: flushes then run in the app's context (Textual keeps the
        active app in a context variable; timers set from a flush need it)."""
        self._loop = loop
        self._ctx = contextvars.copy_context()

    def run_in_app(self, fn, *args):
        """Run fn in the app's context (for callers outside the app, like the bench)."""
        return self._ctx.run(fn, *args) if self._ctx else fn(*args)

    def push(self, event: dict) -> None:
        kind = event.get("type")
        with self._lock:
            b = self._batch
            b.events += 1
            if kind == "instance":
                b.servers[event["server"]["id"]] = event["server"]
            elif kind == "host":
                b.hosts[event["host"]["name"]] = event["host"]
            elif kind == "trace":
                b.traces.append(event["trace"])
            elif kind == "action":
                b.actions.append(event)
            else:
                return
            if self._armed or self._loop is None:
                return
            self._armed = True
        try:
            self._loop.call_soon_threadsafe(self._arm, context=self._ctx)
        except RuntimeError:
            pass  # the app's loop is closed: the app is gone

    def _arm(self) -> None:
        assert self._loop is not None
        self._loop.call_later(self.tick, self.flush, context=self._ctx)

    def take(self) -> Batch:
        with self._lock:
            batch, self._batch = self._batch, Batch()
            self._armed = False
        return batch

    def flush(self) -> None:
        batch = self.take()
        if batch:
            self.flushes += 1
            self.handler(batch)
