"""Tenant networks on the real lab (2 hosts in their namespaces, real qemu on taps): guests on
one network reach each other across hosts over VXLAN, guests on two networks do not, and
deletes and failed builds leave no tap, bridge or VXLAN on any host (the helper's `list`)."""
from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time

import pytest
import yaml

from backend.cli.tiny import register_with_cloud
from backend.core.config import Config
from backend.core.hosts import load_hosts, load_network_node
from backend.facade import Cloud
from backend.lab import lab
from backend.privileged.l2 import bridge_name, tap_name

pytestmark = pytest.mark.real
HELPER = ["/usr/bin/python3", "-I", "/usr/local/lib/pocketstack/privileged"]


@pytest.fixture
async def real_cloud(lab_home, tmp_path, tiny_build, request):
    """param: {"memory_mb": N} makes the hosts claim N MB (a copy of the lab's hosts.yaml)."""
    hosts_path, kw = lab.hosts_file(lab_home), dict(getattr(request, "param", {}))
    if "memory_mb" in kw:
        data = yaml.safe_load(hosts_path.read_text())
        for h in data["hosts"]:
            h["memory_mb"] = kw["memory_mb"]
        hosts_path = tmp_path / "hosts.yaml"
        hosts_path.write_text(yaml.safe_dump(data))
        kw.pop("memory_mb")
    config = Config(home=tmp_path / "home", hosts_path=hosts_path, password_hash_rounds=4,
                    heartbeat_interval=0.5, power_sync_interval=1.0, vif_plugging_timeout=30, **kw)
    Cloud.init(config, "secret")
    cloud = Cloud(config)
    await cloud.start()
    tok = (await cloud.login("admin", "secret", "admin"))["token"]
    await register_with_cloud(cloud, tok, tiny_build)
    try:
        yield cloud, tok
    finally:
        for s in await cloud.list_servers(tok, all_projects=True):
            await cloud.delete_server(tok, s["id"])
        await cloud.stop()


def plumbing(lab_home) -> dict:
    """Each lab host's bridges, VXLANs and taps, as the helper lists them in its namespace."""
    out = {}
    for h in load_hosts(lab.hosts_file(lab_home)):
        p = subprocess.run(["ip", "netns", "exec", h.netns, *HELPER, "list"], capture_output=True,
                           text=True, check=True)
        got = json.loads(p.stdout)
        out[h.name] = {k: got[k] for k in ("bridges", "vxlans", "taps")}
    return out


def leftovers(lab_home, network_ids, port_ids, vnis) -> list[str]:
    """What of these networks and ports is still on a host (other tests' clouds share the lab)."""
    mine = {bridge_name(n) for n in network_ids} | {tap_name(p) for p in port_ids} | {f"vxlan-{v}" for v in vnis}
    return [f"{h}: {name}" for h, got in plumbing(lab_home).items()
            for kind in ("bridges", "vxlans", "taps") for name in got[kind] if name in mine]


async def gone_from_hosts(cloud, tok, lab_home, network_ids, port_ids):
    vnis = [(await cloud.get_network(tok, n))["provider:segmentation_id"] for n in network_ids]
    await until(lambda: not leftovers(lab_home, network_ids, port_ids, vnis),
                "no tap, bridge or VXLAN of the test left on the hosts", 60)
    return vnis


