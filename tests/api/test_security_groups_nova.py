"""Nova 2.1's security groups: the os-security-groups and os-security-group-rules proxy
(neutron's 409s answered as nova's 400s), security_groups on server create, the
add/removeSecurityGroup actions, /servers/{id}/os-security-groups and the server view."""
from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
NSG, NRULES = "/compute/v2.1/os-security-groups", "/compute/v2.1/os-security-group-rules"
MISSING = "8d8c9f0e-7a8b-4f31-9d1e-0a4d8e2b1c3d"


async def _group(env, name, who="mia", description="d"):
    r = await env.post(NSG, {"security_group": {"name": name, "description": description}}, who)
    assert r.status_code == 200, r.text
    return r.json()["security_group"]


async def _server(env, name, who="mia", **extra):
    r = await env.post("/compute/v2.1/servers", {"server": {
        "name": name, "imageRef": env.ids["image"], "flavorRef": "1", **extra}}, who)
    return r


async def test_nova_group_view_create_show_update_list_delete(env):
    g = await _group(env, " spaced name ")
    assert set(g) == {"id", "name", "description", "tenant_id", "rules"}
    assert g["name"] == " spaced name " and g["rules"] == [] and g["tenant_id"] == env.ids["project_admin"]
    assert (await env.get(f"{NSG}/{g['id']}", "rita")).json()["security_group"] == g
    listed = (await env.get(NSG, "rita")).json()["security_groups"]
    assert g in listed and "default" in [x["name"] for x in listed]
    r = await env.http.put(f"{NSG}/{g['id']}", json={"security_group": {"name": "n2", "description": "d2"}},
                           headers=env.h("mia"))
    assert r.status_code == 200 and r.json()["security_group"]["name"] == "n2", r.text
    assert (await env.delete(f"{NSG}/{g['id']}", "mia")).status_code == 202
    assert (await env.get(f"{NSG}/{g['id']}", "mia")).status_code == 404


async def test_nova_group_refusals(env):
    for body in ({"name": "", "description": "d"}, {"name": " ", "description": "d"},
                 {"name": "x" * 256, "description": "d"}, {"name": "ok", "description": "d" * 256}):
        r = await env.post(NSG, {"security_group": body}, "mia")
        assert r.status_code == 400, (body, r.text)
    assert (await env.get(f"{NSG}/{MISSING}")).status_code == 404
    assert (await env.delete(f"{NSG}/{MISSING}")).status_code == 404
    assert (await env.delete(f"{NSG}/")).status_code == 404
    r = await env.http.put(f"{NSG}/{MISSING}", json={"security_group": {"name": "x", "description": "y"}},
                           headers=env.h())
    assert r.status_code == 404, r.text
    default = next(g for g in (await env.get(NSG, "mia")).json()["security_groups"] if g["name"] == "default")
    r = await env.delete(f"{NSG}/{default['id']}", "mia")
    assert r.status_code == 400, r.text  # neutron's 409, nova's 400


async def test_nova_rules_view_and_refusals(env):
    g = await _group(env, "nova-rules")
    r = await env.post(NRULES, {"security_group_rule": {"parent_group_id": g["id"], "ip_protocol": "tcp",
                                                        "from_port": 22, "to_port": 22}}, "mia")
    assert r.status_code == 200, r.text
    rule = r.json()["security_group_rule"]
    assert rule["parent_group_id"] == g["id"] and rule["ip_protocol"] == "tcp"
    assert (rule["from_port"], rule["to_port"]) == (22, 22) and rule["ip_range"] == {"cidr": "0.0.0.0/0"}
    # the neutron side sees the same rule
    n = (await env.get(f"/network/v2.0/security-group-rules/{rule['id']}", "mia")).json()["security_group_rule"]
    assert (n["direction"], n["protocol"], n["port_range_min"], n["remote_ip_prefix"]) == (
        "ingress", "tcp", 22, "0.0.0.0/0")
    r = await env.post(NRULES, {"security_group_rule": {"parent_group_id": g["id"], "ip_protocol": "icmp",
                                                        "from_port": -1, "to_port": -1, "group_id": g["id"]}}, "mia")
    assert r.status_code == 200, r.text
    assert r.json()["security_group_rule"]["group"] == {"name": "nova-rules", "tenant_id": env.ids["project_admin"]}
    shown = (await env.get(f"{NSG}/{g['id']}", "mia")).json()["security_group"]
    assert len(shown["rules"]) == 2  # ingress only: the two egress rules are neutron's
    bad = [({"parent_group_id": MISSING, "ip_protocol": "tcp", "from_port": 22, "to_port": 22}, 404),
           ({"parent_group_id": "not-an-id", "ip_protocol": "tcp", "from_port": 22, "to_port": 22}, 400),
           ({"parent_group_id": g["id"], "ip_protocol": "tcp", "from_port": 22, "to_port": 22}, 400),  # again
           ({"parent_group_id": g["id"], "ip_protocol": "999x", "from_port": 22, "to_port": 22}, 400),
           ({"parent_group_id": g["id"], "ip_protocol": "tcp", "from_port": 65536, "to_port": 22}, 400),
           ({"parent_group_id": g["id"], "ip_protocol": "tcp", "from_port": 22, "to_port": 65536}, 400),
           ({"parent_group_id": g["id"], "ip_protocol": "tcp", "from_port": 22, "to_port": 21}, 400),
           ({"parent_group_id": g["id"], "ip_protocol": "tcp", "from_port": "a", "to_port": 21}, 400),
           ({"parent_group_id": g["id"], "ip_protocol": "tcp", "cidr": "10.0.0.0/33", "from_port": 1,
             "to_port": 2}, 400)]
    for body, code in bad:
        r = await env.post(NRULES, {"security_group_rule": body}, "mia")
        assert r.status_code == code, (body, r.text)
    assert (await env.delete(f"{NRULES}/{rule['id']}", "mia")).status_code == 202
    assert (await env.delete(f"{NRULES}/{rule['id']}", "mia")).status_code == 404


