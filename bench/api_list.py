"""Server-side time of GET /compute/v2.1/servers/detail with 1,000 servers (target <= 20 ms).

A real Cloud on 50 fake hosts in a temporary state directory; 1,000 servers are created
through the facade and left ACTIVE; then the ASGI app is called directly (no socket, no
client), timing from the call to the last body byte. Prints a table; not a test.

    .venv/bin/python bench/api_list.py [--servers 1000] [--runs 50]
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

from backend.api import create_app  # noqa: E402
from backend.core.config import Config  # noqa: E402
from backend.facade import Cloud  # noqa: E402


async def asgi_get(app, path: str, token: str) -> tuple[int, int, float]:
    """One request straight into the ASGI app: (status, body bytes, seconds)."""
    p, _, q = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": p, "raw_path": p.encode(), "query_string": q.encode(),
             "root_path": "", "server": ("127.0.0.1", 8774), "client": ("127.0.0.1", 50000),
             "headers": [(b"host", b"127.0.0.1:8774"), (b"x-auth-token", token.encode())]}
    status, size, done = 0, 0, asyncio.Event()

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg):
        nonlocal status, size
        if msg["type"] == "http.response.start":
            status = msg["status"]
        elif msg["type"] == "http.response.body":
            size += len(msg.get("body", b""))
            if not msg.get("more_body"):
                done.set()

    t0 = time.perf_counter()
    await app(scope, receive, send)
    await done.wait()
    return status, size, time.perf_counter() - t0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def main(n_servers: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hosts = "hosts:\n" + "".join(
            f"  - {{name: fake-{i:02d}, address: 127.0.0.1, driver: fake, vcpus: 64, "
            f"memory_mb: 262144, disk_gb: 4000}}\n" for i in range(50))
        (tmp / "hosts.yaml").write_text(hosts)
        config = Config(home=tmp / "home", hosts_path=tmp / "hosts.yaml", password_hash_rounds=4,
                        quota_instances=n_servers, quota_cores=n_servers * 4,
                        quota_ram=n_servers * 512, quota_defaults={"port": -1})
        Cloud.init(config, "secret")
        cloud = Cloud(config)
        await cloud.start()
        try:
            token = (await cloud.login("admin", "secret", "admin"))["token"]
            img = await cloud.create_image(token, "bench", visibility="public")
            await cloud.upload_image(token, img["id"], b"\0" * 4096)
            # the default 'private' /24 holds 253 addresses: a /20 for the crowd
            net = await cloud.create_network(token, "bench-net")
            await cloud.create_subnet(token, net["id"], "10.64.0.0/20", "bench-sub")
            t0 = time.perf_counter()
            for start in range(0, n_servers, 100):
                k = min(100, n_servers - start)
                await cloud.create_server(token, f"b{start}", img["id"], "m1.nano",
                                          networks=[{"uuid": net["id"]}], min_count=k, max_count=k)
            while True:
                servers = await cloud.list_servers(token)
                building = sum(1 for s in servers if s["status"] == "BUILD")
                if not building:
                    break
                await asyncio.sleep(0.1)
            active = sum(1 for s in servers if s["status"] == "ACTIVE")
            print(f"{len(servers)} servers ({active} ACTIVE) made in {time.perf_counter() - t0:.1f} s")

            app = create_app(cloud)
            rows = []
            cases = [("facade list_servers (no HTTP)", None),
                     ("GET /servers/detail", "/compute/v2.1/servers/detail"),
                     ("GET /servers (brief)", "/compute/v2.1/servers"),
                     ("GET /servers/detail?limit=100", "/compute/v2.1/servers/detail?limit=100")]
            for label, path in cases:
                times, size, status = [], 0, 200
                for i in range(runs + 3):
                    if path is None:
                        t = time.perf_counter()
                        await cloud.list_servers(token, limit=1001)
                        dt = time.perf_counter() - t
                    else:
                        status, size, dt = await asgi_get(app, path, token)
                        assert status == 200, status
                    if i >= 3:  # warm-up runs dropped
                        times.append(dt * 1000)
                rows.append((label, statistics.median(times), pct(times, 99), size))
        finally:
            await cloud.stop()
    print(f"\nserver-side time, {n_servers} servers, {runs} runs each (target GET /servers/detail <= 20 ms)")
    print(f"{'request':34} {'median ms':>10} {'p99 ms':>10} {'body bytes':>12}")
    for label, med, p99, size in rows:
        print(f"{label:34} {med:10.2f} {p99:10.2f} {size or '':>12}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=50)
    a = ap.parse_args()
    asyncio.run(main(a.servers, a.runs))
