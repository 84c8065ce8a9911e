"""A lab host cut off the network (its namespace's eth0 down: no RST, no FIN, packets just
vanish). Calls in flight on its link end as LinkDead (TCP_USER_TIMEOUT + keepalive), calls
after fail at once, and the link comes back by itself; builds cut mid-spawn are rescheduled
to the other host, nothing leaks, and the half-made guests are reaped when the host returns.
The same case on the fake driver: tests/test_host_partition.py; the time it takes:
bench/host_loss.py."""
from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from backend.lab import lab
from backend.cli.tiny import register_with_cloud
from backend.core.config import Config
from backend.facade import Cloud
from backend.virt.qemu.hostlink import HostLink, LinkDead
from backend.core.hosts import load_hosts
from backend.virt.qemu.driver import QemuDriver

pytestmark = pytest.mark.real


def cut(h, down: bool) -> None:
    assert h.netns, f"{h.name} is not in a network namespace: the lab fell back to loopback ports"
    subprocess.run(["ip", "-n", h.netns, "link", "set", "eth0", "down" if down else "up"], check=True)


def host_veth(lab_home, name: str) -> str:
    """The host-side end of the host's veth pair (its traffic from this machine leaves there)."""
    return lab._names(lab.lab_id(lab_home), int(name.split("-")[1]))["veth"]


async def until(fn, what: str, timeout: float):
    end = time.monotonic() + timeout
    while True:
        got = await fn()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def test_a_command_in_flight_ends_as_link_dead_and_the_link_returns(hosts):
    h = hosts["lab-2"]
    link = HostLink(h, connect_timeout=3, command_timeout=240)
    got: list[BaseException | tuple] = []

    def in_flight():
        try:
            got.append(link.run(["sleep", "45"]))
        except BaseException as e:  # noqa: BLE001 (handed to the test thread)
            got.append(e)
    try:
        assert link.run(["true"])[0] == 0
        t = threading.Thread(target=in_flight)
        t.start()
        for _ in range(100):  # the command is running on the host
            if subprocess.run(["pgrep", "-u", h.user, "-x", "sleep"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        cut(h, True)
        t.join(timeout=120)  # bounded: without detection it would end only at command_timeout
        assert not t.is_alive()
        assert len(got) == 1 and isinstance(got[0], LinkDead), got
        assert "link dead" in str(got[0]) and "host lab-2" in str(got[0])
        with pytest.raises(LinkDead, match="link dead .*not reconnecting for"):  # at once, no connect
            link.run(["true"])
        assert not link.ping()
    finally:
        cut(h, False)
    for _ in range(100):
        if link.ping():
            break
        time.sleep(0.2)
    assert link.run(["true"])[0] == 0
    link.close()


@pytest.fixture
async def cut_lab_cloud(lab_home, hosts, tiny, tiny_build, tmp_path, drivers):
    """A cloud whose scheduler prefers lab-2 (it says it has far more RAM), with lab-1 as the
    alternate; lab-2 has the tiny image cached and its link slowed (tbf), so a spawn is still
    writing its config drive when the link is cut."""
    x = hosts["lab-2"]
    warm = drivers("lab-2")
    for img in (tiny["kernel"], tiny["ramdisk"], tiny["disk"]):
        await warm._ensure_base(img)
    doc = yaml.safe_load(lab.hosts_file(lab_home).read_text())
    for entry in doc["hosts"]:
        entry["memory_mb"] = 65536 if entry["name"] == "lab-2" else 4096
    hosts_path = tmp_path / "hosts.yaml"
    hosts_path.write_text(yaml.safe_dump(doc))
    config = Config(home=tmp_path / "home", hosts_path=hosts_path, password_hash_rounds=4,
                    heartbeat_interval=0.5, power_sync_interval=1.0, service_down_time=3.0)
    Cloud.init(config, "secret")
    cloud = Cloud(config)
    await cloud.start()
    tok = (await cloud.login("admin", "secret", "admin"))["token"]
    await register_with_cloud(cloud, tok, tiny_build)
    veth = host_veth(lab_home, "lab-2")
    subprocess.run(["tc", "qdisc", "add", "dev", veth, "root", "tbf", "rate", "512kbit",
                    "burst", "16kb", "latency", "500ms"], check=True)
    try:
        yield cloud, tok, x, hosts["lab-1"]
    finally:
        subprocess.run(["tc", "qdisc", "del", "dev", veth, "root"], check=False)
        cut(x, False)
        for s in await cloud.list_servers(tok, all_projects=True):
            await cloud.delete_server(tok, s["id"])
        await cloud.stop()


async def test_host_cut_mid_spawn_builds_go_elsewhere_and_orphans_are_reaped(cut_lab_cloud):
    cloud, tok, x, y = cut_lab_cloud
    servers = await cloud.create_server(tok, "cut", "tiny", "m1.nano", min_count=4, max_count=4)
    ids = [s["id"] for s in servers]
    half_made = [Path(x.state_dir) / "instances" / sid for sid in ids]

    async def all_spawning_on_x():
        ss = [await cloud.get_server(tok, sid) for sid in ids]
        return all(s["task_state"] == "spawning" and s["host"] == x.name for s in ss) and \
            all((d / "disk.qcow2").exists() for d in half_made)
    await until(all_spawning_on_x, "four spawns on lab-2 with their disks made", 120)
    cut(x, True)

    async def all_active():
        ss = [await cloud.get_server(tok, sid) for sid in ids]
        for s in ss:
            assert s["status"] != "ERROR", (s.get("fault") or {}).get("message")
        return ss if all(s["status"] == "ACTIVE" and s["task_state"] is None for s in ss) else None
    done = await until(all_active, "the four builds ACTIVE again", 240)
    assert {s["host"] for s in done} == {y.name}
    for sid in ids:
        tried = [b for a in await cloud.explain_server(tok, sid) for b in a.get("build_attempts", [])]
        # whichever call was in flight names the lost link (hostlink's HostUnreachable): a
        # command ("link dead"), an SFTP transfer whose transport the keepalive closed
        # ("connection dropped"), a command whose channel another thread's keepalive verdict
        # closed under it ("connection lost"), or a channel or SFTP session that could not be
        # opened on the dying transport ("cannot open ..."); never a guest or image error
        assert [b["host"] for b in tried] == [x.name], tried
        reason = tried[0]["reason"]
        assert reason.startswith(f"host {x.name}: ") and any(
            w in reason for w in ("link dead", "connection dropped", "connection lost", "cannot open",
                                  "cannot connect")), tried
    hv = {h["name"]: h for h in await cloud.list_hypervisors(tok)}
    assert hv[x.name]["state"] == "down" and hv[x.name]["running_vms"] == 0
    assert hv[y.name]["running_vms"] == 4
    ports = [p for p in await cloud.list_ports(tok) if p.get("device_id") in ids]
    assert sorted(p["device_id"] for p in ports) == sorted(ids)
    assert {p["binding_host_id"] for p in ports} == {y.name}
    assert all(d.exists() for d in half_made)  # left on lab-2 while it cannot be reached

    cut(x, False)
    await until(lambda: _up(cloud, tok, x.name), "lab-2 up again", 60)
    await until(lambda: _none_exist(half_made), "the half-made guests reaped", 60)
    for s in [await cloud.get_server(tok, sid) for sid in ids]:
        assert (s["status"], s["host"]) == ("ACTIVE", y.name)


async def _up(cloud, tok, host):
    return (await cloud.get_hypervisor(tok, host))["state"] == "up"


async def _none_exist(paths):
    return not any(p.exists() for p in paths)
