"""The in-process bus: the embedded default, on the asyncio loop of the one process. Every
message is recorded as a trace event.

serialize=True (a test mode) sends every context, argument and reply through JSON as a broker
would, so nothing that cannot cross a process boundary gets in before a broker does."""
from __future__ import annotations

import asyncio
import json
import logging
import time

from backend.core.context import RequestContext
from backend.messaging.bus import Bus, MessagingTimeout, NoSuchTopic
from backend.messaging.events import Tracer

log = logging.getLogger(__name__)


def _wire(value, what: str):
    """value as the other end of a broker would see it; TypeError names what could not go."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what} cannot cross the bus: {e}") from None


class InProcessBus(Bus):
    def __init__(self, tracer: Tracer, serialize: bool = False):
        self.tracer = tracer
        self.serialize = serialize
        self._endpoints: dict[str, object] = {}
        self._tasks: set[asyncio.Task] = set()

    def _send(self, ctx: RequestContext, topic: str, method: str, kwargs: dict):
        if not self.serialize:
            return ctx, kwargs
        return (RequestContext.from_dict(_wire(ctx.to_dict(), f"the context of {topic}.{method}")),
                {k: _wire(v, f"argument {k!r} of {topic}.{method}") for k, v in kwargs.items()})

    def register(self, topic: str, endpoint: object) -> None:
        self._endpoints[topic] = endpoint

    def unregister(self, topic: str) -> None:
        self._endpoints.pop(topic, None)

    def has_topic(self, topic: str) -> bool:
        return topic in self._endpoints

    def _method(self, topic: str, method: str):
        ep = self._endpoints.get(topic)
        if ep is None:
            raise NoSuchTopic(f"no service listens on topic {topic!r}")
        return getattr(ep, method)

    def _trace(self, ctx: RequestContext, kind: str, topic: str, method: str, kwargs: dict,
               duration_ms: float | None = None, detail: str | None = None):
        self.tracer.record(service="queue", kind=kind, request_id=ctx.request_id,
                           instance_uuid=kwargs.get("instance_uuid"), topic=topic, method=method,
                           duration_ms=duration_ms, detail=detail)

    def cast(self, ctx: RequestContext, topic: str, method: str, *, undelivered=None, **kwargs) -> None:
        if undelivered is not None and topic not in self._endpoints:
            why = f"no service listens on topic {topic!r}"
            self._trace(ctx, "error", topic, method, kwargs, detail=why)
            asyncio.get_running_loop().call_soon(undelivered, why)
            return
        fn = self._method(topic, method)
        self._trace(ctx, "cast", topic, method, kwargs)
        ctx, kwargs = self._send(ctx, topic, method, kwargs)
        task = asyncio.get_running_loop().create_task(self._run_cast(fn, ctx, topic, method, kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_cast(self, fn, ctx, topic, method, kwargs):
        try:
            await fn(ctx, **kwargs)
        except Exception as e:  # a cast has nobody to answer to: log and trace it
            log.exception("cast %s.%s failed", topic, method)
            self._trace(ctx, "error", topic, method, kwargs, detail=f"{type(e).__name__}: {e}")

    async def call(self, ctx: RequestContext, topic: str, method: str, timeout: float | None = None,
                   **kwargs):
        """timeout: for calls that do remote work (compute hosts); in-process services answer
        or fail by themselves. The context is immutable, so it is passed as it is."""
        fn = self._method(topic, method)
        self._trace(ctx, "call", topic, method, kwargs)
        sctx, skw = self._send(ctx, topic, method, kwargs)
        t0 = time.perf_counter()
        try:
            if timeout is None:
                reply = await fn(sctx, **skw)
            else:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                async with asyncio.timeout(timeout):
                    reply = await fn(sctx, **skw)
            return _wire(reply, f"the reply of {topic}.{method}") if self.serialize else reply
        except TimeoutError:
            raise MessagingTimeout(f"no reply from {topic}.{method} within {timeout} s") from None
        finally:
            self._trace(ctx, "reply", topic, method, kwargs, (time.perf_counter() - t0) * 1000)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for in-flight casts (used at shutdown and by tests)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    def cancel_all(self) -> None:
        for t in list(self._tasks):
            t.cancel()
