"""The DHCP agent's control side (fake hosts; the privileged helper replaced by a recorder
that keeps what it was told): a network's DHCP port (network:dhcp, from the pool, ACTIVE once
wired) and its hosts file follow the instance ports bound on it; the last one gone, or the
network deleted, takes the DHCP server and port away. Without a network node nothing happens."""
from __future__ import annotations

import pytest

from backend.core.hosts import NetworkNode
from backend.facade import Cloud
from backend.network import dhcp_agent
from backend.network.l2_agent import tap_name
from cloudhelp import make_config, wait_for, wait_gone


class FakeNode:
    """What the helper was told, per network: the dhcp-sync arguments, or gone."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.servers: dict[str, dict] = {}
        self.bridges: set[str] = set()

    def run_helper(self, cmd, *args, timeout=30):
        self.calls.append((cmd, *args))
        if cmd == "dhcp-sync":
            nid, port, bridge, mac, addr, gw, lease, *hosts = args
            assert bridge in self.bridges, "dhcp-sync before the node joined the network"
            self.servers[nid] = {"port": port, "mac": mac, "address": addr, "gateway": gw,
                                 "lease": lease, "hosts": hosts}
        elif cmd == "dhcp-teardown":
            self.servers.pop(args[0], None)
        return "{}"

    def ensure(self, network):
        nid = network if isinstance(network, str) else network["id"]
        self.bridges.add("brq" + nid[:11])
        self.calls.append(("plug-network", nid))
        return "brq" + nid[:11]

    def remove(self, network):
        nid = network if isinstance(network, str) else network["id"]
        self.bridges.discard("brq" + nid[:11])
        self.calls.append(("unplug-network", nid))
        return True


@pytest.fixture
async def cloud(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    Cloud.init(config, "secret")
    c = Cloud(config)
    await c.start()
    tok = (await c.login("admin", "secret", "admin"))["token"]
    img = await c.create_image(tok, "cirros", visibility="public")
    await c.upload_image(tok, img["id"], b"x" * 512)
    yield c, tok
    await c.stop()


@pytest.fixture
def node(cloud, monkeypatch):
    c, _ = cloud
    fake = FakeNode()
    net = c.rt.network
    net.l2.node = NetworkNode(local_ip="10.99.0.1")
    monkeypatch.setattr(dhcp_agent, "run_helper", fake.run_helper)
    monkeypatch.setattr(net.l2, "ensure_network_on_node", fake.ensure)
    monkeypatch.setattr(net.l2, "remove_network_from_node", fake.remove)
    return fake


async def dhcp_ports(c, tok, nid):
    return [p for p in await c.list_ports(tok) if p["network_id"] == nid and p["device_owner"] == "network:dhcp"]


async def test_dhcp_follows_the_instance_ports(cloud, node):
    c, tok = cloud
    net = await c.create_network(tok, "dnet")
    await c.create_subnet(tok, net["id"], "10.44.0.0/24")
    s1 = (await c.create_server(tok, "d1", "cirros", "m1.nano", networks=[{"uuid": net["id"]}]))[0]
    s1 = await wait_for(c, tok, s1["id"], "ACTIVE")
    await c.rt.network.dhcp.ready([net["id"]])  # fake hosts do not report their ports wired
    (dport,) = await dhcp_ports(c, tok, net["id"])
    # a real port: the pool's next free address after the instance's, bound to the node, wired
    ip1 = s1["addresses"]["dnet"][0]["addr"]
    assert ip1 == "10.44.0.2" and dport["fixed_ips"][0]["ip_address"] == "10.44.0.3"
    assert dport["status"] == "ACTIVE" and dport["device_id"].endswith("-" + net["id"])
    srv = node.servers[net["id"]]
    assert srv["port"] == dport["id"] and srv["mac"] == dport["mac_address"]
    assert srv["address"] == "10.44.0.3/24" and srv["gateway"] == "10.44.0.1"
    mac1 = s1["addresses"]["dnet"][0]["mac"]
    assert srv["hosts"] == [f"{mac1},10.44.0.2,host-10-44-0-2"]

    s2 = (await c.create_server(tok, "d2", "cirros", "m1.nano", networks=[{"uuid": net["id"]}]))[0]
    s2 = await wait_for(c, tok, s2["id"], "ACTIVE")
    await c.rt.network.dhcp.ready([net["id"]])
    assert len(node.servers[net["id"]]["hosts"]) == 2
    assert len(await dhcp_ports(c, tok, net["id"])) == 1  # one per network

    await c.delete_server(tok, s1["id"])
    await wait_gone(c, tok, s1["id"])
    mac2 = s2["addresses"]["dnet"][0]["mac"]
    assert node.servers[net["id"]]["hosts"] == [f"{mac2},10.44.0.4,host-10-44-0-4"]

    await c.delete_server(tok, s2["id"])
    await wait_gone(c, tok, s2["id"])
    # the last instance port gone: dnsmasq, namespace, DHCP port and the node's bridge go
    assert net["id"] not in node.servers and await dhcp_ports(c, tok, net["id"]) == []
    assert ("dhcp-teardown", net["id"]) in node.calls and ("unplug-network", net["id"]) in node.calls
    await c.delete_network(tok, net["id"])


async def test_network_delete_takes_a_left_over_dhcp_port(cloud, node):
    c, tok = cloud
    net = await c.create_network(tok, "dnet2")
    await c.create_subnet(tok, net["id"], "10.45.0.0/24")
    s = (await c.create_server(tok, "e1", "cirros", "m1.nano", networks=[{"uuid": net["id"]}]))[0]
    await wait_for(c, tok, s["id"], "ACTIVE")
    await c.rt.network.dhcp.ready([net["id"]])
    # the teardown after the delete fails (the node unreachable): the DHCP port stays behind
    fail = dhcp_agent.HelperError("node unreachable")

    def broken(cmd, *args, **kw):
        raise fail
    real = dhcp_agent.run_helper
    dhcp_agent.run_helper = broken
    try:
        await c.delete_server(tok, s["id"])
        await wait_gone(c, tok, s["id"])
    finally:
        dhcp_agent.run_helper = real
    assert len(await dhcp_ports(c, tok, net["id"])) == 1
    # it does not block the network's delete, and goes with it (its server torn down)
    await c.delete_network(tok, net["id"])
    assert net["id"] not in node.servers
    assert [p for p in await c.list_ports(tok) if p["network_id"] == net["id"]] == []


async def test_without_a_network_node_nothing_is_plumbed(cloud, monkeypatch):
    c, tok = cloud
    called = []
    monkeypatch.setattr(dhcp_agent, "run_helper", lambda *a, **k: called.append(a))
    s = (await c.create_server(tok, "n1", "cirros", "m1.nano"))[0]
    await wait_for(c, tok, s["id"], "ACTIVE")
    assert called == []
    assert not [p for p in await c.list_ports(tok) if p["device_owner"] == "network:dhcp"]


async def test_ports_go_active_only_once_dhcp_has_them(cloud, node):
    """Neutron's provisioning block: network-vif-plugged (and so the guest's start) waits for
    the DHCP agent's entry."""
    import asyncio
    import threading
    c, tok = cloud
    gate = threading.Event()
    plain = node.run_helper

    def slow(cmd, *args, **kw):
        if cmd == "dhcp-sync":
            assert gate.wait(20), "never released"
        return plain(cmd, *args, **kw)
    dhcp_agent.run_helper = slow
    s = (await c.create_server(tok, "g1", "cirros", "m1.nano"))[0]
    try:
        taps = {h: cm.driver.taps for h, cm in c.rt.computes.items()}
        for _ in range(500):  # bounded: until the host has plugged the port
            ports = [p for p in await c.list_ports(tok) if p["device_id"] == s["id"]]
            if ports and any(tap_name(ports[0]["id"]) in t for t in taps.values()):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the port was never plugged")
        for _ in range(200):  # let every step that is ready run (no timing involved)
            await asyncio.sleep(0)
        assert (await c.get_server(tok, s["id"]))["status"] == "BUILD"
        assert ports[0]["status"] == "DOWN"
        assert [p["status"] for p in await c.list_ports(tok) if p["device_id"] == s["id"]] == ["DOWN"]
    finally:
        gate.set()
    await wait_for(c, tok, s["id"], "ACTIVE")
    assert [p["status"] for p in await c.list_ports(tok) if p["device_id"] == s["id"]] == ["ACTIVE"]
    nid = ports[0]["network_id"]
    assert node.servers[nid]["hosts"][0].startswith(ports[0]["mac_address"] + ",")
