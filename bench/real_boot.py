"""Real boots on a throw-away local lab (driver level: QemuDriver over SSH, qemu under the
accelerator the probe picks). Prints a table. Needs root (the lab). Not a test.

    .venv/bin/python bench/real_boot.py
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.lab import lab

from backend.core import power_state  # noqa: E402
from backend.lab.guestimage import MARKER, build_tiny, file_sha256  # noqa: E402
from backend.virt.qemu.hostlink import HostLink  # noqa: E402
from backend.core.hosts import load_hosts  # noqa: E402
from backend.virt.driver import GuestSpec, ImageFile  # noqa: E402
from backend.virt.qemu.driver import QemuDriver  # noqa: E402


def images(cache: str) -> dict:
    t = build_tiny(cache)
    f = lambda p, fmt: ImageFile(Path(p).name, p, file_sha256(p), os.path.getsize(p), fmt)  # noqa
    return {"image": f(t.disk, "raw"), "kernel": f(t.kernel, "aki"),
            "ramdisk": f(t.ramdisk, "ari"), "kernel_cmdline": t.cmdline}


def spec(imgs: dict, i: int) -> GuestSpec:
    return GuestSpec(uuid=str(uuid.uuid4()), name=f"bench-{i}", hostname=f"bench-{i}",
                     project_id="bench", availability_zone="nova", vcpus=1, memory_mb=128,
                     root_gb=1, network_info=[{"port_id": f"p{i}", "mac_address":
                     f"fa:16:3e:00:01:{i:02x}", "fixed_ip": f"10.0.0.{50 + i}", "cidr":
                     "10.0.0.0/24", "gateway": "10.0.0.1", "prefixlen": 24}], **imgs)


async def boot(d: QemuDriver, g: GuestSpec) -> tuple[float, float]:
    t0 = time.perf_counter()
    await d.spawn(g)
    running = time.perf_counter() - t0
    assert await d.get_power_state(g.uuid) == power_state.RUNNING
    while MARKER not in await d.get_console_output(g.uuid):
        if time.perf_counter() - t0 > 60:
            raise RuntimeError(f"{g.uuid}: no boot marker in 60 s")
        await asyncio.sleep(0.05)
    return running, time.perf_counter() - t0


async def scenario(host, imgs, n: int, cold: bool) -> dict:
    d = QemuDriver(host, None)  # a fresh driver: nothing remembered about the host's cache
    await d.get_host_capabilities()
    if cold:
        d.link.run(["sh", "-c", 'rm -rf "$1"/_base/* ', "sh", d._state_dir()])
    gs = [spec(imgs, i) for i in range(n)]
    try:
        res = await asyncio.gather(*(boot(d, g) for g in gs))
    finally:
        await asyncio.gather(*(d.destroy(g.uuid) for g in gs))
        await d.close()
    return {"running": max(r[0] for r in res), "marker": max(r[1] for r in res),
            "bytes": d.image_bytes_sent, "accel": d.accelerator}


def rtt(host, n: int = 30) -> tuple[float, float]:
    kept = HostLink(host)
    kept.run(["true"])
    t0 = time.perf_counter()
    for _ in range(n):
        kept.run(["true"])
    k = (time.perf_counter() - t0) / n
    kept.close()
    t0 = time.perf_counter()
    for _ in range(n // 3):
        fresh = HostLink(host)
        fresh.run(["true"])
        fresh.close()
    return k, (time.perf_counter() - t0) / (n // 3)


async def cloud_rows(home: Path, hosts, cache: str) -> list:
    """The same through the whole flow: facade create -> ACTIVE, and -> boot marker."""
    from backend.cli.tiny import register_with_cloud
    from backend.core.config import Config
    from backend.facade import Cloud
    for h in hosts:  # cold: empty every host's image cache
        link = HostLink(h)
        link.run(["sh", "-c", 'rm -rf "$1"/_base/*', "sh", h.state_dir])
        link.close()
    config = Config(home=home / "cloud", hosts_path=lab.hosts_file(home), password_hash_rounds=4)
    Cloud.init(config, "bench")
    cloud = Cloud(config)
    await cloud.start()
    tok = (await cloud.login("admin", "bench", "admin"))["token"]
    await register_with_cloud(cloud, tok, build_tiny(cache))
    rows = []
    try:
        for label, n in (("cold", 1), ("warm", 1), ("warm", 4)):
            t0 = time.perf_counter()
            made = await cloud.create_server(tok, f"b-{label}-{n}", "tiny", "m1.nano",
                                             min_count=n, max_count=n)
            active, marker = {}, {}
            while len(marker) < n:
                for s in made:
                    sid = s["id"]
                    if sid not in active:
                        v = await cloud.get_server(tok, sid)
                        if v["status"] == "ERROR":
                            raise RuntimeError(f"{sid}: {v.get('fault')}")
                        if v["status"] == "ACTIVE":
                            active[sid] = time.perf_counter() - t0
                    elif sid not in marker and MARKER in await cloud.get_console_output(tok, sid):
                        marker[sid] = time.perf_counter() - t0
                if time.perf_counter() - t0 > 90:
                    raise RuntimeError("no boot marker in 90 s")
                await asyncio.sleep(0.02)
            rows.append((f"create {n} at once, {label}", max(active.values()), max(marker.values())))
            for s in made:
                await cloud.delete_server(tok, s["id"])
            await asyncio.sleep(1)
    finally:
        await cloud.stop()
    return rows


async def main() -> None:
    load0 = f"{os.getloadavg()[0]:.2f}"
    home = Path(tempfile.mkdtemp(prefix="pocketstack-bench-"))
    try:
        lab.up(home, hosts=2, log=lambda m: None)
        hosts = load_hosts(lab.hosts_file(home))
        imgs = images(os.environ.get("POCKETSTACK_TINY_CACHE") or
                      str(Path.home() / ".cache/pocketstack-tests/tiny"))
        rows = []
        for n, cold in ((1, True), (1, False), (4, True), (4, False)):
            host = hosts[0] if n == 1 else hosts[1]
            runs = [await scenario(host, imgs, n, cold) for _ in range(1 if cold else 3)]
            r = sorted(runs, key=lambda x: x["marker"])[len(runs) // 2]  # the median run
            rows.append((f"{n} at once, {'cold' if cold else 'warm'} cache", r))
        k, f = rtt(hosts[0])
        crows = await cloud_rows(home, hosts, os.environ.get("POCKETSTACK_TINY_CACHE") or
                                 str(Path.home() / ".cache/pocketstack-tests/tiny"))
    finally:
        lab.down(home, purge=True, log=lambda m: None)
        shutil.rmtree(home, ignore_errors=True)
    print(f"load average before/after: {load0} / {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores (TCG boots are CPU-bound; warm rows are medians of 3)\n")
    print(f"{'scenario':<24} {'spawn->running':>15} {'spawn->marker':>14} {'image bytes':>12}  accel")
    for name, r in rows:
        print(f"{name:<24} {r['running']:>14.2f}s {r['marker']:>13.2f}s {r['bytes']:>12}  {r['accel']}")
    print(f"\n{'whole flow (facade)':<24} {'create->ACTIVE':>15} {'create->marker':>14}")
    for name, a, m in crows:
        print(f"{name:<24} {a:>14.2f}s {m:>13.2f}s")
    print(f"\ncommand round trip: kept connection {k * 1000:.1f} ms, fresh connection "
          f"{f * 1000:.1f} ms, ratio {f / k:.1f}x")
    print("targets: warm create->ACTIVE <= 1 s; boot marker <= 3.5 s (warm, 1 at once); "
          "warm sends 0 image bytes; kept connection >= 5x faster")


if __name__ == "__main__":
    asyncio.run(main())
