"""Neutron's security groups and rules over the REST API: the default group and its rules,
fields, every refusal with the status neutron gives, quotas, ports, and that a project never
sees or uses another project's group. (The rules are stored, not enforced.)"""
from __future__ import annotations

import pytest

from apihelp import table_hashes

pytestmark = pytest.mark.asyncio(loop_scope="module")
SG, RULES = "/network/v2.0/security-groups", "/network/v2.0/security-group-rules"


async def _group(env, name, who="mia", **extra):
    r = await env.post(SG, {"security_group": {"name": name, **extra}}, who)
    assert r.status_code == 201, r.text
    return r.json()["security_group"]


async def _rule(env, gid, who="mia", **fields):
    body = {"security_group_rule": {"security_group_id": gid, "direction": "ingress", **fields}}
    return await env.post(RULES, body, who)


def _shape(rule):
    return (rule["direction"], rule["ethertype"], rule["protocol"], rule["remote_ip_prefix"],
            rule["remote_group_id"])


async def test_default_group_made_on_first_use_with_neutrons_four_rules(env):
    r = await env.get(SG, "bob")
    assert r.status_code == 200, r.text
    groups = r.json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    d = groups[0]
    assert d["project_id"] == d["tenant_id"] == env.ids["project_bob"]
    assert d["stateful"] is True and isinstance(d["revision_number"], int)
    assert sorted(_shape(x) for x in d["security_group_rules"]) == sorted([
        ("egress", "IPv4", None, None, None), ("egress", "IPv6", None, None, None),
        ("ingress", "IPv4", None, None, d["id"]), ("ingress", "IPv6", None, None, d["id"])])
    # asking again makes no second one
    again = (await env.get(SG, "bob")).json()["security_groups"]
    assert [g["id"] for g in again] == [d["id"]]


async def test_create_show_update_delete_group(env):
    g = await _group(env, "web", description="front ends")
    assert g["description"] == "front ends" and g["stateful"] is True
    # a new group egresses anywhere, as neutron's
    assert sorted(_shape(x) for x in g["security_group_rules"]) == [
        ("egress", "IPv4", None, None, None), ("egress", "IPv6", None, None, None)]
    shown = (await env.get(f"{SG}/{g['id']}", "rita")).json()["security_group"]
    assert shown["id"] == g["id"] and shown["name"] == "web"
    r = await env.http.put(f"{SG}/{g['id']}", json={"security_group": {"name": "web2", "description": "d"}},
                           headers=env.h("mia"))
    assert r.status_code == 200, r.text
    assert r.json()["security_group"]["name"] == "web2"
    assert r.json()["security_group"]["revision_number"] > g["revision_number"]
    assert (await env.delete(f"{SG}/{g['id']}", "mia")).status_code == 204
    assert (await env.get(f"{SG}/{g['id']}", "mia")).status_code == 404
    assert not (await env.get(f"{RULES}?security_group_id={g['id']}", "mia")).json()["security_group_rules"]


async def test_rules_fields_protocol_names_and_numbers(env):
    g = await _group(env, "rules")
    r = await _rule(env, g["id"], protocol="tcp", port_range_min=22, port_range_max=22,
                    remote_ip_prefix="10.0.0.0/8", description="ssh")
    assert r.status_code == 201, r.text
    rule = r.json()["security_group_rule"]
    assert {k: rule[k] for k in ("direction", "ethertype", "protocol", "port_range_min", "port_range_max",
                                 "remote_ip_prefix", "remote_group_id", "description")} == {
        "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22,
        "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": None, "description": "ssh"}
    assert rule["project_id"] == rule["tenant_id"] == env.ids["project_admin"]
    r = await _rule(env, g["id"], protocol=17)
    assert r.status_code == 201, r.text and r.json()["security_group_rule"]["protocol"] == "17"
    r = await _rule(env, g["id"], protocol="icmp", port_range_min=8, port_range_max=0)
    assert r.status_code == 201, r.text
    r = await _rule(env, g["id"], protocol="udp", port_range_min=53, port_range_max=53, remote_group_id=g["id"])
    assert r.status_code == 201, r.text
    got = (await env.get(f"{RULES}/{r.json()['security_group_rule']['id']}", "rita")).json()
    assert got["security_group_rule"]["remote_group_id"] == g["id"]
    assert (await env.delete(f"{RULES}/{got['security_group_rule']['id']}", "mia")).status_code == 204
    assert (await env.get(f"{RULES}/{got['security_group_rule']['id']}", "mia")).status_code == 404


