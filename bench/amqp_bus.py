"""The AMQP bus over a real RabbitMQ node of our own (started here on free ports, stopped at
the end): call round trip (sequential, p50/p99) and confirmed persistent cast throughput to a
compute.<host> queue, served by a second connection. The in-process bus with JSON
serialisation alongside, for scale. Prints a table; not a test.

    .venv/bin/python bench/amqp_bus.py [--calls 2000] [--casts 10000]
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.core.context import RequestContext  # noqa: E402
from backend.messaging.amqp import AMQPBus  # noqa: E402
from backend.messaging.inproc import InProcessBus  # noqa: E402
from backend.messaging.rabbit import RabbitNode  # noqa: E402

CTX = RequestContext("u-1", "alice", "p-1", "demo", ("member",))


class Endpoint:
    def __init__(self):
        self.n = 0
        self.done = asyncio.Event()
        self.want = 0

    async def ping(self, ctx, value):
        return value

    async def build(self, ctx, instance_uuid):
        self.n += 1
        if self.n >= self.want:
            self.done.set()


class _NoTrace:
    def record(self, **kw):
        pass


async def measure(server, client, calls: int, casts: int, label: str) -> list[str]:
    ep = Endpoint()
    server.register("conductor", ep)
    server.register("compute.bench-1", ep)
    if isinstance(server, AMQPBus):
        await server.ready()
    for _ in range(50):  # warm up
        await client.call(CTX, "conductor", "ping", value=1)
    rtt = []
    for i in range(calls):
        t0 = time.perf_counter()
        await client.call(CTX, "conductor", "ping", value=i)
        rtt.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(rtt, n=100)
    ep.want = casts
    t0 = time.perf_counter()
    for i in range(casts):
        client.cast(CTX, "compute.bench-1", "build", instance_uuid=f"uuid-{i}")
    await client.drain(600)
    sent = time.perf_counter() - t0
    await asyncio.wait_for(ep.done.wait(), 600)
    served = time.perf_counter() - t0
    return [f"| {label} | {statistics.median(rtt):.3f} | {q[98]:.3f} | {casts / sent:,.0f} | {casts / served:,.0f} |"]


async def main(calls: int, casts: int):
    rows = ["| bus | call p50 ms | call p99 ms | casts/s sent (confirmed) | casts/s served |",
            "|---|---:|---:|---:|---:|"]
    inproc = InProcessBus(_NoTrace(), serialize=True)
    rows += await measure(inproc, inproc, calls, casts, "in process, JSON")
    d = Path(tempfile.mkdtemp(prefix="pocketstack-rabbit-"))
    node = await asyncio.to_thread(RabbitNode(d).start)
    try:
        server = await AMQPBus(node.url).connect()
        client = await AMQPBus(node.url).connect()
        rows += await measure(server, client, calls, casts, "RabbitMQ 3.10 (aio-pika), 2 connections")
        await client.close()
        await server.close()
    finally:
        await asyncio.to_thread(node.stop)
        shutil.rmtree(d, ignore_errors=True)
    print(f"{calls} sequential calls, {casts} casts (persistent, confirmed) to compute.<host>")
    print("\n".join(rows))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--casts", type=int, default=10000)
    a = ap.parse_args()
    asyncio.run(main(a.calls, a.casts))
