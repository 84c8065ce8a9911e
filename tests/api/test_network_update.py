"""Neutron v2.0: PUT on networks, subnets and ports; a subnet's dns_nameservers and
host_routes at create and update."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
N = "/network/v2.0"


async def _put(env, path, body, who="mia"):
    return await env.http.put(path, json=body, headers=env.h(who))


async def _net_and_subnet(env, who="mia", **subnet) -> tuple[dict, dict]:
    r = await env.post(f"{N}/networks", {"network": {"name": "n"}}, who=who)
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    body = {"network_id": net["id"], "cidr": "10.44.0.0/24", "ip_version": 4, **subnet}
    r = await env.post(f"{N}/subnets", {"subnet": body}, who=who)
    assert r.status_code == 201, r.text
    return net, r.json()["subnet"]


async def test_dns_nameservers_and_host_routes_are_kept(env):
    routes = [{"destination": "10.20.0.0/32", "nexthop": "10.44.0.9"}]
    _, sub = await _net_and_subnet(env, dns_nameservers=["8.8.4.4", "8.8.8.8"], host_routes=routes)
    assert sub["dns_nameservers"] == ["8.8.4.4", "8.8.8.8"] and sub["host_routes"] == routes
    shown = (await env.get(f"{N}/subnets/{sub['id']}", who="mia")).json()["subnet"]
    assert shown["dns_nameservers"] == ["8.8.4.4", "8.8.8.8"] and shown["host_routes"] == routes


async def test_bad_dhcp_options_are_refused_and_nothing_is_made(env):
    r = await env.post(f"{N}/networks", {"network": {"name": "n"}}, who="mia")
    nid = r.json()["network"]["id"]
    for bad, words in ((dict(dns_nameservers=["8.8.8.8", "not-an-ip"]), "dns_nameservers"),
                       (dict(dns_nameservers=["1.1.1.1"] * 2), "twice"),
                       (dict(host_routes=[{"destination": "10.0.0.0/33", "nexthop": "10.0.0.1"}]),
                        "host_routes"),
                       (dict(host_routes=[{"destination": "10.0.0.0/8"}]), "host_routes")):
        body = {"network_id": nid, "cidr": "10.45.0.0/24", "ip_version": 4, **bad}
        r = await env.post(f"{N}/subnets", {"subnet": body}, who="mia")
        assert r.status_code == 400 and words in r.json()["NeutronError"]["message"], r.text
    assert (await env.get(f"{N}/subnets?network_id={nid}", who="mia")).json()["subnets"] == []


async def test_put_network_subnet_and_port(env):
    net, sub = await _net_and_subnet(env, gateway_ip="10.44.0.1",
                                     allocation_pools=[{"start": "10.44.0.10", "end": "10.44.0.99"}])
    r = await _put(env, f"{N}/networks/{net['id']}", {"network": {"name": "renamed"}})
    assert r.status_code == 200 and r.json()["network"]["name"] == "renamed"
    assert (await env.get(f"{N}/networks/{net['id']}", who="mia")).json()["network"]["name"] == "renamed"
    change = {"name": "s2", "gateway_ip": "10.44.0.2", "dns_nameservers": ["7.8.8.8"],
              "host_routes": [{"destination": "10.20.0.0/32", "nexthop": "10.44.0.3"}],
              "enable_dhcp": True}
    r = await _put(env, f"{N}/subnets/{sub['id']}", {"subnet": change})
    assert r.status_code == 200, r.text
    got = (await env.get(f"{N}/subnets/{sub['id']}", who="mia")).json()["subnet"]
    assert {k: got[k] for k in change} == change
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"], "name": "p"}}, who="mia")
    port = r.json()["port"]
    r = await _put(env, f"{N}/ports/{port['id']}", {"port": {"name": "p2"}})
    assert r.status_code == 200 and r.json()["port"]["name"] == "p2"
    assert (await env.get(f"{N}/ports/{port['id']}", who="mia")).json()["port"]["name"] == "p2"


async def test_bad_puts_name_the_field_and_change_nothing(env):
    net, sub = await _net_and_subnet(env, allocation_pools=[{"start": "10.44.0.10", "end": "10.44.0.99"}])
    r = await _put(env, f"{N}/subnets/{sub['id']}", {"subnet": {"name": "x", "gateway_ip": "10.44.0.50"}})
    assert r.status_code == 409 and "allocation pool" in r.json()["NeutronError"]["message"]
    r = await _put(env, f"{N}/subnets/{sub['id']}", {"subnet": {"name": "x", "dns_nameservers": "8.8.8.8"}})
    assert r.status_code == 400 and "dns_nameservers" in r.json()["NeutronError"]["message"]
    r = await _put(env, f"{N}/subnets/{sub['id']}", {"subnet": {"cidr": "10.9.0.0/24"}})
    assert r.status_code == 400 and "'cidr'" in r.json()["NeutronError"]["message"]
    r = await _put(env, f"{N}/networks/{net['id']}", {"network": {"admin_state_up": False}})
    assert r.status_code == 400 and "admin_state_up" in r.json()["NeutronError"]["message"]
    got = (await env.get(f"{N}/subnets/{sub['id']}", who="mia")).json()["subnet"]
    assert got["name"] == sub["name"] and got["gateway_ip"] == sub["gateway_ip"]
    assert got["dns_nameservers"] == []
    r = await _put(env, f"{N}/networks/{'0' * 8}-0000-0000-0000-{'0' * 12}", {"network": {"name": "x"}})
    assert r.status_code == 404


async def test_put_on_another_project_s_resources(env):
    net, sub = await _net_and_subnet(env)
    assert (await _put(env, f"{N}/networks/{net['id']}", {"network": {"name": "x"}}, who="bob")).status_code == 404
    assert (await _put(env, f"{N}/subnets/{sub['id']}", {"subnet": {"name": "x"}}, who="bob")).status_code == 404
    assert (await _put(env, f"{N}/networks/{net['id']}", {"network": {"name": "x"}}, who="rita")).status_code == 403
    r = await _put(env, f"{N}/networks/{net['id']}", {"network": {"shared": True}})
    assert r.status_code == 403  # only an admin shares a network
    r = await _put(env, f"{N}/networks/{net['id']}", {"network": {"shared": True}}, who="admin")
    assert r.status_code == 200 and r.json()["network"]["shared"] is True


async def test_a_port_on_a_network_without_a_subnet_has_no_address(env):
    r = await env.post(f"{N}/networks", {"network": {"name": "bare"}}, who="mia")
    nid = r.json()["network"]["id"]
    r = await env.post(f"{N}/ports", {"port": {"network_id": nid, "name": "p"}}, who="mia")
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert port["fixed_ips"] == [] and port["mac_address"].startswith("fa:16:3e:")
    assert (await env.get(f"{N}/ports/{port['id']}", who="mia")).json()["port"]["fixed_ips"] == []
    r = await env.post(f"{N}/ports", {"port": {"network_id": nid, "fixed_ips": [{"ip_address": "10.1.0.5"}]}},
                       who="mia")
    assert r.status_code == 409 and "no subnet" in r.json()["NeutronError"]["message"]
    # an instance cannot use it: there is no address to give the guest
    r = await env.post("/compute/v2.1/servers", {"server": {
        "name": "s", "imageRef": env.ids["image"], "flavorRef": "1", "networks": [{"port": port["id"]}]}},
        who="mia")
    if r.status_code == 202:
        sid = r.json()["server"]["id"]
        await env.wait_status(sid, "ERROR", who="mia")
        await env.delete(f"/compute/v2.1/servers/{sid}", who="mia")
    else:
        assert r.status_code in (400, 409), r.text
    assert (await env.delete(f"{N}/ports/{port['id']}", who="mia")).status_code == 204
    assert (await env.delete(f"{N}/networks/{nid}", who="mia")).status_code == 204


async def test_binding_host_id_is_for_admins(env):
    r = await env.post(f"{N}/networks", {"network": {"name": "b"}})
    nid = r.json()["network"]["id"]
    r = await env.post(f"{N}/ports", {"port": {"network_id": nid, "binding:host_id": "fake-1"}})
    assert r.status_code == 201 and r.json()["port"]["binding:host_id"] == "fake-1", r.text
    pid = r.json()["port"]["id"]
    r = await _put(env, f"{N}/ports/{pid}", {"port": {"binding:host_id": "fake-2"}}, who="admin")
    assert r.status_code == 200 and r.json()["port"]["binding:host_id"] == "fake-2"
    assert (await env.get(f"{N}/ports/{pid}")).json()["port"]["binding:host_id"] == "fake-2"
    _, sub = await _net_and_subnet(env)
    r = await env.post(f"{N}/ports", {"port": {"network_id": sub["network_id"], "binding:host_id": "fake-1"}},
                       who="mia")
    assert r.status_code == 403 and "binding:host_id" in r.json()["NeutronError"]["message"]
    assert (await env.get(f"{N}/ports?network_id={sub['network_id']}", who="mia")).json()["ports"] == []


async def test_chosen_mac_fixed_ips_filter_and_vif_type(env):
    net, sub = await _net_and_subnet(env, allocation_pools=[{"start": "10.44.0.10", "end": "10.44.0.99"}])
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"], "mac_address": "FA:16:3E:AA:BB:CC"}},
                       who="mia")
    assert r.status_code == 201 and r.json()["port"]["mac_address"] == "fa:16:3e:aa:bb:cc", r.text
    first = r.json()["port"]
    # binding:vif_type is an admin's (neutron's policy): a member's view has none
    assert "binding:vif_type" not in first
    admin_view = (await env.get(f"{N}/ports/{first['id']}", who="admin")).json()["port"]
    assert admin_view["binding:vif_type"] == "unbound"
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:aa:bb:cc"}},
                       who="mia")
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "MacAddressInUse", r.text
    r = await env.post(f"{N}/ports", {"port": {"network_id": net["id"], "mac_address": "01:00:5e:00:00:01"}},
                       who="mia")
    assert r.status_code == 400 and "mac_address" in r.json()["NeutronError"]["message"]
    second = (await env.post(f"{N}/ports", {"port": {"network_id": net["id"]}}, who="mia")).json()["port"]
    ip = first["fixed_ips"][0]["ip_address"]
    got = (await env.get(f"{N}/ports?network_id={net['id']}&fixed_ips=ip_address%3D{ip}",
                         who="mia")).json()["ports"]
    assert [p["id"] for p in got] == [first["id"]]
    got = (await env.get(f"{N}/ports?network_id={net['id']}&fixed_ips=subnet_id%3D{sub['id']}",
                         who="mia")).json()["ports"]
    assert {p["id"] for p in got} == {first["id"], second["id"]}
    assert (await env.get(f"{N}/ports?fixed_ips=bogus", who="mia")).status_code == 400
    assert len((await env.get(f"{N}/ports?network_id={net['id']}", who="mia")).json()["ports"]) == 2