async def test_duplicate_rule_is_409_rule_exists(env):
    g = await _group(env, "dup")
    first = await _rule(env, g["id"], protocol="tcp", port_range_min=80, port_range_max=80)
    assert first.status_code == 201, first.text
    for again in ({"protocol": "tcp"}, {"protocol": "6"}, {"protocol": "tcp", "remote_ip_prefix": "0.0.0.0/0"}):
        r = await _rule(env, g["id"], port_range_min=80, port_range_max=80, **again)
        assert r.status_code == 409, (again, r.text)
        assert r.json()["NeutronError"]["message"].startswith("Security group rule already exists")
        assert first.json()["security_group_rule"]["id"] in r.text
    # the egress rules a group is made with count too
    r = await env.post(RULES, {"security_group_rule": {"security_group_id": g["id"], "direction": "egress",
                                                       "ethertype": "IPv6"}}, "mia")
    assert r.status_code == 409, r.text


@pytest.mark.parametrize("fields, words", [
    ({"direction": "sideways"}, "direction"),
    ({"ethertype": "IPv5"}, "ethertype"),
    ({"protocol": "bad_protocol_name"}, "protocol"),
    ({"protocol": 256}, "protocol"),
    ({"protocol": "tcp", "port_range_min": -16, "port_range_max": 80}, "Invalid value for port -16"),
    ({"protocol": "tcp", "port_range_min": 80, "port_range_max": 65536}, "Invalid value for port 65536"),
    ({"protocol": "tcp", "port_range_min": 80, "port_range_max": 79}, "port_range_min must be <= port_range_max"),
    ({"protocol": "tcp", "port_range_max": 6}, "port_range_min must be <= port_range_max"),
    ({"protocol": "icmp", "port_range_min": 1, "port_range_max": 256}, "Invalid value for ICMP code"),
    ({"protocol": "icmp", "port_range_min": 300, "port_range_max": 1}, "Invalid value for ICMP type"),
    ({"protocol": "icmp", "port_range_max": 6}, "ICMP type (port-range-min) is missing"),
    ({"port_range_min": 22, "port_range_max": 22}, "protocol"),
    ({"protocol": "gre", "port_range_min": 22, "port_range_max": 22}, "port range"),
    ({"remote_ip_prefix": "192.168.1.1/33"}, "remote_ip_prefix"),
    ({"remote_ip_prefix": "bad_prefix"}, "remote_ip_prefix"),
    ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, "Conflicting value ethertype IPv6"),
    ({"ethertype": "IPv4", "remote_ip_prefix": "2001:db8::/64"}, "Conflicting value ethertype IPv4"),
])
async def test_bad_rule_is_400_naming_the_field_and_writes_nothing(env, fields, words):
    if "sg_bad" not in env.ids:
        env.ids["sg_bad"] = (await _group(env, "bad-rules"))["id"]
    g = {"id": env.ids["sg_bad"]}
    before = table_hashes(env.cloud.rt.db.conn)
    r = await _rule(env, g["id"], **fields)
    assert r.status_code == 400, r.text
    assert words in r.json()["NeutronError"]["message"]
    assert table_hashes(env.cloud.rt.db.conn) == before


async def test_remote_ip_and_group_together_is_400_missing_ones_404(env):
    g = await _group(env, "remotes")
    r = await _rule(env, g["id"], remote_ip_prefix="10.0.0.0/8", remote_group_id=g["id"])
    assert r.status_code == 400, r.text
    for missing in ("bad_group_id", "8d8c9f0e-7a8b-4f31-9d1e-0a4d8e2b1c3d"):
        r = await _rule(env, g["id"], protocol="tcp", remote_group_id=missing)
        assert r.status_code == 404, r.text
    r = await _rule(env, "8d8c9f0e-7a8b-4f31-9d1e-0a4d8e2b1c3d")
    assert r.status_code == 404, r.text
    assert (await env.get(f"{SG}/8d8c9f0e-7a8b-4f31-9d1e-0a4d8e2b1c3d")).status_code == 404
    assert (await env.get(f"{RULES}/8d8c9f0e-7a8b-4f31-9d1e-0a4d8e2b1c3d")).status_code == 404
    assert (await env.delete(f"{SG}/8d8c9f0e-7a8b-4f31-9d1e-0a4d8e2b1c3d")).status_code == 404