async def until(fn, what: str, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while True:
        got = await fn() if asyncio.iscoroutinefunction(fn) else fn()
        if got:
            return got
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def active(cloud, tok, sid, timeout=90.0):
    async def check():
        s = await cloud.get_server(tok, sid)
        assert s["status"] != "ERROR", s.get("fault")
        return s if s["status"] == "ACTIVE" and s["task_state"] is None else None
    return await until(check, f"{sid} ACTIVE", timeout)


async def console_with(cloud, tok, sid, text, timeout=90.0) -> str:
    async def check():
        log = await cloud.get_console_output(tok, sid)
        return log if text in log else None
    try:
        return await until(check, f"{text!r} on {sid}'s console", timeout)
    except AssertionError:
        raise AssertionError(f"no {text!r} on {sid}'s console:\n{(await cloud.get_console_output(tok, sid))[-3000:]}")


def pinger(targets: list[str], tries: int = 40) -> str:
    """user_data: for each target, ping until it answers (at most tries seconds), then say so."""
    lines = ["#!/bin/sh"]
    for t in targets:
        lines.append(f"ok=no; for i in $(seq 1 {tries}); do if ping -c 1 -W 1 {t} >/dev/null 2>&1; "
                     f"then ok=yes; break; fi; done; echo PING {t} $ok")
    return base64.b64encode(("\n".join(lines) + "\n").encode()).decode()


async def spread(cloud, tok, name, members: list[dict]) -> list[dict]:
    """Create members (network, fixed_ip, user_data) one per host (anti-affinity)."""
    group = await cloud.create_server_group(tok, name, "anti-affinity")
    out = []
    for i, m in enumerate(members):
        s = (await cloud.create_server(tok, f"{name}-{i}", "tiny", "m1.nano",
                                       networks=[{"uuid": m["net"], "fixed_ip": m["ip"]}],
                                       user_data=m["user_data"], scheduler_hints={"group": group["id"]}))[0]
        out.append(s)
    return [await active(cloud, tok, s["id"]) for s in out]


async def test_two_guests_on_private_reach_each_other_across_hosts(real_cloud, lab_home):
    cloud, tok = real_cloud
    net = await cloud.get_network(tok, "private")
    a_ip, b_ip = "10.0.0.201", "10.0.0.202"
    a, b = await spread(cloud, tok, "l2", [{"net": net["id"], "ip": a_ip, "user_data": pinger([b_ip])},
                                           {"net": net["id"], "ip": b_ip, "user_data": pinger([a_ip])}])
    assert a["host"] != b["host"]
    ports = {p["device_id"]: p for p in await cloud.list_ports(tok, {"network_id": net["id"]})}
    assert ports[a["id"]]["status"] == ports[b["id"]]["status"] == "ACTIVE"
    assert ports[a["id"]]["binding:vif_type"] == "bridge"
    # the wiring as Neutron's linuxbridge agent makes it: per host the network's bridge with
    # the VXLAN (flooding to the other host and the network node) and the guest's tap
    vni = (await cloud.get_network(tok, net["id"]))["provider:segmentation_id"]
    hosts = {h.name: h for h in load_hosts(lab.hosts_file(lab_home))}
    node = load_network_node(lab.hosts_file(lab_home)).local_ip
    seen = plumbing(lab_home)
    for s, other in ((a, b), (b, a)):
        here = seen[s["host"]]
        br, tap = bridge_name(net["id"]), tap_name(ports[s["id"]]["id"])
        assert here["taps"][tap]["master"] == br
        assert here["vxlans"][f"vxlan-{vni}"]["master"] == br
        assert here["vxlans"][f"vxlan-{vni}"]["flood"] == sorted([hosts[other["host"]].vtep, node])
    # each guest pinged the other (its user_data's output on the console)
    assert f"PING {b_ip} yes" in await console_with(cloud, tok, a["id"], f"PING {b_ip}")
    assert f"PING {a_ip} yes" in await console_with(cloud, tok, b["id"], f"PING {a_ip}")
    # the network node (here, the control machine: DHCP put it on the network) floods to both
    await cloud.rt.network.l2.settle()
    node_seen = json.loads(subprocess.run([*HELPER, "list"], capture_output=True, text=True, check=True).stdout)
    assert node_seen["vxlans"][f"vxlan-{vni}"]["flood"] == sorted(hosts[s["host"]].vtep for s in (a, b))
    for s in (a, b):
        await cloud.delete_server(tok, s["id"])
    await gone_from_hosts(cloud, tok, lab_home, [net["id"]], [ports[a["id"]]["id"], ports[b["id"]]["id"]])


async def test_guests_on_two_networks_do_not_reach_each_other(real_cloud, lab_home):
    """Same addresses on two networks: only L2 could join them, and it must not. Each guest
    first reaches its own network's DHCP port on the network node (the wiring works)."""
    cloud, tok = real_cloud
    nets = []
    for name in ("blue", "red"):
        n = await cloud.create_network(tok, name)
        await cloud.create_subnet(tok, n["id"], "10.77.0.0/24", name=f"{name}-subnet")
        nets.append(n)
    x_ip, y_ip = "10.77.0.11", "10.77.0.12"
    # the DHCP port is made when the first port is bound: the guests look for it by address
    x_ud = pinger(["10.77.0.2", y_ip], tries=15)
    y_ud = pinger(["10.77.0.2", x_ip], tries=15)
    x, y = await spread(cloud, tok, "iso", [{"net": nets[0]["id"], "ip": x_ip, "user_data": x_ud},
                                            {"net": nets[1]["id"], "ip": y_ip, "user_data": y_ud}])
    assert x["host"] != y["host"]
    for n in nets:
        dhcp = [p for p in await cloud.list_ports(tok, {"network_id": n["id"]}) if p["device_owner"] == "network:dhcp"]
        assert [p["fixed_ips"][0]["ip_address"] for p in dhcp] == ["10.77.0.2"]
    log_x = await console_with(cloud, tok, x["id"], f"PING {y_ip}")
    log_y = await console_with(cloud, tok, y["id"], f"PING {x_ip}")
    assert "PING 10.77.0.2 yes" in log_x and "PING 10.77.0.2 yes" in log_y
    assert f"PING {y_ip} no" in log_x and f"PING {x_ip} no" in log_y
    ports = [p["id"] for n in nets for p in await cloud.list_ports(tok, {"network_id": n["id"]})
             if p["device_id"] in (x["id"], y["id"])]
    assert len(ports) == 2
    for s in (x, y):
        await cloud.delete_server(tok, s["id"])
    await gone_from_hosts(cloud, tok, lab_home, [n["id"] for n in nets], ports)


@pytest.mark.parametrize("real_cloud", [{"memory_mb": 1 << 25, "quota_ram": 1 << 25}], indirect=True)
async def test_a_failed_build_leaves_no_plumbing(real_cloud, lab_home):
    """qemu refuses to start after the VIFs were plugged (16 TiB of guest RAM: the hosts claim
    to have it, the machine does not): the build fails on each host it tries, and its taps,
    bridges and VXLANs go."""
    cloud, tok = real_cloud
    await cloud.create_flavor(tok, "huge-ram", vcpus=1, ram=1 << 24, disk=1)
    net = await cloud.create_network(tok, "doomed-net")
    await cloud.create_subnet(tok, net["id"], "10.78.0.0/24")
    taps_before = {h: set(got["taps"]) for h, got in plumbing(lab_home).items()}
    s = (await cloud.create_server(tok, "doomed", "tiny", "huge-ram", networks=[{"uuid": net["id"]}]))[0]

    async def errored():
        got = await cloud.get_server(tok, s["id"])
        return got if got["status"] == "ERROR" else None
    got = await until(errored, "the build to fail", 90)
    assert "qemu failed to start" in got["fault"]["details"], got["fault"]
    # the VIFs had been plugged (and their ports wired) on every host it tried
    steps = [(t["step"], t["phase"], t["detail"]) for t in await cloud.get_trace(tok, s["id"])
             if t["kind"] == "step" and t["step"] in ("plug vifs", "spawn")]
    tried = {d for st, ph, d in steps if st == "plug vifs" and ph == "start"}
    assert tried == {h.name for h in load_hosts(lab.hosts_file(lab_home))}, steps
    # the network's bridge and VXLAN went, and no tap was added on any host
    vni = (await cloud.get_network(tok, net["id"]))["provider:segmentation_id"]
    assert leftovers(lab_home, [net["id"]], [], [vni]) == []
    assert {h: set(got["taps"]) - taps_before[h] for h, got in plumbing(lab_home).items()} == \
        {h: set() for h in taps_before}
