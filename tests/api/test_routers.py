"""Neutron v2.0 routers: CRUD, the external gateway, add/remove_router_interface, and the
refusals of bad input (overlapping CIDRs, a subnet twice, delete while in use), each of which
writes nothing."""
from __future__ import annotations

import ipaddress

import pytest
import pytest_asyncio

from l3help import N, db_state, external_network, neutron_error, put, router, tenant_network

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def public(env):
    return await external_network(env)


async def test_external_network_is_admin_only_and_visible_to_all(env, public):
    r = await env.post(f"{N}/networks", {"network": {"name": "x", "router:external": True}}, who="mia")
    neutron_error(r, 403, "external")
    net, sub = public
    listed = (await env.get(f"{N}/networks?router:external=True", who="bob")).json()["networks"]
    assert [n["id"] for n in listed] == [net["id"]]
    # its subnets stay the owner's (neutron: external subnets are not shown to others)
    assert (await env.get(f"{N}/subnets?network_id={net['id']}", who="bob")).json()["subnets"] == []
    exts = {e["alias"] for e in (await env.get(f"{N}/extensions", who="mia")).json()["extensions"]}
    assert {"router", "external-net", "ext-gw-mode"} <= exts


async def test_router_with_gateway_show_update_delete(env, public):
    net, sub = public
    r = await router(env, gateway_net=net["id"], name="edge")
    gw = r["external_gateway_info"]
    assert gw["network_id"] == net["id"] and gw["enable_snat"] is True
    (fixed,) = gw["external_fixed_ips"]
    assert fixed["subnet_id"] == sub["id"]
    assert ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network(sub["cidr"])
    assert r["status"] == "ACTIVE" and r["admin_state_up"] is True and r["project_id"] == env.ids["project_mia"]
    shown = (await env.get(f"{N}/routers/{r['id']}", who="mia")).json()["router"]
    assert shown["external_gateway_info"] == gw
    ports = (await env.get(f"{N}/ports?device_id={r['id']}")).json()["ports"]
    assert [(p["device_owner"], p["fixed_ips"][0]["ip_address"]) for p in ports] == \
        [("network:router_gateway", fixed["ip_address"])]
    r2 = await put(env, f"{N}/routers/{r['id']}", {"router": {"name": "edge2", "external_gateway_info": {}}})
    assert r2.status_code == 200 and r2.json()["router"]["external_gateway_info"] is None, r2.text
    assert r2.json()["router"]["name"] == "edge2"
    assert (await env.get(f"{N}/ports?device_id={r['id']}")).json()["ports"] == []
    assert (await env.delete(f"{N}/routers/{r['id']}", who="mia")).status_code == 204
    neutron_error(await env.get(f"{N}/routers/{r['id']}", who="mia"), 404, r["id"], kind="RouterNotFound")


async def test_interfaces_by_subnet_and_by_port(env, public):
    net_a, sub_a = await tenant_network(env, "10.31.0.0/24")
    net_b, sub_b = await tenant_network(env, "10.32.0.0/24")
    r = await router(env, gateway_net=public[0]["id"])
    got = await put(env, f"{N}/routers/{r['id']}/add_router_interface", {"subnet_id": sub_a["id"]})
    assert got.status_code == 200, got.text
    info = got.json()
    assert info["id"] == r["id"] and info["subnet_id"] == sub_a["id"] and info["subnet_ids"] == [sub_a["id"]]
    port = (await env.get(f"{N}/ports/{info['port_id']}", who="mia")).json()["port"]
    assert port["device_owner"] == "network:router_interface" and port["device_id"] == r["id"]
    assert port["fixed_ips"] == [{"subnet_id": sub_a["id"], "ip_address": sub_a["gateway_ip"]}]
    own = (await env.post(f"{N}/ports", {"port": {"network_id": net_b["id"]}}, who="mia")).json()["port"]
    got = await put(env, f"{N}/routers/{r['id']}/add_router_interface", {"port_id": own["id"]})
    assert got.status_code == 200 and got.json()["port_id"] == own["id"], got.text
    # the router is in use: neither it, its ports, nor the subnets and networks can go
    before = db_state(env)
    neutron_error(await env.delete(f"{N}/routers/{r['id']}", who="mia"), 409, "still has ports",
                  kind="RouterInUse")
    neutron_error(await env.delete(f"{N}/ports/{info['port_id']}", who="mia"), 409, "network:router_interface")
    neutron_error(await env.delete(f"{N}/subnets/{sub_a['id']}", who="mia"), 409)
    neutron_error(await env.delete(f"{N}/networks/{net_b['id']}", who="mia"), 409)
    neutron_error(await env.delete(f"{N}/networks/{public[0]['id']}"), 409)
    assert db_state(env) == before
    got = await put(env, f"{N}/routers/{r['id']}/remove_router_interface", {"subnet_id": sub_a["id"]})
    assert got.status_code == 200 and got.json()["port_id"] == info["port_id"], got.text
    got = await put(env, f"{N}/routers/{r['id']}/remove_router_interface", {"port_id": own["id"]})
    assert got.status_code == 200, got.text
    # neutron deletes the interface port either way
    assert (await env.get(f"{N}/ports?device_id={r['id']}&device_owner=network:router_interface")).json()[
        "ports"] == []
    assert (await env.get(f"{N}/ports/{own['id']}", who="mia")).status_code == 404
    assert (await env.delete(f"{N}/routers/{r['id']}", who="mia")).status_code == 204
    assert (await env.delete(f"{N}/networks/{net_a['id']}", who="mia")).status_code == 204


