"""Keystone v3 through the REST API: version documents, tokens, catalog, users, projects,
roles and role assignments."""
from __future__ import annotations

import pytest

from apihelp import AUTH, password_body

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_version_documents(env):
    r = await env.http.get("/identity")
    v = r.json()["versions"]["values"][0]
    assert v["id"].startswith("v3") and v["status"] == "stable"
    assert v["links"][0]["href"] == "http://pocketstack.test/identity/v3/"
    r = await env.http.get("/identity/v3/")  # trailing slash tolerated
    assert r.status_code == 200 and r.json()["version"]["id"].startswith("v3")


async def test_password_token_has_catalog_with_absolute_urls(env):
    r = await env.http.post(AUTH, json=password_body("admin", "secret", "admin"))
    assert r.status_code == 201
    assert r.headers["X-Subject-Token"]
    t = r.json()["token"]
    assert t["user"]["name"] == "admin" and t["project"]["name"] == "admin"
    assert t["project"]["domain"]["id"] == "default"
    assert {x["name"] for x in t["roles"]} >= {"admin"}
    assert t["expires_at"] > t["issued_at"]
    urls = {c["type"]: c["endpoints"][0] for c in t["catalog"]}
    assert set(urls) >= {"identity", "compute", "image", "network", "block-storage", "volumev3"}
    pid = t["project"]["id"]
    assert urls["compute"]["url"] == "http://pocketstack.test/compute/v2.1"
    assert urls["block-storage"]["url"] == f"http://pocketstack.test/volume/v3/{pid}"
    assert all(e["interface"] == "public" and e["region"] == "RegionOne" for e in urls.values())
    assert "secret" not in r.text


async def test_catalog_ignores_the_host_header(env):
    # the client writes the Host header: the catalog comes from the server's own address
    r = await env.http.post(AUTH, json=password_body("admin", "secret", "admin"),
                            headers={"Host": "cloud.example:9999"})
    urls = {c["type"]: c["endpoints"][0]["url"] for c in r.json()["token"]["catalog"]}
    assert urls["image"] == "http://pocketstack.test/image"


async def test_unscoped_then_token_method_scopes(env):
    r = await env.http.post(AUTH, json=password_body("bob", "bob-pw"))
    assert r.status_code == 201
    unscoped = r.headers["X-Subject-Token"]
    body = r.json()["token"]
    assert "project" not in body and "catalog" not in body
    r = await env.http.get("/identity/v3/auth/projects", headers={"X-Auth-Token": unscoped})
    assert [p["name"] for p in r.json()["projects"]] == ["other"]
    # an unscoped token cannot use a service
    r = await env.http.get("/compute/v2.1/servers", headers={"X-Auth-Token": unscoped})
    assert r.status_code in (401, 403)
    r = await env.http.post(AUTH, json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": unscoped}},
        "scope": {"project": {"id": env.ids["project_other"]}}}})
    assert r.status_code == 201, r.text
    assert r.json()["token"]["project"]["name"] == "other"
    # keystone: a rescoped token names how the first was got, and its expiry
    assert r.json()["token"]["methods"] == ["password", "token"]
    assert r.json()["token"]["expires_at"] == body["expires_at"]


async def test_validate_head_and_revoke(env):
    tok = await env.login("mia", "mia-pw", "admin")
    h = {"X-Auth-Token": env.tokens["admin"], "X-Subject-Token": tok}
    r = await env.http.get(AUTH, headers=h)
    assert r.status_code == 200 and r.json()["token"]["user"]["name"] == "mia"
    assert r.headers["X-Subject-Token"] == tok
    assert (await env.http.head(AUTH, headers=h)).status_code == 200
    assert (await env.http.delete(AUTH, headers=h)).status_code == 204
    r = await env.http.get("/compute/v2.1/servers", headers={"X-Auth-Token": tok})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == 401 and r.json()["error"]["message"]
    assert (await env.http.get(AUTH, headers=h)).status_code == 404 or \
        (await env.http.get(AUTH, headers=h)).status_code == 401


