"""A traced service step, for services that must not know where traces are stored
(compute records its steps through the tracer it is given)."""
from __future__ import annotations

import time


class Step:
    """`async with Step(tracer, ctx, "compute", "spawning", uuid):` records start and end
    (with duration and failure) of one service step; tracer is anything with record()."""

    def __init__(self, tracer, ctx, service: str, step: str, instance_uuid: str | None,
                 detail: str | None = None):
        self.tracer, self.ctx, self.service, self.step = tracer, ctx, service, step
        self.uuid, self.detail = instance_uuid, detail

    async def __aenter__(self):
        self.t0 = time.perf_counter()
        self.tracer.record(service=self.service, kind="step", request_id=self.ctx.request_id,
                           instance_uuid=self.uuid, step=self.step, phase="start", detail=self.detail)
        return self

    async def __aexit__(self, et, ev, tb):
        ms = (time.perf_counter() - self.t0) * 1000
        self.tracer.record(service=self.service, kind="step", request_id=self.ctx.request_id,
                           instance_uuid=self.uuid, step=self.step, phase="end", duration_ms=ms,
                           detail=f"failed: {ev}" if ev else self.detail)
        return False
