"""Neutron v2.0 subnets: enable_dhcp false (kept, shown, left out by the DHCP agent),
allocation_pools on PUT, overlap as neutron's InvalidInput, IPv6 subnets with their modes and
EUI-64 addresses for SLAAC."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
N = "/network/v2.0"


async def _network(env, who="mia") -> dict:
    r = await env.post(f"{N}/networks", {"network": {"name": "n"}}, who=who)
    assert r.status_code == 201, r.text
    return r.json()["network"]


async def _subnet(env, nid, cidr, who="mia", **kw):
    return await env.post(f"{N}/subnets", {"subnet": {"network_id": nid, "cidr": cidr, **kw}}, who=who)


def _error(r) -> dict:
    return r.json()["NeutronError"]


async def test_dhcp_off_is_kept_shown_and_left_out_by_the_dhcp_agent(env):
    net = await _network(env)
    r = await _subnet(env, net["id"], "10.61.0.0/24", ip_version=4, enable_dhcp=False)
    assert r.status_code == 201, r.text
    sub = r.json()["subnet"]
    assert sub["enable_dhcp"] is False
    assert (await env.get(f"{N}/subnets/{sub['id']}", who="mia")).json()["subnet"]["enable_dhcp"] is False
    listed = (await env.get(f"{N}/subnets?enable_dhcp=false", who="mia")).json()["subnets"]
    assert sub["id"] in [s["id"] for s in listed]
    dhcp = env.cloud.rt.network.dhcp
    assert dhcp._subnet(net["id"]) is None  # nothing for dnsmasq to serve
    r = await env.http.put(f"{N}/subnets/{sub['id']}", json={"subnet": {"enable_dhcp": True}}, headers=env.h("mia"))
    assert r.status_code == 200 and r.json()["subnet"]["enable_dhcp"] is True, r.text
    assert dhcp._subnet(net["id"])["id"] == sub["id"]
    # a port still gets its address from the pool with DHCP off (neutron's IPAM is not DHCP)
    await env.http.put(f"{N}/subnets/{sub['id']}", json={"subnet": {"enable_dhcp": False}}, headers=env.h("mia"))
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"]}}, who="mia")
    assert r.json()["port"]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.61.0.2"}]


async def test_overlap_is_neutrons_invalid_input_and_nothing_is_made(env):
    net = await _network(env)
    assert (await _subnet(env, net["id"], "10.62.0.0/24")).status_code == 201
    before = await env.state()
    r = await _subnet(env, net["id"], "10.62.0.0/25")
    assert r.status_code == 400 and _error(r)["type"] == "InvalidInput", r.text
    assert "overlaps with another subnet" in _error(r)["message"] and net["id"] in _error(r)["message"]
    assert await env.state() == before
    # a second, separate range on the same network is fine (two subnets, one network)
    assert (await _subnet(env, net["id"], "10.62.1.0/24")).status_code == 201


async def test_allocation_pools_change_as_neutron_checks_them(env):
    net = await _network(env)
    sub = (await _subnet(env, net["id"], "10.63.0.0/24")).json()["subnet"]
    url = f"{N}/subnets/{sub['id']}"
    r = await env.http.put(url, json={"subnet": {"allocation_pools": [{"start": "10.63.0.100", "end": "10.63.0.110"}]}},
                           headers=env.h("mia"))
    assert r.status_code == 200, r.text
    assert r.json()["subnet"]["allocation_pools"] == [{"start": "10.63.0.100", "end": "10.63.0.110"}]
    port = (await env.post(f"{N}/ports", {"port": {"network_id": net["id"]}}, who="mia")).json()["port"]
    assert port["fixed_ips"][0]["ip_address"] == "10.63.0.100"
    before = await env.state()
    for pool, code, kind in (([{"start": "10.63.0.1", "end": "10.63.0.9"}], 409, "GatewayConflictWithAllocationPools"),
                             ([{"start": "10.63.0.200", "end": "10.63.1.5"}], 400, "OutOfBoundsAllocationPool"),
                             ([{"start": "10.63.0.0", "end": "10.63.0.5"}], 400, "OutOfBoundsAllocationPool"),
                             ([{"start": "10.63.0.50", "end": "10.63.0.40"}], 400, "InvalidAllocationPool"),
                             ([{"start": "10.63.0.50"}], 400, "BadRequest")):
        r = await env.http.put(url, json={"subnet": {"allocation_pools": pool}}, headers=env.h("mia"))
        assert r.status_code == code and _error(r)["type"] == kind, (pool, r.text)
    assert await env.state() == before
    # the gateway and the pool moving together: checked against each other, not the old pool
    r = await env.http.put(url, json={"subnet": {"gateway_ip": "10.63.0.105",
                                                 "allocation_pools": [{"start": "10.63.0.2", "end": "10.63.0.99"}]}},
                           headers=env.h("mia"))
    assert r.status_code == 200 and r.json()["subnet"]["gateway_ip"] == "10.63.0.105", r.text


async def test_ipv6_subnet_gives_ports_addresses_from_its_pool(env):
    net = await _network(env)
    r = await _subnet(env, net["id"], "2001:db8:64::/64", ip_version=6)
    assert r.status_code == 201, r.text
    sub = r.json()["subnet"]
    assert sub["ip_version"] == 6 and sub["gateway_ip"] == "2001:db8:64::1"
    assert sub["allocation_pools"] == [{"start": "2001:db8:64::2", "end": "2001:db8:64:0:ffff:ffff:ffff:ffff"}]
    assert sub["ipv6_ra_mode"] is None and sub["ipv6_address_mode"] is None
    port = (await env.post(f"{N}/ports", {"port": {"network_id": net["id"]}}, who="mia")).json()["port"]
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "2001:db8:64::2"}]
    listed = (await env.get(f"{N}/ports?fixed_ips=ip_address%3D2001:db8:64::2", who="mia")).json()["ports"]
    assert [p["id"] for p in listed] == [port["id"]]


async def test_slaac_ports_get_their_eui64_address(env):
    net = await _network(env)
    r = await _subnet(env, net["id"], "2001:db8:65::/64", ip_version=6, ipv6_ra_mode="slaac",
                      ipv6_address_mode="slaac")
    assert r.status_code == 201, r.text
    sub = r.json()["subnet"]
    assert sub["ipv6_ra_mode"] == "slaac" and sub["ipv6_address_mode"] == "slaac"
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:aa:bb:cc"}},
                       who="mia")
    assert r.status_code == 201, r.text
    # neutron's get_ipv6_addr_by_EUI64: the prefix, the MAC's U/L bit flipped, ff:fe in the middle
    assert r.json()["port"]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "2001:db8:65:0:f816:3eff:feaa:bbcc"}]
    before = await env.state()
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"],
                                               "fixed_ips": [{"ip_address": "2001:db8:65::7"}]}}, who="mia")
    assert r.status_code == 400 and "automatic addresses" in _error(r)["message"], r.text
    assert await env.state() == before


@pytest.mark.parametrize("body, words", [
    ({"cidr": "2001:db8:66::/64", "ip_version": 4}, "does not match ip_version"),
    ({"cidr": "10.66.0.0/24", "ip_version": 6}, "does not match ip_version"),
    ({"cidr": "10.66.0.0/24", "ipv6_ra_mode": "slaac"}, "not valid when ip_version is 4"),
    ({"cidr": "2001:db8:66::/64", "ip_version": 6, "ipv6_address_mode": "dhcp"}, "ipv6_address_mode"),
    ({"cidr": "2001:db8:66::/80", "ip_version": 6, "ipv6_address_mode": "slaac"}, "EUI-64"),
    ({"cidr": "2001:db8:66::/64", "ip_version": 6, "ipv6_ra_mode": "slaac",
      "ipv6_address_mode": "dhcpv6-stateful"}, "must be the same value"),
    ({"cidr": "2001:db8:66::/64", "ip_version": 6, "ipv6_address_mode": "slaac", "enable_dhcp": False},
     "enable_dhcp"),
    ({"cidr": "fe80::/64", "ip_version": 6}, "link-local"),
    ({"cidr": "10.66.0.0/24", "ip_version": 5}, "ip_version"),
])
async def test_bad_subnets_are_refused_naming_why_and_nothing_is_made(env, body, words):
    net = await _network(env)
    before = await env.state()
    r = await _subnet(env, net["id"], **body)
    assert r.status_code == 400 and words in _error(r)["message"], r.text
    assert await env.state() == before


async def test_slaac_addresses_come_on_top_and_go_with_their_subnet(env):
    net = await _network(env)
    stateful = (await _subnet(env, net["id"], "2001:db8:67::/64", ip_version=6,
                              ipv6_address_mode="dhcpv6-stateful")).json()["subnet"]
    slaac = (await _subnet(env, net["id"], "2001:db8:68::/64", ip_version=6, ipv6_ra_mode="slaac",
                           ipv6_address_mode="slaac")).json()["subnet"]
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:01"}},
                       who="mia")
    port = r.json()["port"]
    assert port["fixed_ips"] == [{"subnet_id": stateful["id"], "ip_address": "2001:db8:67::2"},
                                 {"subnet_id": slaac["id"], "ip_address": "2001:db8:68:0:f816:3eff:fe00:1"}], r.text
    # neutron deletes a SLAAC subnet under its ports: the addresses it gave go with it
    assert (await env.delete(f"{N}/subnets/{slaac['id']}", who="mia")).status_code == 204
    shown = (await env.get(f"{N}/ports/{port['id']}", who="mia")).json()["port"]
    assert shown["fixed_ips"] == [{"subnet_id": stateful["id"], "ip_address": "2001:db8:67::2"}]
    # a chosen (stateful) address holds its subnet
    r = await env.delete(f"{N}/subnets/{stateful['id']}", who="mia")
    assert r.status_code == 409, r.text
