"""Keystone's domains and roles through the REST API. Domains: Default always there, others
created, listed with filters, shown, renamed, disabled and deleted (only once disabled).
Roles: created, renamed, deleted with their assignments, the built-in ones kept. Kept in the
database; bad input 400 naming the field with nothing written."""
from __future__ import annotations

import pytest

from backend.core import db as dbm

pytestmark = pytest.mark.asyncio(loop_scope="module")
D = "/identity/v3/domains"


async def _patch(env, did, body, who="admin"):
    return await env.http.patch(f"{D}/{did}", json={"domain": body}, headers=env.h(who))


async def test_create_show_list_update_delete(env):
    r = await env.post(D, {"domain": {"name": "engineering", "description": "eng"}})
    assert r.status_code == 201, r.text
    d = r.json()["domain"]
    assert (d["name"], d["description"], d["enabled"]) == ("engineering", "eng", True)
    assert d["links"]["self"].endswith(f"{D}/{d['id']}")
    assert (await env.get(f"{D}/{d['id']}")).json()["domain"] == d
    row = dbm.row(env.cloud.rt.db, "SELECT * FROM domains WHERE id=?", (d["id"],))
    assert row["name"] == "engineering"  # persisted

    names = [x["name"] for x in (await env.get(D)).json()["domains"]]
    assert {"Default", "engineering"} <= set(names)
    assert [x["id"] for x in (await env.get(f"{D}?name=engineering")).json()["domains"]] == [d["id"]]

    # an enabled domain is not deleted (keystone: disable it first)
    r = await env.delete(f"{D}/{d['id']}")
    assert r.status_code == 403 and "disable" in r.json()["error"]["message"]
    r = await _patch(env, d["id"], {"name": "eng2", "description": "new", "enabled": False})
    assert r.status_code == 200 and r.json()["domain"]["enabled"] is False
    enabled = {x["name"] for x in (await env.get(f"{D}?enabled=true")).json()["domains"]}
    assert "Default" in enabled and "eng2" not in enabled
    assert (await env.delete(f"{D}/{d['id']}")).status_code == 204
    assert (await env.get(f"{D}/{d['id']}")).status_code == 404
    assert (await env.delete(f"{D}/{d['id']}")).status_code == 404


async def test_create_disabled_and_duplicate(env):
    r = await env.post(D, {"domain": {"name": "off", "enabled": False}})
    assert r.status_code == 201 and r.json()["domain"]["enabled"] is False
    assert r.json()["domain"]["description"] == ""
    r = await env.post(D, {"domain": {"name": "off"}})
    assert r.status_code == 409


async def test_default_domain_stays(env):
    r = await _patch(env, "default", {"enabled": False})
    assert r.status_code == 403
    assert (await env.delete(f"{D}/default")).status_code == 403
    assert (await env.get(f"{D}/default")).json()["domain"]["enabled"] is True


async def test_bad_domain_input_is_400_naming_it_and_nothing_written(env):
    before = dbm.rows(env.cloud.rt.db, "SELECT * FROM domains ORDER BY id")
    for body, named in (({"name": ""}, "name"), ({"name": "a" * 65}, "name"),
                        ({"name": "x", "enabled": "maybe"}, "domain.enabled"),
                        ({"name": "x", "colour": "red"}, "colour"),
                        ({"name": "x", "description": "a\u202eb"}, "description")):
        r = await env.post(D, {"domain": body})
        assert r.status_code == 400 and named in r.json()["error"]["message"], (body, r.text)
    assert dbm.rows(env.cloud.rt.db, "SELECT * FROM domains ORDER BY id") == before


async def test_only_admins_change_domains_and_others_see_default(env):
    r = await env.post(D, {"domain": {"name": "nope"}}, who="mia")
    assert r.status_code == 403
    r = await env.post(D, {"domain": {"name": "hidden"}})
    hidden = r.json()["domain"]["id"]
    assert [x["id"] for x in (await env.get(D, who="bob")).json()["domains"]] == ["default"]
    assert (await env.get(f"{D}/{hidden}", who="bob")).status_code == 404
    assert (await _patch(env, hidden, {"enabled": False}, who="mia")).status_code == 403
    assert (await env.delete(f"{D}/{hidden}", who="mia")).status_code == 403


async def test_roles_create_update_delete_with_their_assignments(env):
    R = "/identity/v3/roles"
    r = await env.post(R, {"role": {"name": "auditor", "description": "reads audits"}})
    assert r.status_code == 201, r.text
    role = r.json()["role"]
    assert (role["name"], role["description"]) == ("auditor", "reads audits")
    assert (await env.post(R, {"role": {"name": "auditor"}})).status_code == 409
    assert (await env.get(f"{R}/{role['id']}")).json()["role"] == role
    r = await env.http.patch(f"{R}/{role['id']}", json={"role": {"name": "auditor2"}}, headers=env.h())
    assert r.status_code == 200 and r.json()["role"]["name"] == "auditor2"
    url = f"/identity/v3/projects/{env.ids['project_other']}/users/{env.ids['user_bob']}/roles/{role['id']}"
    assert (await env.http.put(url, headers=env.h())).status_code == 204
    assert (await env.delete(f"{R}/{role['id']}")).status_code == 204
    assert (await env.get(f"{R}/{role['id']}")).status_code == 404
    left = (await env.get(f"/identity/v3/role_assignments?user.id={env.ids['user_bob']}")).json()
    assert [a["role"]["id"] for a in left["role_assignments"]] != [] and \
        role["id"] not in [a["role"]["id"] for a in left["role_assignments"]]  # its assignment went too
    # bob keeps his member role and his token
    assert (await env.get("/compute/v2.1/servers", who="bob")).status_code == 200


async def test_roles_bad_input_builtins_and_non_admins(env):
    R = "/identity/v3/roles"
    roles = {r["name"]: r["id"] for r in (await env.get(R)).json()["roles"]}
    before = sorted(roles)
    for body, named in (({"name": ""}, "name"), ({"name": "x", "domain_id": "default"}, "role.domain_id"),
                        ({"name": "x", "description": 5}, "description")):
        r = await env.post(R, {"role": body})
        assert r.status_code == 400 and named in r.json()["error"]["message"], (body, r.text)
    assert (await env.post(R, {"role": {"name": "mine"}}, who="mia")).status_code == 403
    assert (await env.delete(f"{R}/{roles['member']}")).status_code == 403
    r = await env.http.patch(f"{R}/{roles['admin']}", json={"role": {"name": "boss"}}, headers=env.h())
    assert r.status_code == 403
    assert sorted(x["name"] for x in (await env.get(R)).json()["roles"]) == before