async def test_users_projects_roles_for_admin(env):
    users = (await env.get("/identity/v3/users")).json()["users"]
    assert {"admin", "mia", "rita", "bob"} <= {u["name"] for u in users}
    r = await env.get("/identity/v3/users?name=bob")
    assert [u["id"] for u in r.json()["users"]] == [env.ids["user_bob"]]
    # a name is not an id: 404, so clients search ?name=
    assert (await env.get("/identity/v3/users/bob")).status_code == 404
    assert (await env.get(f"/identity/v3/users/{env.ids['user_bob']}")).json()["user"]["name"] == "bob"
    assert (await env.get("/identity/v3/projects/other")).status_code == 404
    r = await env.get("/identity/v3/projects?name=other")
    assert r.json()["projects"][0]["id"] == env.ids["project_other"]
    roles = (await env.get("/identity/v3/roles")).json()["roles"]
    assert {"admin", "member", "reader"} <= {x["name"] for x in roles}
    assert (await env.get("/identity/v3/roles?name=reader")).json()["roles"][0]["name"] == "reader"


async def test_role_assignment_put_head_get_delete(env):
    r = await env.post("/identity/v3/users", {"user": {"name": "temp", "password": "temp-pw",
                                                       "domain_id": "default"}})
    uid = r.json()["user"]["id"]
    reader = (await env.get("/identity/v3/roles?name=reader")).json()["roles"][0]["id"]
    url = f"/identity/v3/projects/{env.ids['project_other']}/users/{uid}/roles/{reader}"
    h = env.h()
    assert (await env.http.head(url, headers=h)).status_code == 404
    assert (await env.http.put(url, headers=h)).status_code == 204
    assert (await env.http.head(url, headers=h)).status_code == 204
    r = await env.get(f"/identity/v3/projects/{env.ids['project_other']}/users/{uid}/roles")
    assert [x["name"] for x in r.json()["roles"]] == ["reader"]
    r = await env.get(f"/identity/v3/role_assignments?user.id={uid}&include_names")
    a = r.json()["role_assignments"]
    assert a[0]["scope"]["project"]["id"] == env.ids["project_other"] and a[0]["role"]["name"] == "reader"
    assert (await env.http.delete(url, headers=h)).status_code == 204
    assert (await env.http.head(url, headers=h)).status_code == 404
    assert (await env.delete(f"/identity/v3/users/{uid}")).status_code == 204
    assert (await env.get(f"/identity/v3/users/{uid}")).status_code == 404


async def test_non_admin_cannot_manage_identity(env):
    r = await env.post("/identity/v3/users", {"user": {"name": "evil", "password": "x"}}, who="mia")
    assert r.status_code == 403 and r.json()["error"]["message"]
    r = await env.post("/identity/v3/projects", {"project": {"name": "evil"}}, who="bob")
    assert r.status_code == 403


async def test_domains(env):
    r = await env.get("/identity/v3/domains/default")
    assert r.json()["domain"]["name"] == "Default"
    assert (await env.get("/identity/v3/domains/nope")).status_code == 404



async def test_patch_user_and_project(env):
    """openstack user set / project set: PATCH /v3/users/{id} and /v3/projects/{id}."""
    r = await env.post("/identity/v3/users", {"user": {"name": "pat", "password": "pw1"}})
    uid = r.json()["user"]["id"]
    r = await env.http.patch(f"/identity/v3/users/{uid}", headers=env.h(),
                             json={"user": {"password": "pw2", "enabled": False}})
    assert r.status_code == 200 and r.json()["user"]["enabled"] is False, r.text
    # keystone keeps attributes beyond its schema as given (its "extra")
    r = await env.http.patch(f"/identity/v3/users/{uid}", headers=env.h(), json={"user": {"colour": "red"}})
    assert r.status_code == 200 and r.json()["user"]["colour"] == "red"
    # the user's own id may come along (tempest's client sends it), another is refused
    r = await env.http.patch(f"/identity/v3/users/{uid}", headers=env.h(), json={"user": {"id": uid, "colour": "blue"}})
    assert r.status_code == 200 and r.json()["user"]["colour"] == "blue" and "id" in r.json()["user"]
    r = await env.http.patch(f"/identity/v3/users/{uid}", headers=env.h(), json={"user": {"id": "other"}})
    assert r.status_code == 400 and "user.id" in r.text
    r = await env.http.patch(f"/identity/v3/users/{uid}", headers=env.h(), json={"user": {"colour": ["red"]}})
    assert r.status_code == 400 and "user.colour" in r.text
    r = await env.post("/identity/v3/projects", {"project": {"name": "pp"}})
    pid = r.json()["project"]["id"]
    r = await env.http.patch(f"/identity/v3/projects/{pid}", headers=env.h(),
                             json={"project": {"description": "d"}})
    assert r.status_code == 200 and r.json()["project"]["description"] == "d", r.text
    r = await env.http.patch("/identity/v3/projects/pp", headers=env.h(), json={"project": {"description": "d"}})
    assert r.status_code == 404  # names are not ids


