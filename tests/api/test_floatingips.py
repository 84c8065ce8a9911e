"""Neutron v2.0 floating IPs: create on an external network, associate/disassociate by PUT,
the server's addresses (OS-EXT-IPS:type floating), and the refusals (another project's port,
a fixed IP the port lacks, a port without an address, no router to the external network),
each of which writes nothing."""
from __future__ import annotations

import ipaddress

import pytest
import pytest_asyncio

from l3help import N, db_state, external_network, neutron_error, put, router, tenant_network

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lan(env):
    """public (external), mia's network 10.51.0.0/24 joined to it by a router, a port on it."""
    pub, pub_sub = await external_network(env)
    net, sub = await tenant_network(env, "10.51.0.0/24")
    r = await router(env, gateway_net=pub["id"])
    got = await put(env, f"{N}/routers/{r['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert got.status_code == 200, got.text
    port = (await env.post(f"{N}/ports", {"port": {"network_id": net["id"]}}, who="mia")).json()["port"]
    return {"pub": pub, "pub_sub": pub_sub, "net": net, "sub": sub, "router": r, "port": port}


def _fip(pub_id, **kw) -> dict:
    return {"floatingip": {"floating_network_id": pub_id, **kw}}


async def test_create_associate_disassociate_delete(env, lan):
    port = lan["port"]
    r = await env.post(f"{N}/floatingips", _fip(lan["pub"]["id"], port_id=port["id"]), who="mia")
    assert r.status_code == 201, r.text
    f = r.json()["floatingip"]
    assert ipaddress.ip_address(f["floating_ip_address"]) in ipaddress.ip_network(lan["pub_sub"]["cidr"])
    assert (f["port_id"], f["fixed_ip_address"], f["router_id"], f["status"]) == \
        (port["id"], port["fixed_ips"][0]["ip_address"], lan["router"]["id"], "ACTIVE")
    assert f["project_id"] == env.ids["project_mia"] and f["floating_network_id"] == lan["pub"]["id"]
    listed = (await env.get(f"{N}/floatingips?port_id={port['id']}", who="mia")).json()["floatingips"]
    assert [x["id"] for x in listed] == [f["id"]]
    assert (await env.get(f"{N}/floatingips", who="bob")).json()["floatingips"] == []
    # the address is held by a port of its own on the external network
    held = (await env.get(f"{N}/ports?device_id={f['id']}")).json()["ports"]
    assert [(p["device_owner"], p["fixed_ips"][0]["ip_address"]) for p in held] == \
        [("network:floatingip", f["floating_ip_address"])]
    got = await put(env, f"{N}/floatingips/{f['id']}", {"floatingip": {"port_id": None}})
    assert got.status_code == 200, got.text
    g = got.json()["floatingip"]
    assert (g["port_id"], g["fixed_ip_address"], g["router_id"], g["status"]) == (None, None, None, "DOWN")
    assert g["floating_ip_address"] == f["floating_ip_address"]
    got = await put(env, f"{N}/floatingips/{f['id']}", {"floatingip": {
        "port_id": port["id"], "fixed_ip_address": port["fixed_ips"][0]["ip_address"]}})
    assert got.status_code == 200 and got.json()["floatingip"]["status"] == "ACTIVE", got.text
    assert (await env.delete(f"{N}/floatingips/{f['id']}", who="mia")).status_code == 204
    neutron_error(await env.get(f"{N}/floatingips/{f['id']}", who="mia"), 404, kind="FloatingIPNotFound")
    assert (await env.get(f"{N}/ports?device_id={f['id']}")).json()["ports"] == []


async def test_bad_floating_ips_are_refused_and_write_nothing(env, lan):
    pub = lan["pub"]["id"]
    bare_net = (await env.post(f"{N}/networks", {"network": {"name": "bare"}}, who="mia")).json()["network"]
    bare = (await env.post(f"{N}/ports", {"port": {"network_id": bare_net["id"]}}, who="mia")).json()["port"]
    lone_net, _ = await tenant_network(env, "10.52.0.0/24")
    lone = (await env.post(f"{N}/ports", {"port": {"network_id": lone_net["id"]}}, who="mia")).json()["port"]
    taken = await env.post(f"{N}/floatingips", _fip(pub, port_id=lan["port"]["id"]), who="mia")
    assert taken.status_code == 201, taken.text
    before = db_state(env)
    # a port of another project is not visible: 404, as neutron
    neutron_error(await env.post(f"{N}/floatingips", _fip(pub, port_id=lan["port"]["id"]), who="bob"), 404,
                  lan["port"]["id"], kind="PortNotFound")
    neutron_error(await env.post(f"{N}/floatingips", _fip(pub, port_id=lan["port"]["id"],
                                                          fixed_ip_address="10.51.0.200"), who="mia"),
                  400, "does not have fixed ip 10.51.0.200")
    neutron_error(await env.post(f"{N}/floatingips", _fip(pub, port_id=bare["id"]), who="mia"), 400,
                  "no fixed IPv4 addresses")
    neutron_error(await env.post(f"{N}/floatingips", _fip(pub, port_id=lone["id"]), who="mia"), 404,
                  "is not reachable from subnet", kind="ExternalGatewayForFloatingIPNotFound")
    neutron_error(await env.post(f"{N}/floatingips", _fip(pub, port_id=lan["port"]["id"]), who="mia"), 409,
                  "already has a floating IP", kind="FloatingIPPortAlreadyAssociated")
    neutron_error(await env.post(f"{N}/floatingips", _fip(lan["net"]["id"]), who="mia"), 400,
                  "not a valid external network")
    neutron_error(await env.post(f"{N}/floatingips", _fip(pub, floating_ip_address="10.9.9.9")), 400,
                  "IP address 10.9.9.9 is not a valid IP for any of the subnets", kind="InvalidIpForNetwork")
    neutron_error(await env.post(f"{N}/floatingips", _fip(pub, floating_ip_address="172.24.4.77"), who="mia"),
                  403, "floating_ip_address")
    neutron_error(await env.post(f"{N}/floatingips", _fip(pub, fixed_ip_address="10.51.0.x"), who="mia"), 400,
                  "not a valid IP address")
    neutron_error(await env.post(f"{N}/floatingips", _fip("public"), who="mia"), 400, "not a valid UUID")
    neutron_error(await env.post(f"{N}/floatingips", {"floatingip": {}}, who="mia"), 400, "floating_network_id")
    neutron_error(await put(env, f"{N}/floatingips/{taken.json()['floatingip']['id']}",
                            {"floatingip": {"port_id": lone["id"]}}), 404, kind="ExternalGatewayForFloatingIPNotFound")
    # what the floating IP needs cannot go while it is associated
    rid, sub = lan["router"]["id"], lan["sub"]["id"]
    neutron_error(await put(env, f"{N}/routers/{rid}/remove_router_interface", {"subnet_id": sub}), 409,
                  kind="RouterInterfaceInUseByFloatingIP")
    neutron_error(await put(env, f"{N}/routers/{rid}", {"router": {"external_gateway_info": None}}), 409,
                  kind="RouterExternalGatewayInUseByFloatingIp")
    neutron_error(await env.delete(f"{N}/networks/{pub}"), 409)
    assert db_state(env) == before
    assert (await env.delete(f"{N}/floatingips/{taken.json()['floatingip']['id']}", who="mia")).status_code == 204


async def test_server_shows_its_floating_ip_and_loses_it_with_the_port(env, lan):
    r = await env.post(f"{V}/servers", {"server": {"name": "fipped", "imageRef": env.ids["image"], "flavorRef": "1",
                                                   "networks": [{"uuid": lan["net"]["id"]}]}}, who="mia")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    (port,) = (await env.get(f"{N}/ports?device_id={sid}", who="mia")).json()["ports"]
    f = (await env.post(f"{N}/floatingips", _fip(lan["pub"]["id"], port_id=port["id"]), who="mia")).json()[
        "floatingip"]
    addrs = (await env.get(f"{V}/servers/{sid}", who="mia")).json()["server"]["addresses"][lan["net"]["name"]]
    assert [(a["addr"], a["OS-EXT-IPS:type"]) for a in addrs] == \
        [(port["fixed_ips"][0]["ip_address"], "fixed"), (f["floating_ip_address"], "floating")]
    listed = (await env.get(f"{V}/servers/detail", who="mia")).json()["servers"]
    assert [s["addresses"] for s in listed if s["id"] == sid] == [{lan["net"]["name"]: addrs}]
    assert (await env.delete(f"{V}/servers/{sid}", who="mia")).status_code == 204
    for _ in range(500):
        g = (await env.get(f"{N}/floatingips/{f['id']}", who="mia")).json()["floatingip"]
        if g["port_id"] is None:
            break
        await __import__("asyncio").sleep(0.02)
    assert (g["port_id"], g["status"], g["router_id"]) == (None, "DOWN", None)


async def test_floatingip_quota_is_neutrons(env, lan):
    pid = env.ids["project_bob"]
    r = await env.http.put(f"{N}/quotas/{pid}", json={"quota": {"floatingip": 1}}, headers=env.h())
    assert r.status_code == 200, r.text
    assert (await env.post(f"{N}/floatingips", _fip(lan["pub"]["id"]), who="bob")).status_code == 201
    before = db_state(env)
    neutron_error(await env.post(f"{N}/floatingips", _fip(lan["pub"]["id"]), who="bob"), 409, "floatingip",
                  kind="OverQuota")
    assert db_state(env) == before
    assert (await env.get(f"{N}/quotas/{pid}/details")).json()["quota"]["floatingip"]["used"] == 1
