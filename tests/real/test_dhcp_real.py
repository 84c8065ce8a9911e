"""DHCP on the real lab: the network node (this machine) runs dnsmasq per network in a
qdhcp- namespace on the network's bridge; a guest on a lab host takes its fixed IP from it
(udhcpc's lease on the console, its MAC in dnsmasq's leases); a deleted server's entry goes
from the hosts file; a deleted network leaves no namespace and no dnsmasq (the helper's list)."""
from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from pathlib import Path

import pytest

from real.labcloud import lab_cloud
from backend.lab.guestimage import MARKER
from backend.network.dhcp_agent import namespace

pytestmark = pytest.mark.real
HELPER = Path(__file__).resolve().parents[2] / "backend" / "privileged"
STATE = Path("/var/lib/pocketstack/dhcp")


@pytest.fixture
async def real_cloud(lab_home, tmp_path, tiny_build):
    async with lab_cloud(lab_home, tmp_path, tiny_build) as cloud_and_token:
        yield cloud_and_token


def node_listing() -> dict:
    p = subprocess.run(["/usr/bin/python3", "-I", str(HELPER), "list"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def dnsmasq_of(network_id: str) -> list[int]:
    """Live (not zombie) dnsmasq processes serving the network."""
    out = []
    for pid in node_listing()["dnsmasq"]:
        try:
            if network_id.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() and \
                    Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                out.append(pid)
        except OSError:
            pass
    return out


async def until(fn, what: str, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while True:
        got = await fn()
        if got:
            return got
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def active(cloud, tok, sid):
    async def check():
        s = await cloud.get_server(tok, sid)
        assert s["status"] != "ERROR", s.get("fault")
        return s if s["status"] == "ACTIVE" and s["task_state"] is None else None
    return await until(check, f"{sid} ACTIVE")


async def console_with(cloud, tok, sid, text):
    async def check():
        log = await cloud.get_console_output(tok, sid)
        return log if text in log else None
    return await until(check, f"{text!r} on {sid}'s console")


async def gone(cloud, tok, sid):
    async def check():
        return sid not in {s["id"] for s in await cloud.list_servers(tok, all_projects=True)}
    await until(check, f"{sid} deleted")


async def test_guest_address_comes_from_the_network_nodes_dnsmasq(real_cloud):
    cloud, tok = real_cloud
    net = await cloud.create_network(tok, "dhcp-net")
    await cloud.create_subnet(tok, net["id"], "10.61.0.0/24")
    # the guest reports the MTU its lease set: a VXLAN network's 1450, not ethernet's 1500
    mtu_script = base64.b64encode(b"#!/bin/sh\nifconfig eth0 | grep -o 'MTU:[0-9]*'\n").decode()
    ids = [(await cloud.create_server(tok, f"dh-{i}", "tiny", "m1.nano", user_data=mtu_script,
                                      networks=[{"uuid": net["id"]}]))[0]["id"] for i in (1, 2)]
    servers = [await active(cloud, tok, sid) for sid in ids]
    (dport,) = [p for p in await cloud.list_ports(tok)
                if p["network_id"] == net["id"] and p["device_owner"] == "network:dhcp"]
    dhcp_ip = dport["fixed_ips"][0]["ip_address"]
    assert dport["status"] == "ACTIVE"
    for s in servers:
        addr = s["addresses"]["dhcp-net"][0]
        log = await console_with(cloud, tok, s["id"], MARKER)
        assert f"udhcpc: lease of {addr['addr']} obtained from {dhcp_ip}" in log, log[-1500:]
        assert f"{MARKER} {s['hostname']} {addr['addr']}" in log
        log = await console_with(cloud, tok, s["id"], "--- user_data end")
        assert "MTU:1450" in log, log[-800:]
    leases = await cloud.rt.network.dhcp.leases(net["id"])
    assert {(x["mac"], x["ip"]) for x in leases} == {
        (s["addresses"]["dhcp-net"][0]["mac"], s["addresses"]["dhcp-net"][0]["addr"]) for s in servers}
    listing = node_listing()
    assert namespace(net["id"]) in listing["netns"] and dnsmasq_of(net["id"])

    # a deleted server's entry goes from the hosts file; the other's stays
    hosts = STATE / net["id"] / "host"
    first, second = (s["addresses"]["dhcp-net"][0]["mac"] for s in servers)
    await cloud.delete_server(tok, servers[0]["id"])
    await gone(cloud, tok, servers[0]["id"])
    text = hosts.read_text()
    assert first not in text and second in text

    # the last port and then the network gone: no namespace, no dnsmasq, no files
    await cloud.delete_server(tok, servers[1]["id"])
    await gone(cloud, tok, servers[1]["id"])
    await cloud.delete_network(tok, net["id"])

    async def clean():
        return not dnsmasq_of(net["id"]) and namespace(net["id"]) not in node_listing()["netns"]
    await until(clean, "the network's DHCP server gone", timeout=10)
    assert not (STATE / net["id"]).exists()
