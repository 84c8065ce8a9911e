"""Keystone's system scope through the REST API: roles on the system
(/v3/system/users/{user}/roles/{role}), tokens scoped {"system": {"all": true}}, what a
system reader may read, and system assignments in /v3/role_assignments."""
from __future__ import annotations

import sqlite3

import pytest

from apihelp import AUTH, password_body
from backend.core import db as dbm

pytestmark = pytest.mark.asyncio(loop_scope="module")
V3 = "/identity/v3"


def system_body(user: str, password: str, system=None) -> dict:
    body = password_body(user, password)
    body["auth"]["scope"] = {"system": system if system is not None else {"all": True}}
    return body


async def _ids(env):
    roles = {r["name"]: r["id"] for r in (await env.get(f"{V3}/roles")).json()["roles"]}
    users = {u["name"]: u["id"] for u in (await env.get(f"{V3}/users")).json()["users"]}
    return roles, users


async def test_system_reader_grant_check_list_and_token(env):
    roles, users = await _ids(env)
    url = f"{V3}/system/users/{users['rita']}/roles/{roles['reader']}"
    assert (await env.get(url)).status_code == 404  # not yet
    r = await env.http.post(AUTH, json=system_body("rita", "rita-pw"))
    assert r.status_code == 401 and "no role on the system" in r.json()["error"]["message"]

    assert (await env.http.put(url, headers=env.h())).status_code == 204
    assert (await env.get(url)).status_code == 204
    assert (await env.http.head(url, headers=env.h())).status_code == 204
    listed = (await env.get(f"{V3}/system/users/{users['rita']}/roles")).json()["roles"]
    assert [x["name"] for x in listed] == ["reader"]
    r = await env.get(f"{V3}/role_assignments?scope.system=all&user.id={users['rita']}")
    (a,) = r.json()["role_assignments"]
    assert a["scope"] == {"system": {"all": True}} and a["role"]["id"] == roles["reader"]
    assert a["links"]["assignment"].endswith(url)
    # the project filter leaves system assignments out
    r = await env.get(f"{V3}/role_assignments?scope.project.id={env.ids['project_admin']}")
    assert all("project" in x["scope"] for x in r.json()["role_assignments"])

    r = await env.http.post(AUTH, json=system_body("rita", "rita-pw"))
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    assert t["system"] == {"all": True} and "project" not in t
    assert [x["name"] for x in t["roles"]] == ["reader"]
    types = {c["type"] for c in t["catalog"]}
    assert "identity" in types and "block-storage" not in types  # a project-URL endpoint is left out
    tok = r.headers["X-Subject-Token"]
    env.tokens["rita-system"] = tok
    # validated by the admin, it is still the system token
    r = await env.http.get(AUTH, headers=env.h(**{"X-Subject-Token": tok}))
    assert r.status_code == 200 and r.json()["token"]["system"] == {"all": True}


async def test_system_reader_reads_all_of_identity_and_changes_nothing(env):
    roles, users = await _ids(env)
    assert "rita-system" in env.tokens, "the test above makes the token"
    r = await env.get(f"{V3}/users", who="rita-system")
    assert {"admin", "mia", "bob"} <= {u["name"] for u in r.json()["users"]}
    assert (await env.get(f"{V3}/users/{users['bob']}", who="rita-system")).status_code == 200
    names = {p["name"] for p in (await env.get(f"{V3}/projects", who="rita-system")).json()["projects"]}
    assert {"admin", "other"} <= names
    r = await env.get(f"{V3}/role_assignments?user.id={users['bob']}", who="rita-system")
    assert len(r.json()["role_assignments"]) == 1
    assert (await env.get(f"{V3}/domains", who="rita-system")).status_code == 200
    before = await env.state()
    r = await env.post(f"{V3}/users", {"user": {"name": "nope", "password": "x"}}, who="rita-system")
    assert r.status_code == 403
    r = await env.http.put(f"{V3}/system/users/{users['bob']}/roles/{roles['admin']}",
                           headers=env.h("rita-system"))
    assert r.status_code == 403
    assert await env.state() == before
    # the same user's project-scoped reader token lists no users or projects (keystone: 403)
    assert (await env.get(f"{V3}/users", who="rita")).status_code == 403
    assert (await env.get(f"{V3}/projects", who="rita")).status_code == 403
    assert (await env.get(f"{V3}/users/{users['rita']}", who="rita")).status_code == 200


