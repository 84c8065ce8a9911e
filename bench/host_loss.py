"""A host cut off the network mid-build, on a throw-away local lab (needs root). Prints how
long it takes until the calls in flight know the link is dead, and until four builds cut
mid-spawn are rescheduled and ACTIVE on the other host. Not a test (the outcomes are tested
in tests/real/test_host_loss.py and tests/test_host_partition.py).

    flock /tmp/pocketstack-real.lock .venv/bin/python bench/host_loss.py
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.lab import lab  # noqa: E402
from backend.lab.guestimage import build_tiny  # noqa: E402
from backend.virt.qemu.hostlink import HostLink  # noqa: E402
from backend.core.hosts import load_hosts  # noqa: E402
from backend.lab.guestimage import file_sha256  # noqa: E402
from backend.virt.driver import ImageFile  # noqa: E402
from backend.virt.qemu.driver import QemuDriver  # noqa: E402


def cut(h, down: bool) -> None:
    subprocess.run(["ip", "-n", h.netns, "link", "set", "eth0", "down" if down else "up"], check=True)


def link_row(h) -> float:
    """A command in flight when the link goes: seconds until it ends (LinkDead)."""
    link = HostLink(h)
    link.run(["true"])
    ended = []
    t = threading.Thread(target=lambda: ended.append(_run(link)))
    t.start()
    time.sleep(0.5)  # the command is running on the host (a bench may sleep)
    t0 = time.perf_counter()
    cut(h, True)
    t.join(120)
    took = time.perf_counter() - t0
    cut(h, False)
    while not link.ping():
        time.sleep(0.2)
    link.close()
    assert ended and ended[0] == "LinkDead", ended
    return took


def _run(link) -> str:
    try:
        link.run(["sleep", "60"])
        return "finished"
    except Exception as e:  # noqa: BLE001
        return type(e).__name__


async def cloud_rows(home: Path, hosts) -> list[tuple[str, float]]:
    from backend.cli.tiny import register_with_cloud
    from backend.core.config import Config
    from backend.facade import Cloud
    x, y = hosts[1], hosts[0]
    doc = yaml.safe_load(lab.hosts_file(home).read_text())
    for e in doc["hosts"]:  # all four builds go to x first, y is their alternate
        e["memory_mb"] = 65536 if e["name"] == x.name else 4096
    hp = home / "bench-hosts.yaml"
    hp.write_text(yaml.safe_dump(doc))
    config = Config(home=home / "cloud", hosts_path=hp, password_hash_rounds=4)
    Cloud.init(config, "bench")
    cloud = Cloud(config)
    await cloud.start()
    tok = (await cloud.login("admin", "bench", "admin"))["token"]
    tiny = build_tiny(os.environ.get("POCKETSTACK_TINY_CACHE") or
                      str(Path.home() / ".cache/pocketstack-tests/tiny"))
    await register_with_cloud(cloud, tok, tiny)
    warm = QemuDriver(x, None)  # x has the images cached: the cut comes during the spawn proper
    for path, fmt in ((tiny.kernel, "aki"), (tiny.ramdisk, "ari"), (tiny.disk, "raw")):
        await warm._ensure_base(ImageFile(Path(path).name, path, file_sha256(path),
                                          os.path.getsize(path), fmt))
    await warm.close()
    veth = lab._names(lab.lab_id(home), 2)["veth"]
    subprocess.run(["tc", "qdisc", "add", "dev", veth, "root", "tbf", "rate", "512kbit",
                    "burst", "16kb", "latency", "500ms"], check=True)
    try:
        made = await cloud.create_server(tok, "cut", "tiny", "m1.nano", min_count=4, max_count=4)
        ids = [s["id"] for s in made]
        end = time.perf_counter() + 300
        while time.perf_counter() < end:
            ss = [await cloud.get_server(tok, i) for i in ids]
            if all(s["task_state"] == "spawning" and s["host"] == x.name for s in ss) and all(
                    (Path(x.state_dir) / "instances" / i / "disk.qcow2").exists() for i in ids):
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("the four builds never were spawning on the host to cut")
        t0 = time.perf_counter()
        cut(x, True)
        moved, active = {}, {}
        while len(active) < len(ids):
            if time.perf_counter() - t0 > 300:
                raise RuntimeError(f"not all ACTIVE in 300 s: {len(active)} of {len(ids)}")
            for i in ids:
                s = await cloud.get_server(tok, i)
                if s["status"] == "ERROR":
                    raise RuntimeError(f"{i}: {s.get('fault')}")
                if i not in moved and s["host"] != x.name:
                    moved[i] = time.perf_counter() - t0
                if s["status"] == "ACTIVE" and s["task_state"] is None and i not in active:
                    active[i] = time.perf_counter() - t0
            await asyncio.sleep(0.05)
        return [("4 builds cut mid-spawn: all rescheduled (left the cut host)", max(moved.values())),
                ("4 builds cut mid-spawn: all ACTIVE on the other host", max(active.values()))]
    finally:
        subprocess.run(["tc", "qdisc", "del", "dev", veth, "root"], check=False)
        cut(x, False)
        for s in await cloud.list_servers(tok, all_projects=True):
            await cloud.delete_server(tok, s["id"])
        await cloud.stop()


async def main() -> None:
    load0 = f"{os.getloadavg()[0]:.2f}"
    home = Path(tempfile.mkdtemp(prefix="pocketstack-bench-"))
    try:
        lab.up(home, hosts=2, log=lambda m: None)
        hosts = load_hosts(lab.hosts_file(home))
        if not all(h.netns for h in hosts):
            raise SystemExit("the lab runs on loopback ports here: no link to cut")
        rows = [("a command in flight: LinkDead after the cut", link_row(hosts[1]))]
        rows += await cloud_rows(home, hosts)
    finally:
        lab.down(home, purge=True, log=lambda m: None)
        shutil.rmtree(home, ignore_errors=True)
    print(f"host loss (load {load0} at start; HostLink dead_after 10 s, keepalive 2 s)")
    for label, secs in rows:
        print(f"  {label:<62} {secs:6.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
