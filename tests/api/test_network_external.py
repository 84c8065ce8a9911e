"""Neutron v2.0 networks beyond create/delete: nameless networks, router:external on PUT
(admins; not off while gateways or floating IPs use it), an external network deleted with its
unassociated floating IPs, a subnet without a gateway, and a floating IP on the second fixed IP
of a port."""
from __future__ import annotations

import pytest
from l3help import N, external_network, neutron_error, put, router, tenant_network

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_network_may_be_nameless(env):
    r = await env.post(f"{N}/networks", {"network": {}}, who="mia")
    assert r.status_code == 201 and r.json()["network"]["name"] == "", r.text
    r = await put(env, f"{N}/networks/{r.json()['network']['id']}", {"network": {"name": ""}})
    assert r.status_code == 200, r.text


async def test_router_external_changes_on_put_by_admins_only(env):
    r = await env.post(f"{N}/networks", {"network": {"name": "to-be-external"}})
    net = r.json()["network"]
    assert net["router:external"] is False
    before = await env.state()
    neutron_error(await put(env, f"{N}/networks/{net['id']}", {"network": {"router:external": True}}, who="mia"),
                  403, "router:external")
    neutron_error(await put(env, f"{N}/networks/{net['id']}", {"network": {"router:external": "yes please"}},
                            who="admin"), 400, "router:external")
    assert await env.state() == before
    r = await put(env, f"{N}/networks/{net['id']}", {"network": {"router:external": True}}, who="admin")
    assert r.status_code == 200 and r.json()["network"]["router:external"] is True, r.text
    # in use by a floating IP: it stays external
    await env.post(f"{N}/subnets", {"subnet": {"network_id": net["id"], "cidr": "172.31.7.0/24"}})
    r = await env.post(f"{N}/floatingips", {"floatingip": {"floating_network_id": net["id"]}})
    assert r.status_code == 201, r.text
    neutron_error(await put(env, f"{N}/networks/{net['id']}", {"network": {"router:external": False}},
                            who="admin"), 409, "non-external")


async def test_an_external_network_goes_with_its_unassociated_floating_ips(env):
    ext, _ = await external_network(env, cidr="172.31.8.0/24", name="ext-going")
    fip = (await env.post(f"{N}/floatingips", {"floatingip": {"floating_network_id": ext["id"]}})).json()["floatingip"]
    r = await env.delete(f"{N}/networks/{ext['id']}")
    assert r.status_code == 204, r.text
    assert (await env.get(f"{N}/floatingips/{fip['id']}")).status_code == 404
    assert [p for p in (await env.get(f"{N}/ports")).json()["ports"] if p["network_id"] == ext["id"]] == []


async def test_a_network_with_a_port_in_use_is_not_deleted(env):
    net, _ = await tenant_network(env, "10.81.0.0/24")
    await env.post(f"{N}/ports", {"port": {"network_id": net["id"]}}, who="mia")
    before = await env.state()
    neutron_error(await env.delete(f"{N}/networks/{net['id']}", who="mia"), 409, "ports still in use",
                  kind="NetworkInUse")
    assert await env.state() == before


async def test_a_subnet_without_a_gateway(env):
    r = await env.post(f"{N}/networks", {"network": {"name": "no-gw"}}, who="mia")
    nid = r.json()["network"]["id"]
    r = await env.post(f"{N}/subnets", {"subnet": {"network_id": nid, "cidr": "10.82.0.0/29", "gateway_ip": None}},
                       who="mia")
    assert r.status_code == 201, r.text
    sub = r.json()["subnet"]
    assert sub["gateway_ip"] is None and sub["allocation_pools"] == [{"start": "10.82.0.1", "end": "10.82.0.6"}]
    port = (await env.post(f"{N}/ports", {"port": {"network_id": nid}}, who="mia")).json()["port"]
    assert port["fixed_ips"][0]["ip_address"] == "10.82.0.1"


async def test_a_floating_ip_maps_to_the_fixed_ip_it_is_given(env):
    ext, _ = await external_network(env, cidr="172.31.9.0/24", name="ext-two-ips")
    net, a = await tenant_network(env, "10.83.0.0/24")
    b = (await env.post(f"{N}/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.83.1.0/24"}},
                        who="mia")).json()["subnet"]
    rt = await router(env, gateway_net=ext["id"])
    for s in (a, b):
        r = await put(env, f"{N}/routers/{rt['id']}/add_router_interface", {"subnet_id": s["id"]})
        assert r.status_code == 200, r.text
    port = (await env.post(f"{N}/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": a["id"]}, {"subnet_id": b["id"]}]}}, who="mia")).json()["port"]
    second = port["fixed_ips"][1]["ip_address"]
    r = await env.post(f"{N}/floatingips", {"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"],
                                                           "fixed_ip_address": second}}, who="mia")
    assert r.status_code == 201 and r.json()["floatingip"]["fixed_ip_address"] == second, r.text
    neutron_error(await env.post(f"{N}/floatingips", {"floatingip": {
        "floating_network_id": ext["id"], "port_id": port["id"], "fixed_ip_address": "10.83.2.9"}}, who="mia"),
        400, "does not have fixed ip 10.83.2.9")
