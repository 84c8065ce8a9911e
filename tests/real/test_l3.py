"""Routers and floating IPs on the real lab (2 hosts, real qemu; the control machine is the
network node): a floating IP on a guest answers `ping` from the control machine and stops
answering once disassociated; guests on two tenant networks reach each other only through a
router (a user_data ping, read from the console); router and floating IP delete leave no
namespace, nft table or address behind (the helper's list-routers)."""
from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from pathlib import Path

import pytest

from backend.cli.tiny import register_with_cloud
from backend.core.config import Config
from backend.facade import Cloud
from backend.lab import lab
from backend.lab.guestimage import MARKER
from backend.network.l3_agent import namespace

pytestmark = pytest.mark.real
HELPER = Path(__file__).resolve().parents[2] / "backend" / "privileged"
# not devstack's 172.24.4.0/24: a `make run` cloud on this machine may be using that one
PUBLIC = "172.29.4.0/24"


@pytest.fixture
async def real_cloud(lab_home, tmp_path, tiny_build):
    config = Config(home=tmp_path / "home", hosts_path=lab.hosts_file(lab_home),
                    password_hash_rounds=4, heartbeat_interval=0.5, power_sync_interval=1.0)
    Cloud.init(config, "secret")
    cloud = Cloud(config)
    await cloud.start()
    tok = (await cloud.login("admin", "secret", "admin"))["token"]
    await register_with_cloud(cloud, tok, tiny_build)
    assert cloud.rt.network.l3_agent is not None, "the lab's hosts.yaml names no network node"
    try:
        yield cloud, tok
    finally:
        for s in await cloud.list_servers(tok, all_projects=True):
            await cloud.delete_server(tok, s["id"])
        for f in await cloud.list_floatingips(tok):
            await cloud.delete_floatingip(tok, f["id"])
        for r in await cloud.list_routers(tok):
            for p in await cloud.list_ports(tok, {"device_id": r["id"]}):
                if p["device_owner"] == "network:router_interface":
                    await cloud.remove_router_interface(tok, r["id"], port_id=p["id"])
            await cloud.delete_router(tok, r["id"])
        await cloud.stop()


def routers_listing() -> dict:
    p = subprocess.run(["/usr/bin/python3", "-I", str(HELPER), "list-routers"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def pings(addr: str) -> bool:
    return subprocess.run(["busybox", "ping", "-c", "1", "-W", "1", addr], capture_output=True,
                          timeout=10).returncode == 0


async def until(fn, what: str, timeout: float = 90.0):
    end = time.monotonic() + timeout
    while True:
        got = await fn()
        if got:
            return got
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


async def booted(cloud, tok, sid, text=MARKER) -> str:
    async def check():
        s = await cloud.get_server(tok, sid)
        assert s["status"] != "ERROR", s.get("fault")
        log = await cloud.get_console_output(tok, sid) if s["status"] == "ACTIVE" else ""
        return log if text in log else None
    return await until(check, f"{text!r} on {sid}'s console")


def user_data_output(log: str) -> tuple[str, str]:
    body, rest = log.split("--- user_data begin ---", 1)[1].split("--- user_data end", 1)
    return body, rest.split("---", 1)[0].strip()


async def public_network(cloud, tok):
    pub = await cloud.create_network(tok, "public", external=True)
    await cloud.create_subnet(tok, pub["id"], PUBLIC)
    return pub


async def test_floating_ip_answers_ping_from_the_control_machine(real_cloud):
    cloud, tok = real_cloud
    pub = await public_network(cloud, tok)
    net = await cloud.create_network(tok, "l3-net")
    sub = await cloud.create_subnet(tok, net["id"], "10.71.0.0/24")
    r = await cloud.create_router(tok, "edge", gateway={"network_id": pub["id"]})
    await cloud.add_router_interface(tok, r["id"], subnet_id=sub["id"])
    assert (await cloud.get_router(tok, r["id"]))["status"] == "ACTIVE"
    s = (await cloud.create_server(tok, "fip-vm", "tiny", "m1.nano", networks=[{"uuid": net["id"]}]))[0]
    await booted(cloud, tok, s["id"])
    (port,) = await cloud.list_ports(tok, {"device_id": s["id"]})
    fip = await cloud.create_floatingip(tok, pub["id"], port_id=port["id"])
    addr = fip["floating_ip_address"]

    async def answers():
        return pings(addr)
    await until(answers, f"ping {addr}", timeout=60)
    listed = routers_listing()["routers"][namespace(r["id"])]
    assert f"{addr}/32" in next(v for k, v in listed["legs"].items() if k.startswith("qg-"))

    await cloud.update_floatingip(tok, fip["id"], {"port_id": None})
    assert not pings(addr)
    await cloud.delete_floatingip(tok, fip["id"])
    await cloud.remove_router_interface(tok, r["id"], subnet_id=sub["id"])
    await cloud.delete_router(tok, r["id"])
    listing = routers_listing()
    assert namespace(r["id"]) not in listing["routers"]
    assert cloud.rt.network.l3_agent.bridge not in listing["external"]
    assert not any(t.endswith(cloud.rt.network.l3_agent.bridge) for t in listing["host_nft"])
    assert namespace(r["id"]) not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                    text=True).stdout


async def test_two_networks_reach_each_other_only_through_a_router(real_cloud):
    cloud, tok = real_cloud
    nets, subs = [], []
    for i, cidr in enumerate(("10.72.0.0/24", "10.73.0.0/24")):
        nets.append(await cloud.create_network(tok, f"side-{i}"))
        subs.append(await cloud.create_subnet(tok, nets[i]["id"], cidr))
    # anti-affinity: the pinging guest runs on the other lab host than the pinged one
    apart = {"group": (await cloud.create_server_group(tok, "apart", "anti-affinity"))["id"]}
    a = (await cloud.create_server(tok, "side-a", "tiny", "m1.nano", networks=[{"uuid": nets[0]["id"]}],
                                   scheduler_hints=apart))[0]
    await booted(cloud, tok, a["id"])
    a_ip = (await cloud.get_server(tok, a["id"]))["addresses"]["side-0"][0]["addr"]
    script = base64.b64encode(f"#!/bin/sh\nping -c 3 -W 2 {a_ip} >/dev/null && echo REACHED || echo "
                              "UNREACHED\n".encode()).decode()

    async def pinger(name):
        s = (await cloud.create_server(tok, name, "tiny", "m1.nano", networks=[{"uuid": nets[1]["id"]}],
                                       scheduler_hints=apart, user_data=script))[0]
        out = user_data_output(await booted(cloud, tok, s["id"], "--- user_data end"))[0].split()
        assert (await cloud.get_server(tok, s["id"]))["host"] != (await cloud.get_server(tok, a["id"]))["host"]
        await cloud.delete_server(tok, s["id"])

        async def gone():
            return s["id"] not in {x["id"] for x in await cloud.list_servers(tok)}
        await until(gone, f"{name} deleted")
        return out

    assert await pinger("side-b1") == ["UNREACHED"]
    r = await cloud.create_router(tok, "between")
    for sub in subs:
        await cloud.add_router_interface(tok, r["id"], subnet_id=sub["id"])
    assert await pinger("side-b2") == ["REACHED"]
    listed = routers_listing()["routers"][namespace(r["id"])]
    assert sorted(listed["legs"].values()) == [["10.72.0.1/24"], ["10.73.0.1/24"]]
    assert listed["default"] == []  # no gateway: nothing beyond the two networks
