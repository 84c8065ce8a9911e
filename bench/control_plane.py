"""Control-plane benchmark on the fake driver (prints a table; not a test).

  create->ACTIVE, 200 in a row through the facade      target p50 <= 10 ms, p99 <= 50 ms
  burst of 1,000 creates over 100 fake hosts           target >= 200 ACTIVE/s, 0 errors
  one scheduling decision at 100 / 1,000 / 10,000 hosts target <= 5 ms at 1,000, linear
  server-side GET /servers/detail with 1,000 servers   target <= 20 ms
  per build: SQL statements and conductor messages     (counted, no target)

Run: .venv/bin/python bench/control_plane.py [--only counts,sequential,burst,scheduler,list]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.core.config import Config  # noqa: E402
from backend.facade import Cloud  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def hosts_yaml(n, vcpus=64, mem=262144, disk=4000):
    return "hosts:\n" + "".join(
        f"  - {{name: h{i:05d}, address: 127.0.0.1, driver: fake, vcpus: {vcpus}, memory_mb: {mem}, "
        f"disk_gb: {disk}}}\n" for i in range(n))


async def make_cloud(tmp: Path, nhosts: int) -> tuple[Cloud, str, str]:
    (tmp / "hosts.yaml").write_text(hosts_yaml(nhosts))
    cfg = Config(home=tmp / "home", hosts_path=tmp / "hosts.yaml", password_hash_rounds=4,
                 quota_instances=100000, quota_cores=10 ** 7, quota_ram=10 ** 9, quota_defaults={"port": -1},
                 heartbeat_interval=30,
                 power_sync_interval=30, service_down_time=300)
    Cloud.init(cfg, "bench")
    cloud = Cloud(cfg)
    await cloud.start()
    tok = (await cloud.login("admin", "bench", "admin"))["token"]
    img = await cloud.create_image(tok, "bench", visibility="public")
    await cloud.upload_image(tok, img["id"], b"\0" * 1024)
    # a /16 so 1,000 instances get addresses
    net = await cloud.create_network(tok, "bench-net")
    await cloud.create_subnet(tok, net["id"], "10.8.0.0/16")
    return cloud, tok, img["id"], net["id"]


class ActiveWatcher:
    def __init__(self, cloud):
        self.done: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.waiters: dict[str, asyncio.Future] = {}
        cloud.subscribe(self.on_event)

    def on_event(self, e):
        if e["type"] != "instance":
            return
        s = e["server"]
        if s["status"] in ("ACTIVE", "ERROR") and s["task_state"] is None and s["id"] not in self.done:
            self.done[s["id"]] = time.perf_counter()
            if s["status"] == "ERROR":
                self.errors[s["id"]] = (s.get("fault") or {}).get("message", "")
            f = self.waiters.pop(s["id"], None)
            if f and not f.done():
                f.set_result(s["status"])


async def bench_sequential(rows):
    with tempfile.TemporaryDirectory() as d:
        cloud, tok, img, net = await make_cloud(Path(d), 3)
        w = ActiveWatcher(cloud)
        lat = []
        for i in range(200):
            t0 = time.perf_counter()
            s = (await cloud.create_server(tok, f"s{i}", img, "m1.nano", networks=[{"uuid": net}]))[0]
            fut = asyncio.get_running_loop().create_future()
            if s["id"] in w.done:
                fut.set_result(None)
            else:
                w.waiters[s["id"]] = fut
            await fut
            lat.append((w.done[s["id"]] - t0) * 1000)
        await cloud.stop()
    rows.append(("create->ACTIVE, 200 in a row (ms)", f"p50 {statistics.median(lat):.2f}",
                 f"p99 {pct(lat, 99):.2f}", "p50<=10, p99<=50", f"errors {len(w.errors)}"))


class CountingConn:
    """The database connection, counting statements (an executemany is one)."""

    def __init__(self, conn):
        self._conn, self.n = conn, 0

    def execute(self, *a):
        self.n += 1
        return self._conn.execute(*a)

    def executemany(self, *a):
        self.n += 1
        return self._conn.executemany(*a)

    def dicts(self, *a):  # PostgreSQL's rows as dicts (backend.core.pgsql)
        self.n += 1
        return self._conn.dicts(*a)

    def begin(self):  # PostgreSQL's BEGIN (and the write lock, in the same round trip)
        self.n += 1
        return self._conn.begin()

    def commit(self):
        self.n += 1
        return self._conn.commit()

    def __getattr__(self, name):
        return getattr(self._conn, name)


async def bench_counts(rows, n=50):
    """Per build: SQL statements (every service of the control plane, trace batches included)
    and messages on the bus (conductor calls and casts; all)."""
    with tempfile.TemporaryDirectory() as d:
        cloud, tok, img, net = await make_cloud(Path(d), 3)
        w = ActiveWatcher(cloud)
        rt = cloud._runtime

        async def build(name):
            s = (await cloud.create_server(tok, name, img, "m1.nano", networks=[{"uuid": net}]))[0]
            while s["id"] not in w.done:
                await asyncio.sleep(0.001)
        for i in range(3):
            await build(f"warm{i}")
        rt.tracer.flush()
        sent = []
        call, cast = rt.bus.call, rt.bus.cast

        async def counting_call(ctx, topic, method, timeout=None, **kw):
            sent.append(topic)
            return await call(ctx, topic, method, timeout=timeout, **kw)

        def counting_cast(ctx, topic, method, **kw):
            sent.append(topic)
            return cast(ctx, topic, method, **kw)
        rt.bus.call, rt.bus.cast = counting_call, counting_cast
        counter = rt.db.conn = CountingConn(rt.db.conn)
        for i in range(n):
            await build(f"c{i}")
        rt.tracer.flush()
        rt.db.conn = counter._conn
        rt.bus.call, rt.bus.cast = call, cast
        await cloud.stop()
    rows.append(("per build: SQL statements", f"{counter.n / n:.1f}", "", "",
                 f"{rt.db.engine}, {n} creates"))
    rows.append(("per build: conductor messages", f"{sent.count('conductor') / n:.1f}", "", "",
                 f"all bus messages {len(sent) / n:.1f}"))


async def bench_burst(rows):
    with tempfile.TemporaryDirectory() as d:
        cloud, tok, img, net = await make_cloud(Path(d), 100)
        w = ActiveWatcher(cloud)
        t0, cpu0 = time.perf_counter(), time.process_time()
        ids = []
        for i in range(1000):
            ids += [s["id"] for s in await cloud.create_server(tok, f"b{i}", img, "m1.nano",
                                                               networks=[{"uuid": net}])]
        while len(w.done) < 1000:
            await asyncio.sleep(0.01)
        wall, cpu = max(w.done.values()) - t0, time.process_time() - cpu0
        await cloud.stop()
    # per CPU-second: what the code costs, whatever else the machine runs meanwhile
    rows.append(("burst 1,000 creates / 100 hosts", f"{1000 / wall:.0f} ACTIVE/s", f"wall {wall:.2f} s",
                 ">=200/s, 0 errors", f"errors {len(w.errors)}, {1000 / cpu:.0f} ACTIVE per CPU-s"))


async def bench_list(rows):
    import httpx
    from backend.api import create_app
    with tempfile.TemporaryDirectory() as d:
        cloud, tok, img, net = await make_cloud(Path(d), 20)
        w = ActiveWatcher(cloud)
        for i in range(100):
            await cloud.create_server(tok, f"l{i}", img, "m1.nano", networks=[{"uuid": net}], min_count=10,
                                      max_count=10)
        while len(w.done) < 1000:
            await asyncio.sleep(0.01)
        app = create_app(cloud)
        lat = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
            for _ in range(30):
                t0 = time.perf_counter()
                r = await c.get("/compute/v2.1/servers/detail", headers={"X-Auth-Token": tok})
                lat.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200 and len(r.json()["servers"]) == 1000, r.text[:200]
        await cloud.stop()
    rows.append(("GET /servers/detail, 1,000 servers (ms)", f"p50 {statistics.median(lat):.2f}",
                 f"p99 {pct(lat, 99):.2f}", "<=20", "in-process ASGI, no socket"))


def bench_scheduler(rows):
    from backend.scheduler import HostState, RequestSpec, SchedulerConfig, select_destinations
    conf = SchedulerConfig()
    for n in (100, 1000, 10000):
        hosts = [HostState(name=f"h{i}", availability_zone="nova", up=True, enabled=True, vcpus=32,
                           memory_mb=65536, disk_gb=1000, vcpus_used=i % 30, memory_mb_used=(i * 512) % 60000,
                           disk_gb_used=i % 900, num_instances=i % 40) for i in range(n)]
        spec = RequestSpec(instance_uuid="x", vcpus=1, memory_mb=512, disk_gb=1)
        lat = []
        for _ in range(50 if n < 10000 else 15):
            t0 = time.perf_counter()
            select_destinations(spec, hosts, conf)
            lat.append((time.perf_counter() - t0) * 1000)
        rows.append((f"scheduling decision, {n:,} hosts (ms)", f"p50 {statistics.median(lat):.2f}",
                     f"p99 {pct(lat, 99):.2f}", "<=5 at 1,000", ""))


PARTS = {"counts": lambda rows: asyncio.run(bench_counts(rows)),
         "sequential": lambda rows: asyncio.run(bench_sequential(rows)),
         "burst": lambda rows: asyncio.run(bench_burst(rows)),
         "scheduler": bench_scheduler,
         "list": lambda rows: asyncio.run(bench_list(rows))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(PARTS), help=f"parts to run, comma separated: {', '.join(PARTS)}")
    a = ap.parse_args()
    parts = [p.strip() for p in a.only.split(",") if p.strip()]
    for p in parts:
        if p not in PARTS:
            ap.error(f"--only: unknown part {p!r}: one of {', '.join(PARTS)}")
    rows = []
    for p in parts:
        PARTS[p](rows)
    w = [max(len(str(r[i])) for r in rows) for i in range(5)]
    head = ("measure", "median", "tail", "target", "note")
    w = [max(a, len(b)) for a, b in zip(w, head)]
    print("  ".join(h.ljust(x) for h, x in zip(head, w)))
    print("  ".join("-" * x for x in w))
    for r in rows:
        print("  ".join(str(c).ljust(x) for c, x in zip(r, w)))


if __name__ == "__main__":
    main()