async def test_default_group_cannot_be_made_renamed_or_deleted(env):
    default = next(g for g in (await env.get(SG, "mia")).json()["security_groups"]
                   if g["name"] == "default" and g["project_id"] == env.ids["project_admin"])
    r = await env.post(SG, {"security_group": {"name": "default"}}, "mia")
    assert r.status_code == 409, r.text
    g = await _group(env, "not-default")
    r = await env.http.put(f"{SG}/{g['id']}", json={"security_group": {"name": "default"}}, headers=env.h("mia"))
    assert r.status_code == 409, r.text
    r = await env.delete(f"{SG}/{default['id']}", "mia")
    assert r.status_code == 409, r.text
    assert (await env.get(f"{SG}/{default['id']}", "mia")).status_code == 200
    # an admin may (neutron: how a project is cleaned up); the next use makes a new one
    bobs = next(g for g in (await env.get(SG, "bob")).json()["security_groups"] if g["name"] == "default")
    assert (await env.delete(f"{SG}/{bobs['id']}")).status_code == 204
    again = [g for g in (await env.get(SG, "bob")).json()["security_groups"] if g["name"] == "default"]
    assert len(again) == 1 and again[0]["id"] != bobs["id"]


async def test_bad_group_fields_are_400(env):
    for body in ({"name": "x" * 256}, {"name": "ok", "description": "d" * 256}, {"name": 5},
                 {"name": "ok", "stateful": "maybe"}, {"name": "ok", "colour": "red"}):
        r = await env.post(SG, {"security_group": body}, "mia")
        assert r.status_code == 400, (body, r.text)


async def test_reader_cannot_change_groups(env):
    r = await env.post(SG, {"security_group": {"name": "by-reader"}}, "rita")
    assert r.status_code == 403, r.text


async def test_ports_get_the_default_group_or_the_given_ones(env):
    default = next(g["id"] for g in (await env.get(SG, "mia")).json()["security_groups"]
                   if g["name"] == "default" and g["project_id"] == env.ids["project_admin"])
    g = await _group(env, "for-ports")
    r = await env.post("/network/v2.0/ports", {"port": {"network_id": env.ids["network"]}}, "mia")
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert port["security_groups"] == [default] and port["port_security_enabled"] is True
    r = await env.post("/network/v2.0/ports", {"port": {"network_id": env.ids["network"],
                                                        "security_groups": [g["id"]]}}, "mia")
    assert r.status_code == 201, r.text
    p2 = r.json()["port"]
    assert p2["security_groups"] == [g["id"]]
    # a group a port uses cannot go
    r = await env.delete(f"{SG}/{g['id']}", "mia")
    assert r.status_code == 409 and "in use" in r.text, r.text
    # port security off: no groups; asking for both is 400; turning it off with groups is 409
    r = await env.post("/network/v2.0/ports", {"port": {"network_id": env.ids["network"],
                                                        "port_security_enabled": False}}, "mia")
    assert r.status_code == 201, r.text
    assert r.json()["port"]["security_groups"] == [] and r.json()["port"]["port_security_enabled"] is False
    r = await env.post("/network/v2.0/ports", {"port": {"network_id": env.ids["network"], "port_security_enabled":
                                                        False, "security_groups": [g["id"]]}}, "mia")
    assert r.status_code == 400, r.text
    put = env.http.put
    r = await put(f"/network/v2.0/ports/{p2['id']}", json={"port": {"port_security_enabled": False}},
                  headers=env.h("mia"))
    assert r.status_code == 409, r.text
    r = await put(f"/network/v2.0/ports/{p2['id']}", json={"port": {"security_groups": [default, g["id"]]}},
                  headers=env.h("mia"))
    assert r.status_code == 200 and sorted(r.json()["port"]["security_groups"]) == sorted([default, g["id"]])
    r = await put(f"/network/v2.0/ports/{p2['id']}", json={"port": {"security_groups": [],
                                                                    "port_security_enabled": False}},
                  headers=env.h("mia"))
    assert r.status_code == 200 and r.json()["port"]["port_security_enabled"] is False, r.text
    for p in (port["id"], p2["id"]):
        assert (await env.delete(f"/network/v2.0/ports/{p}", "mia")).status_code == 204
    assert (await env.delete(f"{SG}/{g['id']}", "mia")).status_code == 204


