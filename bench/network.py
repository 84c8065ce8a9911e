"""Tenant-network plumbing on a throw-away local lab (a whole cloud, real qemu, warm image
cache): create -> every port ACTIVE, create -> every server ACTIVE, and create -> the first
ping answered (from the network's DHCP namespace on the network node), for 1 and 4 guests,
with the plumbing (`vif: bridge`: taps on VXLAN bridges through the privileged helper, the
network-vif-plugged wait) and without it (`vif: user`, no network node). Also the build's
'plug vifs' step as the trace records it. Needs root (the lab). Not a test.

    flock /tmp/pocketstack-real.lock .venv/bin/python bench/network.py
"""
from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.cli.tiny import register_with_cloud  # noqa: E402
from backend.core.config import Config  # noqa: E402
from backend.facade import Cloud  # noqa: E402
from backend.lab import lab  # noqa: E402
from backend.lab.guestimage import build_tiny  # noqa: E402

REPEATS = 3


def answers(netns: str, ip: str) -> bool:
    """One echo from the namespace (busybox's ping: this machine may have no iputils)."""
    return subprocess.run(["ip", "netns", "exec", netns, "busybox", "ping", "-c", "1", "-W", "1", ip],
                          capture_output=True).returncode == 0


async def one_round(cloud, tok, n: int, plumb: bool) -> dict:
    t0 = time.perf_counter()
    made = await cloud.create_server(tok, "bench", "tiny", "m1.nano", min_count=n, max_count=n)
    ids = [s["id"] for s in made]
    port_at, active_at, ping_at, ips = {}, {}, {}, {}
    end = t0 + 120
    while len(active_at) < n or (plumb and len(ping_at) < n):
        assert time.perf_counter() < end, "no progress in 120 s"
        for p in await cloud.list_ports(tok):
            if p["device_id"] in ids and p["status"] == "ACTIVE" and p["device_id"] not in port_at:
                port_at[p["device_id"]] = time.perf_counter() - t0
                ips[p["device_id"]] = (p["network_id"], p["fixed_ips"][0]["ip_address"])
        for sid in ids:
            if sid not in active_at:
                s = await cloud.get_server(tok, sid)
                assert s["status"] != "ERROR", s.get("fault")
                if s["status"] == "ACTIVE" and s["task_state"] is None:
                    active_at[sid] = time.perf_counter() - t0
            if plumb and sid in active_at and sid not in ping_at:
                net, ip = ips[sid]
                if await asyncio.to_thread(answers, f"qdhcp-{net}", ip):
                    ping_at[sid] = time.perf_counter() - t0
        await asyncio.sleep(0.01)
    plug = [t["duration_ms"] for sid in ids for t in await cloud.get_trace(tok, sid)
            if t["kind"] == "step" and t["step"] == "plug vifs" and t["phase"] == "end"]
    for sid in ids:
        await cloud.delete_server(tok, sid)
    while await cloud.list_servers(tok):
        await asyncio.sleep(0.05)
    return {"port": max(port_at.values()), "active": max(active_at.values()),
            "ping": max(ping_at.values()) if plumb else None,
            "plug_ms": statistics.mean(plug) if plug else 0.0}


async def scenario(hosts_path: Path, home: Path, tiny, plumb: bool) -> dict:
    config = Config(home=home, hosts_path=hosts_path, password_hash_rounds=4, heartbeat_interval=0.5,
                    power_sync_interval=1.0)
    Cloud.init(config, "secret")
    cloud = Cloud(config)
    await cloud.start()
    try:
        tok = (await cloud.login("admin", "secret", "admin"))["token"]
        await register_with_cloud(cloud, tok, tiny)
        await one_round(cloud, tok, 2, plumb)  # warm: both hosts cache the image
        out = {}
        for n in (1, 4):
            rounds = [await one_round(cloud, tok, n, plumb) for _ in range(REPEATS)]
            out[n] = {k: (statistics.median(r[k] for r in rounds) if rounds[0][k] is not None else None)
                      for k in rounds[0]}
        return out
    finally:
        await cloud.stop()


def main() -> None:
    tiny = build_tiny(str(Path.home() / ".cache/pocketstack-tests/tiny"))
    home = Path(tempfile.mkdtemp(prefix="pocketstack-bench-net-"))
    try:
        lab.up(home, hosts=2, log=lambda m: None)
        with_path = lab.hosts_file(home)
        data = yaml.safe_load(with_path.read_text())
        for h in data["hosts"]:
            h["vif"] = "user"
        data.pop("network_node", None)
        without_path = home / "hosts-user-nic.yaml"
        without_path.write_text(yaml.safe_dump(data))
        res = {"bridge": asyncio.run(scenario(with_path, home / "c1", tiny, True)),
               "user": asyncio.run(scenario(without_path, home / "c2", tiny, False))}
    finally:
        lab.down(home, purge=True, log=lambda m: None)
        shutil.rmtree(home, ignore_errors=True)
    print(f"median of {REPEATS} rounds, seconds from create (slowest guest of the round); TCG guests")
    print(f"{'vif':8} {'guests':>6} {'port ACTIVE':>12} {'server ACTIVE':>14} {'first ping':>11} {'plug step ms':>13}")
    for vif, by_n in res.items():
        for n, r in by_n.items():
            ping = f"{r['ping']:.3f}" if r["ping"] is not None else "-"
            print(f"{vif:8} {n:>6} {r['port']:>12.3f} {r['active']:>14.3f} {ping:>11} {r['plug_ms']:>13.1f}")
    for n in (1, 4):
        extra = (res["bridge"][n]["active"] - res["user"][n]["active"]) * 1000
        print(f"plumbing's share of create -> ACTIVE, {n} guest(s): {extra:+.0f} ms")


if __name__ == "__main__":
    main()
