"""The L3 agent behind the router and floating IP API (fake hosts, the privileged helper
recorded instead of run): each change states the whole router to `sync-router` before the
call returns; a router that goes is unplugged, the external bridge removed with the last
gateway, a network's node bridge left when its last router leg goes; a failed plumbing marks
the router ERROR."""
from __future__ import annotations

import pytest
import pytest_asyncio

from backend.network.l3_agent import L3Agent, external_bridge_name, namespace
from l3help import N, external_network, put, router, tenant_network

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Recorder:
    def __init__(self):
        self.calls: list[tuple] = []
        self.left: list[str] = []
        self.fail = False

    def helper(self, *args):
        if self.fail and args[0] == "sync-router":
            raise RuntimeError("privileged helper sync-router failed (1): boom")
        self.calls.append(args)
        return ""

    def last(self, cmd):
        return next((c for c in reversed(self.calls) if c[0] == cmd), None)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rec(env):
    r = Recorder()
    net = env.cloud.rt.network
    net.l3_agent = L3Agent(net, "psxunit", helper=r.helper, ensure_network=lambda nid: "brq" + nid[:11],
                           remove_network=r.left.append)
    yield r
    net.l3_agent = None


def _opts(call) -> dict:
    """sync-router's arguments grouped by option: {--gateway: [[...]], --leg: [[...], ...]}."""
    sizes = {"--gateway": 6, "--leg": 5, "--snat": 1, "--fip": 2}
    out: dict = {}
    i = 2
    while i < len(call):
        n = sizes[call[i]]
        out.setdefault(call[i], []).append(list(call[i + 1:i + 1 + n]))
        i += 1 + n
    return out


async def test_router_floating_ip_and_removal_are_plumbed(env, rec):
    pub, pub_sub = await external_network(env)
    net, sub = await tenant_network(env, "10.61.0.0/24")
    r = await router(env, gateway_net=pub["id"])
    assert rec.last("ensure-external") == ("ensure-external", "psxunit", "172.24.4.1/24")
    gw_ip = r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    call = rec.last("sync-router")
    assert call[1] == namespace(r["id"]) == "qrouter-" + r["id"][:8]
    (gw,) = _opts(call)["--gateway"]
    assert gw[0].startswith("qg-") and gw[1].startswith("tap") and gw[2:] == [
        "psxunit", gw[3], f"{gw_ip}/24", "172.24.4.1"]
    info = (await put(env, f"{N}/routers/{r['id']}/add_router_interface", {"subnet_id": sub["id"]})).json()
    port = (await env.get(f"{N}/ports", who="mia")).json()["ports"]
    iface = next(p for p in port if p["id"] == info["port_id"])
    opts = _opts(rec.last("sync-router"))
    assert opts["--leg"] == [["qr-" + iface["id"][:11], "tap" + iface["id"][:11], "brq" + net["id"][:11],
                              iface["mac_address"], "10.61.0.1/24"]]
    assert opts["--snat"] == [["10.61.0.0/24"]] and "--fip" not in opts
    vm = (await env.post(f"{N}/ports", {"port": {"network_id": net["id"]}}, who="mia")).json()["port"]
    f = (await env.post(f"{N}/floatingips", {"floatingip": {"floating_network_id": pub["id"], "port_id": vm["id"]}},
                        who="mia")).json()["floatingip"]
    assert _opts(rec.last("sync-router"))["--fip"] == [[f["floating_ip_address"], vm["fixed_ips"][0]["ip_address"]]]
    # disassociated by deleting its port: the DNAT goes with it
    assert (await env.delete(f"{N}/ports/{vm['id']}", who="mia")).status_code == 204
    assert "--fip" not in _opts(rec.last("sync-router"))
    assert (await env.delete(f"{N}/floatingips/{f['id']}", who="mia")).status_code == 204
    assert (await put(env, f"{N}/routers/{r['id']}/remove_router_interface", {"subnet_id": sub["id"]})).status_code \
        == 200
    assert "--leg" not in _opts(rec.last("sync-router")) and rec.left == [net["id"]]
    assert (await put(env, f"{N}/routers/{r['id']}", {"router": {"external_gateway_info": None}})).status_code == 200
    assert rec.calls[-2:] == [("unplug-router", namespace(r["id"])), ("remove-external", "psxunit")]
    assert (await env.delete(f"{N}/routers/{r['id']}", who="mia")).status_code == 204
    assert rec.calls[-2:] == [("unplug-router", namespace(r["id"])), ("remove-external", "psxunit")]


async def test_admin_down_router_is_unplugged_and_back_up_plumbed(env, rec):
    pub = (await env.get(f"{N}/networks?router:external=True")).json()["networks"][0]
    r = await router(env, gateway_net=pub["id"], name="toggled")
    assert rec.last("sync-router")[1] == namespace(r["id"])
    assert (await put(env, f"{N}/routers/{r['id']}", {"router": {"admin_state_up": False}})).status_code == 200
    assert rec.calls[-1] == ("unplug-router", namespace(r["id"]))
    assert (await put(env, f"{N}/routers/{r['id']}", {"router": {"admin_state_up": True}})).status_code == 200
    assert rec.calls[-1][:2] == ("sync-router", namespace(r["id"]))


async def test_failed_plumbing_marks_the_router_error(env, rec):
    pub = (await env.get(f"{N}/networks?router:external=True")).json()["networks"][0]
    rec.fail = True
    try:
        r = await router(env, gateway_net=pub["id"], name="broken")
    finally:
        rec.fail = False
    assert r["status"] == "ERROR"
    got = await put(env, f"{N}/routers/{r['id']}", {"router": {"name": "fixed"}})
    assert got.json()["router"]["status"] == "ACTIVE"


async def test_external_bridge_name_is_per_state_directory(tmp_path):
    a, b = external_bridge_name(tmp_path / "a"), external_bridge_name(tmp_path / "b")
    assert a != b and a.startswith("psx") and len(a) <= 15


async def test_external_bridge_is_configurable_in_hosts_yaml():
    from backend.core.hosts import HostsFileError, parse_hosts_file
    text = "hosts:\n  - {name: a, address: 127.0.0.1, driver: fake}\nnetwork_node: {local_ip: 10.0.0.1, %s}\n"
    assert parse_hosts_file(text % "external_bridge: psxlab1", "h.yaml").network_node.external_bridge == "psxlab1"
    assert parse_hosts_file(text % "external_bridge: null", "h.yaml").network_node.external_bridge is None
    with pytest.raises(HostsFileError) as e:
        parse_hosts_file(text % "external_bridge: 'br-ex;reboot'", "h.yaml")
    assert "h.yaml" in str(e.value) and "network_node.external_bridge" in str(e.value) and "line 3" in str(e.value)