async def test_a_project_never_sees_or_uses_another_projects_group(env):
    mine = await _group(env, "secret-admin-group")
    theirs = await _group(env, "bobs", who="bob")
    listed = (await env.get(SG, "bob")).json()["security_groups"]
    assert mine["id"] not in [g["id"] for g in listed]
    assert all(g["project_id"] == env.ids["project_bob"] for g in listed)
    rules = (await env.get(RULES, "bob")).json()["security_group_rules"]
    assert all(r["project_id"] == env.ids["project_bob"] for r in rules)
    assert (await env.get(f"{SG}/{mine['id']}", "bob")).status_code == 404
    assert (await env.delete(f"{SG}/{mine['id']}", "bob")).status_code == 404
    r = await env.http.put(f"{SG}/{mine['id']}", json={"security_group": {"name": "mine"}}, headers=env.h("bob"))
    assert r.status_code == 404, r.text
    # no rule in another's group, no rule naming another's group, no port with it
    assert (await _rule(env, mine["id"], who="bob")).status_code == 404
    assert (await _rule(env, theirs["id"], who="bob", remote_group_id=mine["id"])).status_code == 404
    rid = mine["security_group_rules"][0]["id"]
    assert (await env.get(f"{RULES}/{rid}", "bob")).status_code == 404
    assert (await env.delete(f"{RULES}/{rid}", "bob")).status_code == 404
    r = await env.post("/network/v2.0/ports", {"port": {"network_id": env.ids["network"],
                                                        "security_groups": [mine["id"]]}}, "bob")
    assert r.status_code == 404, r.text
    # the admin sees both
    ids = [g["id"] for g in (await env.get(SG)).json()["security_groups"]]
    assert mine["id"] in ids and theirs["id"] in ids


async def test_quota_security_group_10_and_rules_100(env):
    q = (await env.get(f"/network/v2.0/quotas/{env.ids['project_bob']}/default", "bob")).json()["quota"]
    assert q["security_group"] == 10 and q["security_group_rule"] == 100
    r = await env.http.put(f"/network/v2.0/quotas/{env.ids['project_bob']}",
                           json={"quota": {"security_group": 3, "security_group_rule": 12}}, headers=env.h())
    assert r.status_code == 200, r.text
    used = (await env.get(f"/network/v2.0/quotas/{env.ids['project_bob']}/details", "bob")).json()["quota"]
    have = used["security_group"]["used"]
    made = []
    while have + len(made) < 3:
        made.append(await _group(env, f"q{len(made)}", who="bob"))
    r = await env.post(SG, {"security_group": {"name": "one-too-many"}}, "bob")
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "OverQuota", r.text
    rules_used = (await env.get(f"/network/v2.0/quotas/{env.ids['project_bob']}/details",
                                "bob")).json()["quota"]["security_group_rule"]["used"]
    codes = [(await _rule(env, made[0]["id"] if made else None, who="bob", protocol="tcp",
                          port_range_min=1000 + i, port_range_max=1000 + i)).status_code
             for i in range(12 - rules_used + 1)]
    assert codes[-1] == 409 and set(codes[:-1]) <= {201}, codes
    await env.delete(f"/network/v2.0/quotas/{env.ids['project_bob']}")


async def test_extension_listed(env):
    aliases = [e["alias"] for e in (await env.get("/network/v2.0/extensions", "bob")).json()["extensions"]]
    assert "security-group" in aliases and "port-security" in aliases
