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
    for body, named in (({"name": ""}, "name"), ({"name": "x", "domain_id": ""}, "role.domain_id"),
                        ({"name": "x", "description": 5}, "description")):
        r = await env.post(R, {"role": body})
        assert r.status_code == 400 and named in r.json()["error"]["message"], (body, r.text)
    assert (await env.post(R, {"role": {"name": "mine"}}, who="mia")).status_code == 403
    assert (await env.delete(f"{R}/{roles['member']}")).status_code == 403
    r = await env.http.patch(f"{R}/{roles['admin']}", json={"role": {"name": "boss"}}, headers=env.h())
    assert r.status_code == 403
    assert sorted(x["name"] for x in (await env.get(R)).json()["roles"]) == before


async def test_users_and_projects_live_in_a_domain_and_go_with_it(env):
    from apihelp import AUTH
    did = (await env.post(D, {"domain": {"name": "labs"}})).json()["domain"]["id"]
    # the same names as in Default, kept apart by domain
    r = await env.post("/identity/v3/projects", {"project": {"name": "other", "domain_id": did}})
    assert r.status_code == 201, r.text
    p = r.json()["project"]
    assert (p["domain_id"], p["parent_id"]) == (did, did)
    r = await env.post("/identity/v3/users", {"user": {"name": "bob", "password": "labs-pw", "domain_id": did}})
    assert r.status_code == 201, r.text
    uid = r.json()["user"]["id"]
    grant = f"/identity/v3/projects/{p['id']}/users/{uid}/roles/"
    roles = {x["name"]: x["id"] for x in (await env.get("/identity/v3/roles")).json()["roles"]}
    assert (await env.http.put(grant + roles["member"], headers=env.h())).status_code == 204
    listed = (await env.get(f"/identity/v3/users?domain_id={did}")).json()["users"]
    assert [u["id"] for u in listed] == [uid]

    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "bob", "domain": {"name": "labs"}, "password": "labs-pw"}}},
        "scope": {"project": {"name": "other", "domain": {"id": did}}}}}
    r = await env.http.post(AUTH, json=body)
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    assert t["user"]["id"] == uid and t["user"]["domain"] == {"id": did, "name": "labs"}
    assert t["project"]["id"] == p["id"] and t["project"]["domain"]["name"] == "labs"
    tok = r.headers["X-Subject-Token"]
    # Default's bob is another user with another password
    body["auth"]["identity"]["password"]["user"]["domain"] = {"id": "default"}
    body["auth"]["scope"] = None
    assert (await env.http.post(AUTH, json=body)).status_code == 401

    # disabling the domain ends its users' tokens and logins
    r = await env.http.patch(f"{D}/{did}", json={"domain": {"enabled": False}}, headers=env.h())
    assert r.status_code == 200
    assert (await env.http.get("/compute/v2.1/servers", headers={"X-Auth-Token": tok})).status_code == 401
    body["auth"]["identity"]["password"]["user"]["domain"] = {"id": did}
    assert (await env.http.post(AUTH, json=body)).status_code == 401
    # deleting it deletes them
    assert (await env.delete(f"{D}/{did}")).status_code == 204
    assert (await env.get(f"/identity/v3/users/{uid}")).status_code == 404
    assert (await env.get(f"/identity/v3/projects/{p['id']}")).status_code == 404
    assert (await env.get(f"/identity/v3/users/{env.ids['user_bob']}")).status_code == 200  # Default's stays


async def test_user_or_project_in_a_domain_that_does_not_exist_is_404_and_not_made(env):
    before = await env.state()
    r = await env.post("/identity/v3/users", {"user": {"name": "lost", "password": "pw", "domain_id": "nowhere"}})
    assert r.status_code == 404 and "nowhere" in r.json()["error"]["message"]
    r = await env.post("/identity/v3/projects", {"project": {"name": "lost", "domain_id": "nowhere"}})
    assert r.status_code == 404
    r = await env.post("/identity/v3/projects", {"project": {"name": "kid", "parent_id": "nowhere"}})
    assert r.status_code == 400 and "project.parent_id" in r.json()["error"]["message"]
    assert await env.state() == before


async def test_no_scope_asked_means_the_default_project(env):
    from apihelp import AUTH, password_body
    r = await env.post("/identity/v3/users", {"user": {"name": "dee", "password": "dee-pw",
                                                       "default_project_id": env.ids["project_other"]}})
    uid = r.json()["user"]["id"]
    # no role on it yet: unscoped
    r = await env.http.post(AUTH, json=password_body("dee", "dee-pw"))
    assert r.status_code == 201 and "project" not in r.json()["token"]
    roles = {x["name"]: x["id"] for x in (await env.get("/identity/v3/roles")).json()["roles"]}
    url = f"/identity/v3/projects/{env.ids['project_other']}/users/{uid}/roles/{roles['reader']}"
    assert (await env.http.put(url, headers=env.h())).status_code == 204
    r = await env.http.post(AUTH, json=password_body("dee", "dee-pw"))
    assert r.json()["token"]["project"]["id"] == env.ids["project_other"]
    assert [x["name"] for x in r.json()["token"]["roles"]] == ["reader"]
    # asking for unscoped explicitly is still unscoped
    body = password_body("dee", "dee-pw")
    body["auth"]["scope"] = "unscoped"
    assert "project" not in (await env.http.post(AUTH, json=body)).json()["token"]