async def test_self_service_password_change(env):
    r = await env.post("/identity/v3/users", {"user": {"name": "sam", "password": "pw-sam"}})
    uid = r.json()["user"]["id"]
    await env.http.put(f"/identity/v3/projects/{env.ids['project_other']}/users/{uid}/roles/"
                       + (await env.get("/identity/v3/roles?name=reader")).json()["roles"][0]["id"], headers=env.h())
    tok = await env.login("sam", "pw-sam", "other")
    h = {"X-Auth-Token": tok}
    r = await env.http.post(f"/identity/v3/users/{uid}/password", headers=h,
                            json={"user": {"password": "new", "original_password": "bad"}})
    assert r.status_code == 401, r.text
    r = await env.http.post(f"/identity/v3/users/{uid}/password", headers=h, json={"user": {"password": "new"}})
    assert r.status_code == 400 and "original_password" in r.text
    r = await env.http.post(f"/identity/v3/users/{uid}/password", headers=h,
                            json={"user": {"password": "new", "original_password": "pw-sam"}})
    assert r.status_code == 204, r.text
    assert await env.login("sam", "new", "other")


async def test_user_keeps_email_description_and_other_attributes(env):
    r = await env.post("/identity/v3/users", {"user": {
        "name": "ext", "password": "ext-pw", "email": "ext@example.test", "description": "a user",
        "project_id": env.ids["project_other"]}})
    assert r.status_code == 201, r.text
    u = r.json()["user"]
    assert (u["email"], u["description"], u["project_id"]) == ("ext@example.test", "a user",
                                                                env.ids["project_other"])
    uid = u["id"]
    r = await env.http.patch(f"/identity/v3/users/{uid}", json={"user": {"email": "new@example.test"}},
                             headers=env.h())
    assert r.status_code == 200 and r.json()["user"]["email"] == "new@example.test"
    shown = (await env.get(f"/identity/v3/users/{uid}")).json()["user"]
    assert (shown["email"], shown["description"]) == ("new@example.test", "a user")  # merged, kept
    listed = {x["name"]: x for x in (await env.get("/identity/v3/users")).json()["users"]}
    assert listed["ext"]["email"] == "new@example.test"
    # a non-admin changes no attribute, not even their own
    r = await env.http.patch(f"/identity/v3/users/{env.ids['user_mia']}", json={"user": {"email": "x@y"}},
                             headers=env.h("mia"))
    assert r.status_code == 403
    assert (await env.delete(f"/identity/v3/users/{uid}")).status_code == 204


async def test_bad_user_attribute_is_400_naming_it_and_nothing_made(env):
    before = await env.state()
    for bad, named in (({"nested": {"a": 1}}, "user.nested"), ({"description": "two\nlines"}, "user.description"),
                       ({"email": "x" * 2000}, "user.email")):
        r = await env.post("/identity/v3/users", {"user": {"name": "bad-attr", "password": "pw", **bad}})
        assert r.status_code == 400 and named in r.json()["error"]["message"], (bad, r.text)
    assert await env.state() == before


async def test_project_created_disabled_and_non_admin_changes_are_403_first(env):
    r = await env.post("/identity/v3/projects", {"project": {"name": "dormant", "enabled": False}})
    assert r.status_code == 201 and r.json()["project"]["enabled"] is False
    pid = r.json()["project"]["id"]
    assert (await env.get(f"/identity/v3/projects/{pid}")).json()["project"]["enabled"] is False
    r = await env.post("/identity/v3/projects", {"project": {"name": "x", "enabled": "sometimes"}})
    assert r.status_code == 400 and "project.enabled" in r.json()["error"]["message"]
    # a project bob is not in: 403 (not allowed), as keystone, not 404
    assert (await env.delete(f"/identity/v3/projects/{pid}", who="bob")).status_code == 403
    assert (await env.delete(f"/identity/v3/projects/{env.ids['project_other']}", who="bob")).status_code == 403
    assert (await env.get(f"/identity/v3/projects/{pid}", who="bob")).status_code == 404
    assert (await env.get("/identity/v3/projects", who="bob")).status_code == 403
    mine = (await env.get(f"/identity/v3/users/{env.ids['user_bob']}/projects", who="bob")).json()["projects"]
    assert [p["name"] for p in mine] == ["other"]
    assert (await env.delete(f"/identity/v3/projects/{pid}")).status_code == 204
