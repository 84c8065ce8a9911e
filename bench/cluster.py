"""The cluster deployment on the fake driver (`pocketstack cluster up`: a RabbitMQ node of our
own, conductor, scheduler, api and N compute processes, started here and stopped at the end):

- create -> ACTIVE over REST, one at a time: p50/p99 from the POST to the ACTIVE event on the
  api process's event stream (which the conductor's save reaches through the events fanout);
- N creates submitted concurrently over REST (64 connections): ACTIVE/s from the first POST
  to the last ACTIVE event, with 1 and with 2 compute processes (and, with --embedded, on one
  `pocketstack serve` process: SQLite, the in-process bus); ACTIVE per CPU-second of the
  servers' processes over the burst says what the code costs when the machine is busy;
- the messages a build sends (conductor calls and casts; all), counted in the servers' traces.
  SQL statements per build are counted by bench/control_plane.py (the same services' code).

Servers are made with networks "none" (the burst would need more addresses than the default
/24). Prints a table; not a test. --profile DIR samples every role process with py-spy during
the burst (DIR/<name>.txt: the hottest functions of each process).

    .venv/bin/python bench/cluster.py [--sequential 200] [--burst 1000] [--computes 1,2] [--embedded]
                                      [--profile DIR]
    (--embedded --computes "": the embedded deployment only)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.cli import cluster as cl  # noqa: E402
from backend.core.config import Config  # noqa: E402
from backend.facade import Cloud  # noqa: E402
from backend.messaging.rabbit import free_port  # noqa: E402

PASSWORD = "bench-pw"
HOST = "  - {{name: fake-{i}, address: 127.0.0.1, driver: fake, vcpus: 4096, memory_mb: 8388608, disk_gb: 100000}}\n"
CONF = """
[DEFAULT]
report_interval = 1
service_down_time = 10
[quota]
instances = 100000
cores = 1000000
ram = 1000000000
"""


class Events:
    """The api process's event stream: when each server was first seen ACTIVE."""

    def __init__(self, url, token):
        self.url, self.token = url, token
        self.active: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future] = {}

    async def run(self, opened: asyncio.Event):
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as c:
            # server states only: a build's trace events would cost both sides for nothing
            async with c.stream("GET", f"{self.url}/pocketstack/v1/events", params={"type": "instance"},
                                headers={"X-Auth-Token": self.token}) as r:
                opened.set()
                kind = None
                async for line in r.aiter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    if not line.startswith("data: ") or kind != "instance":
                        continue  # (a server without ?type sends every event: read instances only)
                    e = json.loads(line[6:])
                    if e.get("type") != "instance" or e["server"]["status"] != "ACTIVE":
                        continue
                    sid = e["server"]["id"]
                    if sid not in self.active:
                        self.active[sid] = time.perf_counter()
                        f = self.waiters.pop(sid, None)
                        if f and not f.done():
                            f.set_result(None)

    async def wait(self, sid, timeout=120):
        if sid in self.active:
            return
        f = self.waiters.setdefault(sid, asyncio.get_running_loop().create_future())
        await asyncio.wait_for(f, timeout)


