"""The cluster at scale: N fake hosts split over 4 compute processes (`pocketstack cluster up
--computes 4`, a RabbitMQ node of our own, conductor, scheduler, api; started here and stopped
at the end), once per host count (default 1,000 and 2,000):

- start-up: from `cluster up` to every host reporting up (its compute_nodes row's heartbeat);
- heartbeats over a watch window (default 60 s, sampled each second from the database): the age
  of the oldest heartbeat against report_interval, p50/p99 over the samples, and any host seen
  down (servicegroup's rule: no heartbeat within service_down_time, or a down_reason) — none is
  down on the fake driver, so every one seen is a false one;
- the scheduler's decision time where the scheduler process measures it: its trace step
  "filter and weigh" (the host-state read from the database, the filters and the weighers),
  p50/p99 over sequential creates and over a burst of concurrent creates, which must spread
  over the hosts; with the CPU the decision took (the step's detail): on a machine shared
  with other work the wall time also counts the time the process waited for a core;
- CPU (% of one core) of each process while idle (heartbeats only) and during the burst, and
  its RSS at the end (RabbitMQ's beam.smp included).

Servers are made with networks "none". Prints tables; not a test.

    .venv/bin/python bench/cluster_scale.py [--hosts 1000,2000] [--computes 4] [--watch 60]
        [--sequential 100] [--burst 500] [--report-interval 5] [--database sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import PASSWORD, Events, image, token  # noqa: E402  (bench/cluster.py)

from backend.cli import cluster as cl  # noqa: E402
from backend.core import db as dbm  # noqa: E402
from backend.core import servicegroup  # noqa: E402
from backend.core.config import Config  # noqa: E402
from backend.facade import Cloud  # noqa: E402
from backend.messaging.rabbit import free_port  # noqa: E402

HOST = ("  - {{name: fake-{i:05d}, address: 127.0.0.1, driver: fake, vcpus: 64, memory_mb: 262144,"
        " disk_gb: 4000, availability_zone: az{z}}}\n")
CONF = """
[DEFAULT]
report_interval = {ri:g}
service_down_time = {sdt:g}
[quota]
instances = 100000
cores = 1000000
ram = 1000000000
"""
TICK = os.sysconf("SC_CLK_TCK")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def cpu_ticks(pid: int) -> int | None:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(f[11]) + int(f[12])  # utime + stime


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def processes(state: dict) -> dict[str, int]:
    """name -> pid: the cluster's serve processes and its RabbitMQ node (beam.smp)."""
    out = {p["name"]: p["pid"] for p in state["processes"]}
    epmd = f"-epmd_port {state['rabbit']['epmd_port']}".encode()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if b"beam.smp" in cmd and epmd in cmd.replace(b"\0", b" "):
                out["rabbitmq"] = int(d.name)
    return out


class CpuWindow:
    def __init__(self, procs: dict[str, int]):
        self.procs, self.t0 = procs, time.monotonic()
        self.start = {n: cpu_ticks(p) for n, p in procs.items()}

    def percent(self) -> dict[str, float]:
        dt = time.monotonic() - self.t0
        out = {}
        for n, p in self.procs.items():
            a, b = self.start[n], cpu_ticks(p)
            out[n] = (b - a) / TICK / dt * 100 if a is not None and b is not None else float("nan")
        return out


def host_rows(db):
    return dbm.rows(db, "SELECT host, last_heartbeat, down_reason FROM compute_nodes WHERE configured=1")