async def test_bad_interfaces_are_refused_and_write_nothing(env, public):
    _, sub_a = await tenant_network(env, "10.41.0.0/24")
    _, overlapping = await tenant_network(env, "10.41.0.0/25")
    _, no_gw = await tenant_network(env, "10.43.0.0/24")
    assert (await put(env, f"{N}/subnets/{no_gw['id']}", {"subnet": {"gateway_ip": None}})).status_code == 200
    net_nosub = (await env.post(f"{N}/networks", {"network": {"name": "bare"}}, who="mia")).json()["network"]
    bare_port = (await env.post(f"{N}/ports", {"port": {"network_id": net_nosub["id"]}}, who="mia")).json()["port"]
    _, bobs = await tenant_network(env, "10.44.0.0/24", who="bob")
    r = await router(env)
    add = f"{N}/routers/{r['id']}/add_router_interface"
    assert (await put(env, add, {"subnet_id": sub_a["id"]})).status_code == 200
    before = db_state(env)
    err = neutron_error(await put(env, add, {"subnet_id": overlapping["id"]}), 400, "overlaps",
                        kind="BadRequest")
    assert sub_a["id"] in err["message"] and overlapping["id"] in err["message"]
    neutron_error(await put(env, add, {"subnet_id": sub_a["id"]}), 400, "already has a port on subnet")
    neutron_error(await put(env, add, {"subnet_id": no_gw["id"]}), 400, "gateway IP")
    neutron_error(await put(env, add, {"port_id": bare_port["id"]}), 400, "at least one fixed IP")
    neutron_error(await put(env, add, {"subnet_id": sub_a["id"], "port_id": bare_port["id"]}), 400, "both")
    neutron_error(await put(env, add, {}), 400, "Either subnet_id or port_id")
    neutron_error(await put(env, add, {"subnet_id": "nope"}), 400, "not a valid UUID")
    neutron_error(await put(env, add, {"subnet_id": bobs["id"]}), 404)
    neutron_error(await put(env, add.replace("add_", "remove_"), {"subnet_id": overlapping["id"]}), 404,
                  kind="RouterInterfaceNotFoundForSubnet")
    # another project's router is not there at all
    neutron_error(await put(env, add, {"subnet_id": bobs["id"]}, who="bob"), 404, kind="RouterNotFound")
    neutron_error(await env.delete(f"{N}/routers/{r['id']}", who="bob"), 404)
    # reader may look, not change
    assert (await env.get(f"{N}/routers/{r['id']}", who="rita")).status_code == 200
    neutron_error(await put(env, add, {"subnet_id": no_gw["id"]}, who="rita"), 403)
    assert db_state(env) == before


async def test_gateway_overlap_and_non_external_network(env, public):
    net_a, sub_a = await tenant_network(env, "172.24.4.0/26")
    before = db_state(env)
    neutron_error(await env.post(f"{N}/routers", {"router": {"name": "x", "external_gateway_info": {
        "network_id": net_a["id"]}}}, who="mia"), 400, "not an external network")
    neutron_error(await env.post(f"{N}/routers", {"router": {"name": "x", "external_gateway_info": {
        "network_id": public[0]["id"], "enable_snat": False}}}, who="mia"), 403, "enable_snat")
    neutron_error(await env.post(f"{N}/routers", {"router": {"name": "x", "distributed": True}}, who="mia"), 400,
                  "distributed")
    neutron_error(await env.post(f"{N}/routers", {"router": {"name": "x", "external_gateway_info": {
        "network_id": public[0]["id"], "external_fixed_ips": [{"ip_address": "10.9.9.9"}]}}}), 400,
        "not a valid IP for any of the subnets", kind="InvalidIpForNetwork")
    assert db_state(env) == before
    r = await router(env, gateway_net=public[0]["id"])
    before = db_state(env)
    err = neutron_error(await put(env, f"{N}/routers/{r['id']}/add_router_interface", {"subnet_id": sub_a["id"]}),
                        400, "overlaps")
    assert public[1]["id"] in err["message"]
    assert db_state(env) == before
    # an admin may turn SNAT off
    got = await put(env, f"{N}/routers/{r['id']}", {"router": {"external_gateway_info": {
        "network_id": public[0]["id"], "enable_snat": False}}}, who="admin")
    assert got.status_code == 200 and got.json()["router"]["external_gateway_info"]["enable_snat"] is False


async def test_router_quota_is_neutrons(env):
    pid = env.ids["project_bob"]
    r = await env.http.put(f"{N}/quotas/{pid}", json={"quota": {"router": 1}}, headers=env.h())
    assert r.status_code == 200, r.text
    assert (await env.get(f"{N}/quotas/{pid}/details")).json()["quota"]["router"]["used"] == 0
    await router(env, who="bob")
    before = db_state(env)
    neutron_error(await env.post(f"{N}/routers", {"router": {"name": "two"}}, who="bob"), 409, "router",
                  kind="OverQuota")
    assert db_state(env) == before
    assert (await env.get(f"{N}/quotas/{pid}/details")).json()["quota"]["router"]["used"] == 1
    defaults = (await env.get(f"{N}/quotas/{pid}/default")).json()["quota"]
    assert defaults["router"] == 10 and defaults["floatingip"] == 50


async def test_admin_state_is_kept(env):
    r = await env.post(f"{N}/routers", {"router": {"name": "down", "admin_state_up": False}}, who="mia")
    assert r.status_code == 201 and r.json()["router"]["admin_state_up"] is False, r.text
    rid = r.json()["router"]["id"]
    got = await put(env, f"{N}/routers/{rid}", {"router": {"admin_state_up": True}})
    assert got.status_code == 200 and got.json()["router"]["admin_state_up"] is True
    assert (await env.get(f"{N}/routers/{rid}", who="mia")).json()["router"]["admin_state_up"] is True
    neutron_error(await put(env, f"{N}/routers/{rid}", {"router": {"admin_state_up": "maybe"}}), 400,
                  "admin_state_up")
