"""The whole launch flow on the real lab: facade -> scheduler -> conductor -> compute ->
qemu driver over SSH -> a real guest that reads its config drive."""
from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from real.labcloud import lab_cloud
from backend.lab import lab
from backend.lab.guestimage import MARKER
from backend.core.hosts import load_hosts

pytestmark = pytest.mark.real


@pytest.fixture
async def real_cloud(lab_home, tmp_path, tiny_build):
    async with lab_cloud(lab_home, tmp_path, tiny_build, service_down_time=3.0) as cloud_and_token:
        yield cloud_and_token


async def until(fn, what: str, timeout: float = 30.0, interval: float = 0.2):
    end = time.monotonic() + timeout
    while True:
        got = await fn()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def status_is(cloud, tok, sid, status, timeout=60.0):
    async def check():
        s = await cloud.get_server(tok, sid)
        assert s["status"] != "ERROR", s.get("fault")
        return s if s["status"] == status and s["task_state"] is None else None
    return await until(check, f"{sid} {status}", timeout)


def qemu_pidfile(host, sid: str) -> Path:
    return Path(host.state_dir) / "instances" / sid / "qemu.pid"


async def test_launch_flow_on_real_hosts(real_cloud, lab_home):
    cloud, tok = real_cloud
    hosts = {h.name: h for h in load_hosts(lab.hosts_file(lab_home))}

    # create -> ACTIVE -> the guest's boot marker with its hostname and fixed IP
    s1 = (await cloud.create_server(tok, "web-1", "tiny", "m1.nano"))[0]
    s1 = await status_is(cloud, tok, s1["id"], "ACTIVE")
    x = hosts[s1["host"]]
    ip = next(iter(s1["addresses"].values()))[0]["addr"]
    log = await until(lambda: _console_has(cloud, tok, s1["id"]), "boot marker")
    assert f"{MARKER} {s1['hostname']} {ip}" in log

    # a guest killed behind our back is noticed by the power-state sync
    os.kill(int(qemu_pidfile(x, s1["id"]).read_text()), signal.SIGKILL)
    s = await status_is(cloud, tok, s1["id"], "SHUTOFF", timeout=10)
    assert s["vm_state"] == "stopped"
    await cloud.start_server(tok, s1["id"])
    await status_is(cloud, tok, s1["id"], "ACTIVE")

    # a host that cannot make the guest: the build is rescheduled to the other host (a file
    # swapped in its image cache no longer fails it: the driver notices and fetches it again)
    y = next(h for n, h in hosts.items() if n != x.name)
    instances = Path(y.state_dir) / "instances"
    mode = instances.stat().st_mode & 0o7777
    instances.chmod(0o555)  # the lab user cannot make the guest's directory there
    try:
        s2 = (await cloud.create_server(tok, "web-2", "tiny", "m1.nano"))[0]
        s2 = await status_is(cloud, tok, s2["id"], "ACTIVE")
        assert not (Path(y.state_dir) / "instances" / s2["id"]).exists()
    finally:
        instances.chmod(mode)
    # y had more free RAM, so the scheduler chose it first; its failure is on record
    assert s2["host"] == x.name
    tried = [b for a in await cloud.explain_server(tok, s2["id"]) for b in a.get("build_attempts", [])]
    assert any(b["host"] == y.name and "Permission denied" in b["reason"] for b in tried), tried

    # a host whose sshd is stopped goes down; creates land elsewhere
    lab.stop_sshd(lab_home, y.name)
    try:
        await until(lambda: _host_state(cloud, tok, y.name, "down"), f"{y.name} down", 15)
        s3 = (await cloud.create_server(tok, "web-3", "tiny", "m1.nano"))[0]
        s3 = await status_is(cloud, tok, s3["id"], "ACTIVE")
        assert s3["host"] == x.name
    finally:
        lab.up(lab_home, hosts=2, log=lambda m: None)
    await until(lambda: _host_state(cloud, tok, y.name, "up"), f"{y.name} up again", 15)

    # stop -> SHUTOFF and the process gone; delete -> overlay, config drive, process gone
    await cloud.stop_server(tok, s1["id"])
    await status_is(cloud, tok, s1["id"], "SHUTOFF")
    assert not qemu_pidfile(x, s1["id"]).exists()
    for sid in (s1["id"], s2["id"], s3["id"]):
        await cloud.delete_server(tok, sid)
    for sid in (s1["id"], s2["id"], s3["id"]):
        await until(lambda: _gone(cloud, tok, sid), f"{sid} deleted")
        for h in hosts.values():
            assert not (Path(h.state_dir) / "instances" / sid).exists()


async def _console_has(cloud, tok, sid):
    text = await cloud.get_console_output(tok, sid)
    return text if MARKER in text else None


async def _host_state(cloud, tok, name, state):
    return (await cloud.get_hypervisor(tok, name))["state"] == state


async def _gone(cloud, tok, sid):
    from backend.core.errors import NotFound
    try:
        await cloud.get_server(tok, sid)
        return False
    except NotFound:
        return True


async def test_boot_from_volume_on_real_hosts(real_cloud, lab_home):
    cloud, tok = real_cloud
    hosts = {h.name: h for h in load_hosts(lab.hosts_file(lab_home))}
    s = (await cloud.create_server(tok, "bfv-1", "tiny", "m1.nano", boot_volume_size=1))[0]
    s = await status_is(cloud, tok, s["id"], "ACTIVE")
    vol = await cloud.get_volume(tok, s["boot_volume_id"])
    assert vol["host"] == s["host"] and vol["status"] == "in-use"
    assert (Path(hosts[s["host"]].state_dir) / "volumes" / f"{vol['id']}.qcow2").exists()
    await until(lambda: _console_has(cloud, tok, s["id"]), "boot marker")
    await cloud.delete_server(tok, s["id"])
    await until(lambda: _gone(cloud, tok, s["id"]), "server deleted")
