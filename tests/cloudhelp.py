"""Helpers shared by the backend tests (a module of its own name: every test folder has a
conftest.py, so `from conftest import` would be ambiguous)."""
from __future__ import annotations

import asyncio
import textwrap

from backend.core.config import Config

FAKE_HOSTS = """
hosts:
  - {name: fake-1, address: 127.0.0.1, driver: fake, vcpus: 4, memory_mb: 4096, disk_gb: 40}
  - {name: fake-2, address: 127.0.0.1, driver: fake, vcpus: 4, memory_mb: 4096, disk_gb: 40}
  - {name: fake-3, address: 127.0.0.1, driver: fake, vcpus: 4, memory_mb: 4096, disk_gb: 40}
"""


def make_config(tmp_path, hosts_yaml: str = FAKE_HOSTS, **kw) -> Config:
    home = tmp_path / "home"
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(textwrap.dedent(hosts_yaml))
    kw.setdefault("password_hash_rounds", 4)
    kw.setdefault("heartbeat_interval", 0.2)
    kw.setdefault("power_sync_interval", 0.2)
    kw.setdefault("service_down_time", 2.0)
    return Config(home=home, hosts_path=hosts, **kw)


async def wait_for(cloud, token, server_id, status, timeout=10.0):
    """Poll until the server reaches status (tests only; the app is pushed, not polled)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        s = await cloud.get_server(token, server_id)
        if s["status"] == status and s["task_state"] is None:
            return s
        if loop.time() > end:
            raise AssertionError(f"server {server_id} is {s['status']}/{s['task_state']}, expected {status}"
                                 + (f": {s['fault']}" if s.get("fault") else ""))
        await asyncio.sleep(0.01)


async def wait_gone(cloud, token, server_id, timeout=10.0):
    from backend.core.errors import NotFound
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        try:
            await cloud.get_server(token, server_id)
        except NotFound:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"server {server_id} still exists")


async def wait_task(cloud, token, server_id, task_state, timeout=10.0):
    """Poll until the server is in task_state (bounded: a missed window fails, never hangs)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        s = await cloud.get_server(token, server_id)
        if s["task_state"] == task_state:
            return s
        if loop.time() > end:
            raise AssertionError(f"server {server_id} never reached task_state {task_state} "
                                 f"(now {s['status']}/{s['task_state']})")
        await asyncio.sleep(0.005)


async def settle(cloud, timeout=10.0):
    """Wait until no cast is in flight: every build, delete, reschedule and the casts they
    started have run to their end (bounded), so what a test reads next is final."""
    cluster = getattr(cloud, "cluster", None)
    if cluster is not None:  # a cluster (tests/flowcluster.py): the broker and the other processes too
        return await cluster.settle(max(timeout, 20.0))
    bus = cloud.rt.bus
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while bus._tasks:  # the bus's in-flight casts (drain waits for a snapshot of them)
        if loop.time() > end:
            raise AssertionError(f"{len(bus._tasks)} casts still in flight after {timeout:g} s")
        await bus.drain(max(end - loop.time(), 0.01))


async def run_power_syncs(cloud, times=2):
    """Run every host's power-state sync now, to its end (what the periodic task runs), so a
    test need not wait for the timer."""
    from backend.core.context import RequestContext
    cluster = getattr(cloud, "cluster", None)
    if cluster is not None:  # the hosts are in other processes: wait for their own syncs
        return await cluster.power_synced(times)
    for _ in range(times):
        for cm in cloud.rt.computes.values():
            await cm.sync_power_states(RequestContext.system())
