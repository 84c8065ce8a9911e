"""One scheduling decision at 100, 1,000 and 10,000 hosts: median and p99 (not a test).

Target: <= 5 ms at 1,000 hosts, linear growth. The host mix is a busy cloud, so every filter
has work and some rejections are explained: 5 % of hosts down, 2 % disabled, three zones,
a quarter of the hosts nearly full, a few with build failures.

    .venv/bin/python bench/scheduler.py [--runs N]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.scheduler import (HostState, RequestSpec, SchedulerConfig,  # noqa: E402
                               select_destinations)


def make_hosts(n: int, seed: int = 1) -> list[HostState]:
    rnd = random.Random(seed)
    hosts = []
    for i in range(n):
        mem = rnd.choice([16384, 32768, 65536])
        full = rnd.random() < 0.25
        hosts.append(HostState(
            name=f"host-{i:05d}", availability_zone=f"az{i % 3}",
            up=rnd.random() >= 0.05, enabled=rnd.random() >= 0.02,
            down_reason=None, vcpus=rnd.choice([8, 16, 32]), memory_mb=mem,
            disk_gb=rnd.choice([200, 500, 1000]),
            vcpus_used=rnd.randint(0, 16), memory_mb_used=mem - 1024 if full
            else rnd.randint(0, mem // 2),
            disk_gb_used=rnd.randint(0, 150), num_instances=rnd.randint(0, 40),
            failed_builds=1 if rnd.random() < 0.01 else 0,
            hypervisor_type="qemu", cpu_arch="x86_64"))
    return hosts


def time_it(fn, runs: int) -> tuple[float, float]:
    fn()  # warm the plug-in cache
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    conf = SchedulerConfig()
    spec = RequestSpec(instance_uuid="bench", vcpus=2, memory_mb=2048, disk_gb=20,
                       image_properties={"architecture": "x86_64"})
    spec_az = RequestSpec(instance_uuid="bench", vcpus=2, memory_mb=2048, disk_gb=20,
                          availability_zone="az1")
    print(f"{'hosts':>7} | {'case':<26} | {'median ms':>9} | {'p99 ms':>8} | {'ms/1k hosts':>11}")
    print("-" * 74)
    for n in (100, 1000, 10000):
        hosts = make_hosts(n)
        runs = args.runs if n <= 1000 else max(20, args.runs // 5)
        cases = [
            ("one decision", lambda: select_destinations(spec, hosts, conf)),
            ("one decision, AZ asked", lambda: select_destinations(spec_az, hosts, conf)),
            ("decision + to_dict()", lambda: select_destinations(spec, hosts, conf)[0].to_dict()),
        ]
        for label, fn in cases:
            med, p99 = time_it(fn, runs)
            print(f"{n:>7} | {label:<26} | {med:>9.2f} | {p99:>8.2f} | {med / n * 1000:>11.2f}")
    hosts = make_hosts(1000)
    med, p99 = time_it(lambda: select_destinations(spec, hosts, conf, num_instances=10), 50)
    print(f"{1000:>7} | {'10 instances (max_count)':<26} | {med:>9.2f} | {p99:>8.2f} | "
          f"{med / 1000 * 1000:>11.2f}")


if __name__ == "__main__":
    main()