def wait_all_up(db, config, n, since, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = host_rows(db)
        now = time.time()
        up = [r for r in rows if r["last_heartbeat"] and r["last_heartbeat"] >= since
              and servicegroup.is_up(r, config, now)]
        if len(up) >= n:
            return time.monotonic()
        time.sleep(0.2)
    raise RuntimeError(f"only {len(up)} of {n} hosts up after {timeout:g} s")


def watch(db, config, seconds):
    """Sample each second: the oldest heartbeat's age, the median age, the hosts seen down."""
    oldest, median, down = [], [], {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = time.time()
        rows = host_rows(db)
        ages = sorted(now - (r["last_heartbeat"] or 0) for r in rows)
        oldest.append(ages[-1])
        median.append(ages[len(ages) // 2])
        for r in rows:
            why = servicegroup.down_reason(r, config, now)
            if why:
                down.setdefault(r["host"], why)
        time.sleep(max(0.0, 1.0 - (time.time() - now)))
    return {"oldest_p50": pct(oldest, 0.5), "oldest_p99": pct(oldest, 0.99), "oldest_max": max(oldest),
            "age_p50": pct(median, 0.5), "down": down}


def decisions(db, uuids):
    """(wall ms, CPU ms) of each decision: the step's duration and the CPU its detail gives."""
    marks = ",".join("?" * len(uuids))
    rows = dbm.rows(db, f"SELECT duration_ms, detail FROM trace WHERE service='scheduler' AND"
                        f" step='filter and weigh' AND phase='end' AND instance_uuid IN ({marks})", tuple(uuids))
    cpu = [float(m.group(1)) for r in rows if (m := re.search(r"([\d.]+) ms CPU", r["detail"] or ""))]
    return [r["duration_ms"] for r in rows], cpu


async def creates(url, sequential, burst, procs):
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    out = {}
    async with httpx.AsyncClient(timeout=300, limits=limits) as c:
        tok = await token(c, url)
        h = {"X-Auth-Token": tok}
        iid = await image(c, url, h)
        ev = Events(url, tok)
        opened = asyncio.Event()
        reader = asyncio.create_task(ev.run(opened))
        await opened.wait()

        async def create(name):
            r = await c.post(f"{url}/compute/v2.1/servers", headers=dict(h, **{
                "OpenStack-API-Version": "compute 2.37"}), json={"server": {
                    "name": name, "imageRef": iid, "flavorRef": "1", "networks": "none"}})
            if r.status_code != 202:
                raise RuntimeError(f"create {name}: {r.status_code} {r.text[:200]}")
            return r.json()["server"]["id"]

        seq = []
        for i in range(sequential):
            seq.append(await create(f"seq-{i}"))
            await ev.wait(seq[-1])
        cpu = CpuWindow(procs)
        t0 = time.perf_counter()
        burst_ids = list(await asyncio.gather(*(create(f"burst-{i}") for i in range(burst))))
        await asyncio.gather(*(ev.wait(s, timeout=900) for s in burst_ids))
        out["burst_s"] = max(ev.active[s] for s in burst_ids) - t0
        out["burst_cpu"] = cpu.percent()
        reader.cancel()
    out["seq"], out["burst"] = seq, burst_ids
    return out


def run(n_hosts, a) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="pocketstack-bench-scale-"))
    if a.database == "postgresql":
        tmp.chmod(0o711)  # the postgres user goes through to <state>/cluster/pg (docs/cluster.md)
    res = {"hosts": n_hosts}
    try:
        (tmp / "hosts.yaml").write_text("hosts:\n" + "".join(HOST.format(i=i + 1, z=i % 3) for i in range(n_hosts)))
        (tmp / "base.conf").write_text(CONF.format(ri=a.report_interval, sdt=a.service_down_time))
        config = Config.load(tmp / "base.conf", home=tmp / "home", hosts_path=tmp / "hosts.yaml",
                             password_hash_rounds=4)
        Cloud.init(config, PASSWORD)
        since, t0 = time.time(), time.monotonic()
        state = cl.up(config, a.computes, port=free_port(), log=lambda m: None, timeout=600,
                      database=a.database)
        try:
            res["up_s"] = time.monotonic() - t0
            db = dbm.open_db(state.get("database_connection") or config.db_path)
            res["all_up_s"] = wait_all_up(db, config, n_hosts, since, timeout=600) - t0
            procs = processes(state)
            cpu = CpuWindow(procs)
            res.update(watch(db, config, a.watch))
            res["idle_cpu"] = cpu.percent()
            res.update(asyncio.run(creates(state["url"], a.sequential, a.burst, procs)))
            time.sleep(1.5)  # the trace is flushed each 0.25 s
            res["dec_seq"], res["cpu_seq"] = decisions(db, res["seq"])
            res["dec_burst"], res["cpu_burst"] = decisions(db, res["burst"])
            marks = ",".join("?" * len(res["burst"]))
            res["burst_hosts"] = dbm.row(db, f"SELECT count(DISTINCT host) n FROM instances WHERE uuid IN ({marks})",
                                         tuple(res["burst"]))["n"]
            res["rss"] = {k: rss_mb(p) for k, p in procs.items()}
            # the hosts seen down after the burst as well (a burst must not starve heartbeats)
            late = watch(db, config, min(10, a.watch))
            res["down"].update({h: w for h, w in late["down"].items() if h not in res["down"]})
            res["oldest_max"] = max(res["oldest_max"], late["oldest_max"])
            db.conn.close()
        finally:
            cl.down(config, log=lambda m: None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", default="1000,2000")
    ap.add_argument("--computes", type=int, default=4)
    ap.add_argument("--watch", type=float, default=60)
    ap.add_argument("--sequential", type=int, default=100)
    ap.add_argument("--burst", type=int, default=500)
    ap.add_argument("--report-interval", type=float, default=5)
    ap.add_argument("--service-down-time", type=float, default=30)
    ap.add_argument("--database", default="sqlite", choices=("sqlite", "postgresql"))
    a = ap.parse_args()
    load0 = os.getloadavg()
    rows = [run(int(n), a) for n in a.hosts.split(",")]
    load1 = os.getloadavg()
    print(f"\ncluster, {a.computes} compute processes, fake driver, {a.database}; report_interval "
          f"{a.report_interval:g} s, service_down_time {a.service_down_time:g} s; watch {a.watch:g} s; "
          f"load average {load0[0]:.1f} before, {load1[0]:.1f} after (1 min)")
    print("| hosts | cluster up s | all hosts up s | oldest heartbeat age p50 / p99 / max s | median age s "
          "| hosts seen down | decision ms p50 / p99 (sequential) | its CPU ms p50 / p99 "
          "| decision ms p50 / p99 (burst) | its CPU ms p50 / p99 | burst ACTIVE/s | hosts the burst used |")
    print("|---:|---:|---:|---|---:|---:|---|---|---|---|---:|---:|")

    def p(xs):
        return f"{pct(xs, .5):.2f} / {pct(xs, .99):.2f}"
    for r in rows:
        print(f"| {r['hosts']} | {r['up_s']:.1f} | {r['all_up_s']:.1f} | {r['oldest_p50']:.1f} / "
              f"{r['oldest_p99']:.1f} / {r['oldest_max']:.1f} | {r['age_p50']:.1f} | {len(r['down'])} | "
              f"{p(r['dec_seq'])} | {p(r['cpu_seq'])} | {p(r['dec_burst'])} | {p(r['cpu_burst'])} | "
              f"{len(r['burst']) / r['burst_s']:.0f} | {r['burst_hosts']} |")
    for r in rows:
        for h, why in list(r["down"].items())[:5]:
            print(f"  {r['hosts']} hosts: {h} seen down: {why}")
    print("\n| hosts | process | CPU % idle (heartbeats) | CPU % burst | RSS MB |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        for name in r["rss"]:
            print(f"| {r['hosts']} | {name} | {r['idle_cpu'].get(name, float('nan')):.1f} | "
                  f"{r['burst_cpu'].get(name, float('nan')):.1f} | {r['rss'][name] or 0:.0f} |")


if __name__ == "__main__":
    main()
