"""Neutron v2.0 ports: admin_state_up false kept and shown, PUT fixed_ips (the address
changes, checked as neutron's IPAM: inside the subnet, free), several fixed IPs on one port."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
N = "/network/v2.0"


async def _network(env, *cidrs, who="mia") -> tuple[dict, list[dict]]:
    r = await env.post(f"{N}/networks", {"network": {"name": "n"}}, who=who)
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    subs = []
    for cidr in cidrs:
        r = await env.post(f"{N}/subnets", {"subnet": {"network_id": net["id"], "cidr": cidr}}, who=who)
        assert r.status_code == 201, r.text
        subs.append(r.json()["subnet"])
    return net, subs


async def _port(env, net, who="mia", **kw) -> dict:
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"], **kw}}, who=who)
    assert r.status_code == 201, r.text
    return r.json()["port"]


async def _put(env, port, who="mia", **kw):
    return await env.http.put(f"{N}/ports/{port['id']}", json={"port": kw}, headers=env.h(who))


def _error(r) -> dict:
    return r.json()["NeutronError"]


async def test_admin_state_up_false_is_kept_and_shown(env):
    net, _ = await _network(env, "10.71.0.0/24")
    port = await _port(env, net, admin_state_up=False)
    assert port["admin_state_up"] is False and port["status"] == "DOWN"
    assert (await env.get(f"{N}/ports/{port['id']}", who="mia")).json()["port"]["admin_state_up"] is False
    r = await _put(env, port, name="up-again", admin_state_up=True)
    assert r.status_code == 200 and r.json()["port"]["admin_state_up"] is True, r.text
    r = await _put(env, port, admin_state_up="maybe")
    assert r.status_code == 400 and "admin_state_up" in _error(r)["message"], r.text


async def test_put_fixed_ips_moves_the_address(env):
    net, (sub,) = await _network(env, "10.72.0.0/24")
    port = await _port(env, net)
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.72.0.2"}]
    r = await _put(env, port, fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.72.0.50"}])
    assert r.status_code == 200, r.text
    assert r.json()["port"]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.72.0.50"}]
    # the old address is free again, the new one taken
    other = await _port(env, net)
    assert other["fixed_ips"][0]["ip_address"] == "10.72.0.2"
    # naming the subnet alone keeps the address the port has there (neutron's update)
    r = await _put(env, port, fixed_ips=[{"subnet_id": sub["id"]}])
    assert r.json()["port"]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.72.0.50"}], r.text


@pytest.mark.parametrize("fixed_ips, code, kind, words", [
    ([{"ip_address": "10.73.0.2"}], 409, "IpAddressAlreadyAllocated", "10.73.0.2"),
    ([{"ip_address": "10.73.0.1"}], 409, "IpAddressAlreadyAllocated", "10.73.0.1"),  # the gateway
    ([{"subnet_id": "{sub}", "ip_address": "10.99.0.5"}], 400, "InvalidIpForSubnet", "10.99.0.5"),
    ([{"ip_address": "10.73.0.255"}], 400, "InvalidIpForSubnet", "10.73.0.255"),  # broadcast
    ([{"ip_address": "172.16.9.9"}], 400, "InvalidIpForNetwork", "172.16.9.9"),
    ([{"subnet_id": "no-such-subnet"}], 400, "InvalidInput", "no-such-subnet"),
    ([{"ip_address": "10.73.0.300"}], 400, "BadRequest", "10.73.0.300"),
    ([{"ip_address": "10.73.0.9", "mac": "x"}], 400, "BadRequest", "mac"),
    ([{}], 400, "BadRequest", "subnet_id or an ip_address"),
    ("10.73.0.9", 400, "BadRequest", "fixed_ips"),
])
async def test_bad_fixed_ips_are_refused_and_nothing_is_written(env, fixed_ips, code, kind, words):
    net, (sub,) = await _network(env, "10.73.0.0/24")
    await _port(env, net)  # holds 10.73.0.2
    port = await _port(env, net, fixed_ips=[{"ip_address": "10.73.0.7"}])
    if isinstance(fixed_ips, list):
        fixed_ips = [{k: (sub["id"] if v == "{sub}" else v) for k, v in f.items()} for f in fixed_ips]
    before = await env.state()
    r = await _put(env, port, name="renamed", fixed_ips=fixed_ips)
    assert r.status_code == code and _error(r)["type"] == kind and words in _error(r)["message"], r.text
    assert await env.state() == before
    # the same checks on create
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"], "fixed_ips": fixed_ips}}, who="mia")
    assert r.status_code == code and _error(r)["type"] == kind, r.text
    assert await env.state() == before


async def test_a_port_holds_several_fixed_ips(env):
    net, (a, b) = await _network(env, "10.74.0.0/24", "10.74.1.0/24")
    port = await _port(env, net, fixed_ips=[{"subnet_id": a["id"]}, {"subnet_id": b["id"]}])
    assert port["fixed_ips"] == [{"subnet_id": a["id"], "ip_address": "10.74.0.2"},
                                 {"subnet_id": b["id"], "ip_address": "10.74.1.2"}]
    # the second address is taken: another port cannot have it, the next one is given
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.74.1.2"}]}},
                       who="mia")
    assert r.status_code == 409 and _error(r)["type"] == "IpAddressAlreadyAllocated", r.text
    assert (await _port(env, net, fixed_ips=[{"subnet_id": b["id"]}]))["fixed_ips"][0]["ip_address"] == "10.74.1.3"
    # back to one address, then two again (tempest's test_create_update_port_with_second_ip)
    r = await _put(env, port, fixed_ips=[{"subnet_id": a["id"]}])
    assert r.json()["port"]["fixed_ips"] == [{"subnet_id": a["id"], "ip_address": "10.74.0.2"}], r.text
    assert (await _port(env, net, fixed_ips=[{"ip_address": "10.74.1.2"}]))["fixed_ips"][0]["ip_address"] == "10.74.1.2"
    r = await _put(env, port, fixed_ips=[{"subnet_id": a["id"]}, {"subnet_id": b["id"]}])
    assert r.status_code == 200 and len(r.json()["port"]["fixed_ips"]) == 2, r.text
    assert r.json()["port"]["fixed_ips"][1]["ip_address"] == "10.74.1.4"
    # a subnet with an address on a port cannot go; the filter finds the port by either address
    r = await env.delete(f"{N}/subnets/{b['id']}", who="mia")
    assert r.status_code == 409, r.text
    found = (await env.get(f"{N}/ports?fixed_ips=ip_address%3D10.74.1.4", who="mia")).json()["ports"]
    assert [p["id"] for p in found] == [port["id"]]
    assert (await env.delete(f"{N}/ports/{port['id']}", who="mia")).status_code == 204
    assert (await _port(env, net, fixed_ips=[{"ip_address": "10.74.1.4"}]))["fixed_ips"][0]["ip_address"] == "10.74.1.4"


async def test_a_member_cannot_choose_an_address_on_another_projects_network_by_put(env):
    r = await env.post(f"{N}/networks", {"network": {"name": "shared-n", "shared": True}})
    net = r.json()["network"]
    await env.post(f"{N}/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.75.0.0/24"}})
    port = await _port(env, net, who="bob")
    before = await env.state()
    r = await _put(env, port, who="bob", fixed_ips=[{"ip_address": "10.75.0.99"}])
    assert r.status_code == 403 and "fixed IP" in _error(r)["message"], r.text
    assert await env.state() == before