async def test_system_token_is_for_the_identity_api_only(env):
    r = await env.get("/compute/v2.1/servers", who="rita-system")
    assert r.status_code == 403 and "system-scoped" in r.json()["forbidden"]["message"]


async def test_system_admin_token_administers_identity(env):
    roles, users = await _ids(env)
    assert (await env.http.put(f"{V3}/system/users/{users['mia']}/roles/{roles['admin']}",
                               headers=env.h())).status_code == 204
    r = await env.http.post(AUTH, json=system_body("mia", "mia-pw"))
    t = r.json()["token"]
    assert {x["name"] for x in t["roles"]} == {"admin", "member", "reader"}  # implied roles
    env.tokens["mia-system"] = r.headers["X-Subject-Token"]
    r = await env.post(f"{V3}/projects", {"project": {"name": "made-by-system-admin"}}, who="mia-system")
    assert r.status_code == 201, r.text
    assert (await env.delete(f"{V3}/projects/{r.json()['project']['id']}", who="mia-system")).status_code == 204
    # the token method keeps the system scope
    r = await env.http.post(AUTH, json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": env.tokens["mia-system"]}},
        "scope": {"system": {"all": True}}}})
    assert r.status_code == 201 and r.json()["token"]["system"] == {"all": True}


async def test_revoking_the_system_role_ends_its_tokens(env):
    roles, users = await _ids(env)
    url = f"{V3}/system/users/{users['mia']}/roles/{roles['admin']}"
    assert (await env.delete(url)).status_code == 204
    assert (await env.delete(url)).status_code == 404
    assert (await env.get(url)).status_code == 404
    r = await env.get(f"{V3}/users", who="mia-system")
    assert r.status_code == 401


async def test_bad_system_scope_and_filter_are_400_naming_them(env):
    for bad in ({"all": False}, {"domain": "x"}, "all"):
        r = await env.http.post(AUTH, json=system_body("admin", "secret", bad))
        assert r.status_code == 400 and "auth.scope.system" in r.json()["error"]["message"], bad
    r = await env.get(f"{V3}/role_assignments?scope.system=mine")
    assert r.status_code == 400 and "scope.system" in r.json()["error"]["message"]
    roles, users = await _ids(env)
    r = await env.http.put(f"{V3}/system/users/no-such-user/roles/{roles['reader']}", headers=env.h())
    assert r.status_code == 404
    r = await env.http.put(f"{V3}/system/users/{users['bob']}/roles/no-such-role", headers=env.h())
    assert r.status_code == 404
    # a member cannot grant system roles
    r = await env.http.put(f"{V3}/system/users/{users['bob']}/roles/{roles['reader']}", headers=env.h("mia"))
    assert r.status_code == 403
    listed = (await env.get(f"{V3}/role_assignments?scope.system=all&user.id={users['bob']}")).json()
    assert listed["role_assignments"] == []


async def test_an_earlier_database_gets_the_system_scope(tmp_path):
    path = tmp_path / "old.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE tokens (id_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, project_id TEXT,"
              " methods TEXT NOT NULL, issued_at REAL NOT NULL, expires_at REAL NOT NULL,"
              " revoked INTEGER NOT NULL DEFAULT 0)")
    c.execute("INSERT INTO tokens VALUES ('h', 'u', 'p', '[]', 1, 2, 0)")
    c.commit()
    c.close()
    db = dbm.open_db(path)
    assert dbm.row(db, "SELECT system FROM tokens WHERE id_hash='h'")["system"] == 0
    assert dbm.rows(db, "SELECT * FROM system_assignments") == []