async def test_server_create_with_groups_view_actions_and_in_use(env):
    web = await _group(env, "web")
    db = await _group(env, "db")
    r = await _server(env, "sg-1", security_groups=[{"name": "web"}])
    assert r.status_code == 202, r.text
    assert r.json()["server"]["security_groups"] == [{"name": "web"}]
    sid = r.json()["server"]["id"]
    s = await env.wait_status(sid, "ACTIVE", "mia")
    assert s["security_groups"] == [{"name": "web"}]
    port = (await env.get(f"/network/v2.0/ports?device_id={sid}", "mia")).json()["ports"][0]
    assert port["security_groups"] == [web["id"]]
    r = await env.post(f"/compute/v2.1/servers/{sid}/action", {"addSecurityGroup": {"name": "db"}}, "mia")
    assert r.status_code == 202, r.text
    listed = (await env.get(f"/compute/v2.1/servers/{sid}/os-security-groups", "rita")).json()["security_groups"]
    assert [g["id"] for g in listed] == [web["id"], db["id"]]
    port = (await env.get(f"/network/v2.0/ports/{port['id']}", "mia")).json()["port"]
    assert sorted(port["security_groups"]) == sorted([web["id"], db["id"]])
    s = (await env.get(f"/compute/v2.1/servers/{sid}", "mia")).json()["server"]
    assert s["security_groups"] == [{"name": "web"}, {"name": "db"}]
    # in use: nova says 400 (neutron 409)
    assert (await env.delete(f"{NSG}/{db['id']}", "mia")).status_code == 400
    assert (await env.delete(f"/network/v2.0/security-groups/{db['id']}", "mia")).status_code == 409
    # twice, unknown, not in it
    action = f"/compute/v2.1/servers/{sid}/action"
    assert (await env.post(action, {"addSecurityGroup": {"name": "db"}}, "mia")).status_code == 400
    assert (await env.post(action, {"addSecurityGroup": {"name": "nope"}}, "mia")).status_code == 404
    assert (await env.post(action, {"addSecurityGroup": {}}, "mia")).status_code == 400
    assert (await env.post(action, {"removeSecurityGroup": {"name": "default"}}, "mia")).status_code == 400
    assert (await env.post(action, {"removeSecurityGroup": {"name": "db"}}, "mia")).status_code == 202
    port = (await env.get(f"/network/v2.0/ports/{port['id']}", "mia")).json()["port"]
    assert port["security_groups"] == [web["id"]]
    assert (await env.post(f"/compute/v2.1/servers/{MISSING}/action", {"addSecurityGroup": {"name": "db"}},
                           "mia")).status_code == 404
    assert (await env.delete(f"{NSG}/{db['id']}", "mia")).status_code == 202
    assert (await env.delete(f"/compute/v2.1/servers/{sid}", "mia")).status_code == 204
    r = await env.delete(f"/network/v2.0/security-groups/{web['id']}", "mia")
    for _ in range(500):  # the server's delete finishes on its host: a bounded wait
        if r.status_code != 409:
            break
        await asyncio.sleep(0.02)
        r = await env.delete(f"/network/v2.0/security-groups/{web['id']}", "mia")
    assert r.status_code == 204, r.text


async def test_server_default_group_and_unknown_names(env):
    r = await _server(env, "sg-default")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    assert (await env.wait_status(sid, "ACTIVE", "mia"))["security_groups"] == [{"name": "default"}]
    r = await _server(env, "sg-unknown", security_groups=[{"name": "no-such-group"}])
    assert r.status_code == 400 and "no-such-group" in r.text, r.text
    for bad in ("web", [{"nom": "x"}], [{"name": ""}], [{}]):
        r = await _server(env, "sg-bad", security_groups=bad)
        assert r.status_code == 400, (bad, r.text)
    await env.delete(f"/compute/v2.1/servers/{sid}", "mia")


async def test_server_cannot_use_another_projects_group(env):
    theirs = await _group(env, "bob-only", who="bob")
    r = await _server(env, "sg-cross", security_groups=[{"name": theirs["id"]}])
    assert r.status_code == 400, r.text
    r = await _server(env, "sg-cross", security_groups=[{"name": "bob-only"}])
    assert r.status_code == 400, r.text
    assert (await env.get(f"{NSG}/{theirs['id']}", "mia")).status_code == 404
    assert theirs["id"] not in [g["id"] for g in (await env.get(NSG, "mia")).json()["security_groups"]]
    r = await env.post(NRULES, {"security_group_rule": {"parent_group_id": theirs["id"], "ip_protocol": "tcp",
                                                        "from_port": 1, "to_port": 2}}, "mia")
    assert r.status_code == 404, r.text
