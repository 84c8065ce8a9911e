"""A host cut off the network while four guests spawn on it (the fake driver's partition:
calls hang until the dead link is noticed, then fail; the interrupted spawns leave half-made
guests behind). The builds end ACTIVE on the other host, nothing leaks, and once the link is
back the orphans are reaped. The same case on real sshd/qemu hosts: tests/real/test_host_loss.py."""
from __future__ import annotations

import asyncio

from backend.facade import Cloud
from backend.virt.fake import FakeBehaviour, FakeDriver
from cloudhelp import make_config, wait_for, wait_task

# fake-1 has far more free RAM: the scheduler puts all four there, fake-2 is the alternate
HOSTS = """
hosts:
  - {name: fake-1, address: 127.0.0.1, driver: fake, vcpus: 16, memory_mb: 65536, disk_gb: 400}
  - {name: fake-2, address: 127.0.0.1, driver: fake, vcpus: 16, memory_mb: 4096, disk_gb: 400}
"""


async def until(check, what: str, timeout: float = 20.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not (got := await check()):
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return got


async def test_partition_mid_spawn_reschedules_and_reaps_the_orphans(tmp_path):
    config = make_config(tmp_path, HOSTS)
    Cloud.init(config, "secret")
    cloud = Cloud(config)
    # long enough that every spawn is in flight when the link is cut
    FakeDriver.behaviours["fake-1"] = cut = FakeBehaviour(spawn_latency=30.0, partition_detect=0.5)
    FakeDriver.behaviours["fake-2"] = FakeBehaviour(spawn_latency=0.2)
    await cloud.start()
    try:
        tok = (await cloud.login("admin", "secret", "admin"))["token"]
        img = await cloud.create_image(tok, "cirros", visibility="public")
        await cloud.upload_image(tok, img["id"], b"\0" * 4096)
        servers = await cloud.create_server(tok, "vm", img["id"], "m1.nano", min_count=4, max_count=4)
        ids = [s["id"] for s in servers]
        for sid in ids:
            assert (await wait_task(cloud, tok, sid, "spawning"))["host"] == "fake-1"
            # spawning starts with plugging the VIFs: wait for the hypervisor's spawn to begin
            await until(lambda sid=sid: _spawn_started(cloud, tok, sid), f"{sid}'s spawn started")
        orphans = cloud.rt.computes["fake-1"].driver.guests
        assert not any(sid in orphans for sid in ids)

        cut.partitioned.set()
        for sid in ids:
            s = await wait_for(cloud, tok, sid, "ACTIVE", timeout=20)
            assert s["host"] == "fake-2"
            tried = [b for a in await cloud.explain_server(tok, sid) for b in a.get("build_attempts", [])]
            assert [b["host"] for b in tried] == ["fake-1"] and "link dead" in tried[0]["reason"], tried
        assert all(sid in orphans for sid in ids)  # left half-made on the cut host
        hv = {h["name"]: h for h in await cloud.list_hypervisors(tok)}
        assert hv["fake-1"]["state"] == "down"
        assert (hv["fake-1"]["running_vms"], hv["fake-2"]["running_vms"]) == (0, 4)  # claims
        ports = [p for p in await cloud.list_ports(tok) if p.get("device_id") in ids]
        assert sorted(p["device_id"] for p in ports) == sorted(ids)  # one port each, no leftovers
        assert all(p["binding_host_id"] == "fake-2" for p in ports), ports

        cut.partitioned.clear()  # the link is back: power sync reaps guests no instance owns
        await until(lambda: _up(cloud, tok, "fake-1"), "fake-1 up again")
        await until(lambda: _none_of(ids, orphans), "the orphans reaped")
        for sid in ids:
            s = await cloud.get_server(tok, sid)
            assert (s["status"], s["host"]) == ("ACTIVE", "fake-2")
        assert set(cloud.rt.computes["fake-2"].driver.guests) >= set(ids)
    finally:
        await cloud.stop()


async def _spawn_started(cloud, tok, sid):
    return any(t["service"] == "hypervisor" and t["step"] == "spawn" for t in await cloud.get_trace(tok, sid))


async def _up(cloud, tok, host):
    return (await cloud.get_hypervisor(tok, host))["state"] == "up"


async def _none_of(ids, guests):
    return not any(sid in guests for sid in ids)