async def token(c, url):
    r = await c.post(f"{url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


async def image(c, url, h):
    r = await c.post(f"{url}/image/v2/images", headers=h, json={
        "name": "bench", "disk_format": "raw", "container_format": "bare", "visibility": "public"})
    iid = r.json()["id"]
    await c.put(f"{url}/image/v2/images/{iid}/file", headers=dict(h, **{"Content-Type": "application/octet-stream"}),
                content=b"\0" * 4096)
    return iid


def cpu_seconds(processes) -> float:
    """User and system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for p in processes:
        fields = Path(f"/proc/{p['pid']}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def spy(processes, profile: Path | None, seconds: int) -> list:
    """py-spy on each role process (the burst's profile), None when not asked."""
    if profile is None:
        return []
    profile.mkdir(parents=True, exist_ok=True)
    spy_bin = Path(sys.executable).with_name("py-spy")
    return [subprocess.Popen([str(spy_bin), "record", "--pid", str(p["pid"]), "--duration", str(seconds),
                              "--rate", "500", "--format", "raw", "--nonblocking", "--output", str(profile / f"{p['name']}.raw")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in processes]


def summarise(profile: Path) -> None:
    """DIR/<name>.txt: the functions each process spent its samples in (self and total)."""
    for raw in profile.glob("*.raw"):
        own, total, n = {}, {}, 0
        for line in raw.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            frames, c = stack.split(";"), int(count)
            n += c
            own[frames[-1]] = own.get(frames[-1], 0) + c
            for f in set(frames):
                total[f] = total.get(f, 0) + c
        with open(raw.with_suffix(".txt"), "w") as out:
            out.write(f"{n} samples\n-- self\n")
            for f, c in sorted(own.items(), key=lambda x: -x[1])[:40]:
                out.write(f"{100 * c / max(n, 1):5.1f}% {f}\n")
            out.write("-- total\n")
            for f, c in sorted(total.items(), key=lambda x: -x[1])[:80]:
                out.write(f"{100 * c / max(n, 1):5.1f}% {f}\n")


async def measure(url, sequential: int, burst: int, processes=(), profile: Path | None = None) -> dict:
    # idle connections dropped before the server's keep-alive timeout (uvicorn's 5 s, the same as
    # httpx's default): a request sent as the server closed one failed with ReadError under load
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as c:
        tok = await token(c, url)
        h = {"X-Auth-Token": tok}
        iid = await image(c, url, h)
        ev = Events(url, tok)
        opened = asyncio.Event()
        reader = asyncio.create_task(ev.run(opened))
        await opened.wait()

        async def create(name):
            t0 = time.perf_counter()
            r = await c.post(f"{url}/compute/v2.1/servers", headers=dict(h, **{
                "OpenStack-API-Version": "compute 2.37"}), json={"server": {
                    "name": name, "imageRef": iid, "flavorRef": "1", "networks": "none"}})
            if r.status_code != 202:
                raise RuntimeError(f"create {name}: {r.status_code} {r.text[:200]}")
            return r.json()["server"]["id"], t0

        lat = []
        for i in range(sequential):
            sid, t0 = await create(f"seq-{i}")
            await ev.wait(sid)
            lat.append((ev.active[sid] - t0) * 1000)
        out = {}
        if sequential:  # the messages of a build, from the trace every process writes (flushed each 0.25 s)
            await asyncio.sleep(1.5)
            sids = list(ev.active)[-20:]
            conductor = everything = 0
            for sid in sids:
                r = await c.get(f"{url}/compute/v2.1/servers/{sid}/os-pocketstack-trace", headers=h)
                sent = [t for t in r.json()["trace"] if t["service"] == "queue" and t["kind"] in ("call", "cast")]
                conductor += sum(1 for t in sent if t["topic"] == "conductor")
                everything += len(sent)
            out["conductor_msgs"], out["all_msgs"] = conductor / len(sids), everything / len(sids)
        if lat:
            lat.sort()
            out["p50"], out["p99"] = statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        if burst:
            spies = spy(processes, profile, max(3, burst // 100))
            cpu0 = cpu_seconds(processes)
            t0 = time.perf_counter()
            sids = [s for s, _ in await asyncio.gather(*(create(f"burst-{i}") for i in range(burst)))]
            await asyncio.gather(*(ev.wait(s, timeout=600) for s in sids))
            out["burst_s"] = max(ev.active[s] for s in sids) - t0
            out["active_per_s"] = burst / out["burst_s"]
            # the servers' CPU time over the burst: on a busy machine wall time says how busy it
            # is; ACTIVE per CPU-second says what the code costs
            out["active_per_cpu_s"] = burst / max(cpu_seconds(processes) - cpu0, 1e-9)
            for p in spies:
                p.wait()
        reader.cancel()
        return out


def run_cluster(computes: int, sequential: int, burst: int, profile: Path | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="pocketstack-bench-cluster-"))
    try:
        (tmp / "hosts.yaml").write_text("hosts:\n" + "".join(HOST.format(i=i + 1) for i in range(4)))
        (tmp / "base.conf").write_text(CONF)
        config = Config.load(tmp / "base.conf", home=tmp / "home", hosts_path=tmp / "hosts.yaml",
                             password_hash_rounds=4)
        Cloud.init(config, PASSWORD)
        state = cl.up(config, computes, port=free_port(), log=lambda m: None)
        try:
            return asyncio.run(measure(state["url"], sequential, burst, state["processes"],
                                       profile and profile / f"computes-{computes}"))
        finally:
            cl.down(config, log=lambda m: None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_embedded(sequential: int, burst: int, profile: Path | None = None) -> dict:
    """The embedded deployment: one `pocketstack serve` process (SQLite, in-process bus)."""
    import urllib.request
    tmp = Path(tempfile.mkdtemp(prefix="pocketstack-bench-embedded-"))
    proc = None
    try:
        (tmp / "hosts.yaml").write_text("hosts:\n" + "".join(HOST.format(i=i + 1) for i in range(4)))
        port = free_port()
        (tmp / "serve.conf").write_text(CONF.replace("[DEFAULT]", f"[DEFAULT]\nstate_path = {tmp / 'home'}")
                                        + f"[api]\nlisten = 127.0.0.1\nport = {port}\n")
        config = Config.load(tmp / "serve.conf", home=tmp / "home", hosts_path=tmp / "hosts.yaml",
                             password_hash_rounds=4)
        Cloud.init(config, PASSWORD)
        env = {k: v for k, v in os.environ.items() if not k.startswith("POCKETSTACK_")}
        with open(tmp / "serve.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "backend.cli.main", "serve", "--config-file",
                                     str(tmp / "serve.conf"), "--hosts", str(tmp / "hosts.yaml")],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    cwd=str(Path(__file__).resolve().parents[1]))
        url, end = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:  # any HTTP answer: it serves
            try:
                urllib.request.urlopen(url + "/", timeout=2).close()
                break
            except OSError as e:
                if getattr(e, "code", None) is not None:
                    break
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("serve did not start: " + (tmp / "serve.log").read_text()[-2000:])
                time.sleep(0.1)
        return asyncio.run(measure(url, sequential, burst, [{"name": "serve", "pid": proc.pid}],
                                   profile and profile / "embedded"))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequential", type=int, default=200)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--computes", default="1,2", help="compute process counts to run, comma separated")
    ap.add_argument("--profile", type=Path, help="sample each process with py-spy during the burst, into DIR")
    ap.add_argument("--embedded", action="store_true",
                    help="also run the embedded deployment (`pocketstack serve`, SQLite, in-process bus)")
    a = ap.parse_args()
    rows = []
    if a.embedded:
        rows.append(("embedded", run_embedded(a.sequential, a.burst, a.profile)))
        if a.profile:
            summarise(a.profile / "embedded")
    for n in (int(x) for x in a.computes.split(",") if x.strip()):
        r = run_cluster(n, a.sequential, a.burst, a.profile)
        rows.append((n, r))
        if a.profile:
            summarise(a.profile / f"computes-{n}")
    print(f"\ncluster on the fake driver, 4 hosts, REST over 127.0.0.1, {a.burst} creates in the burst")
    print("| deployment (compute processes) | create->ACTIVE p50 ms | p99 ms | burst ACTIVE/s | burst s "
          "| ACTIVE per CPU-s | conductor messages/build | bus messages/build |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in rows:
        p50 = f"{r['p50']:.1f}" if "p50" in r else "-"
        p99 = f"{r['p99']:.1f}" if "p99" in r else "-"
        msgs = (f"{r['conductor_msgs']:.1f} | {r['all_msgs']:.1f}") if "conductor_msgs" in r else "- | -"
        print(f"| {n} | {p50} | {p99} | {r.get('active_per_s', 0):.0f} | {r.get('burst_s', 0):.1f} "
              f"| {r.get('active_per_cpu_s', 0):.0f} | {msgs} |")
    print("load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
