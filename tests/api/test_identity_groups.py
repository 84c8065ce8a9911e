"""Keystone's groups through the REST API: create, show, rename, list (filters), members
added, checked, listed and removed, a user's groups; deleted with their memberships; only
admins change them; bad input 400 naming the field with nothing written."""
from __future__ import annotations

import pytest

from backend.core import db as dbm

pytestmark = pytest.mark.asyncio(loop_scope="module")
G = "/identity/v3/groups"


async def test_group_lifecycle_and_members(env):
    r = await env.post(G, {"group": {"name": "ops", "description": "on call"}})
    assert r.status_code == 201, r.text
    g = r.json()["group"]
    assert (g["name"], g["description"], g["domain_id"]) == ("ops", "on call", "default")
    assert (await env.get(f"{G}/{g['id']}")).json()["group"] == g
    assert (await env.post(G, {"group": {"name": "ops"}})).status_code == 409
    r = await env.http.patch(f"{G}/{g['id']}", json={"group": {"name": "ops2"}}, headers=env.h())
    assert r.status_code == 200 and r.json()["group"]["description"] == "on call"
    assert [x["id"] for x in (await env.get(f"{G}?name=ops2")).json()["groups"]] == [g["id"]]

    member = f"{G}/{g['id']}/users/{env.ids['user_bob']}"
    assert (await env.get(member)).status_code == 404
    assert (await env.http.put(member, headers=env.h())).status_code == 204
    assert (await env.http.head(member, headers=env.h())).status_code == 204
    users = (await env.get(f"{G}/{g['id']}/users")).json()["users"]
    assert [u["name"] for u in users] == ["bob"]
    mine = (await env.get(f"/identity/v3/users/{env.ids['user_bob']}/groups", who="bob")).json()["groups"]
    assert [x["id"] for x in mine] == [g["id"]]
    # bob sees his group, mia (not in it) neither sees nor changes it
    assert (await env.get(f"{G}/{g['id']}", who="bob")).status_code == 200
    assert (await env.get(f"{G}/{g['id']}", who="mia")).status_code == 404
    assert (await env.get(G, who="mia")).json()["groups"] == []
    assert (await env.http.put(f"{G}/{g['id']}/users/{env.ids['user_mia']}", headers=env.h("mia"))).status_code == 403

    assert (await env.delete(member)).status_code == 204
    assert (await env.delete(member)).status_code == 404
    assert (await env.get(f"{G}/{g['id']}/users")).json()["users"] == []
    assert (await env.http.put(member, headers=env.h())).status_code == 204
    assert (await env.delete(f"{G}/{g['id']}")).status_code == 204
    assert (await env.get(f"{G}/{g['id']}")).status_code == 404
    assert dbm.rows(env.cloud.rt.db, "SELECT * FROM group_members WHERE group_id=?", (g["id"],)) == []


async def test_groups_go_with_their_domain(env):
    did = (await env.post("/identity/v3/domains", {"domain": {"name": "g-dom"}})).json()["domain"]["id"]
    gid = (await env.post(G, {"group": {"name": "ops", "domain_id": did}})).json()["group"]["id"]  # same name, other domain
    await env.http.patch(f"/identity/v3/domains/{did}", json={"domain": {"enabled": False}}, headers=env.h())
    assert (await env.delete(f"/identity/v3/domains/{did}")).status_code == 204
    assert (await env.get(f"{G}/{gid}")).status_code == 404


async def test_bad_group_input_is_400_naming_it_and_nothing_written(env):
    before = dbm.rows(env.cloud.rt.db, "SELECT * FROM groups ORDER BY id")
    for body, named in (({"name": ""}, "name"), ({"name": "a" * 65}, "name"),
                        ({"name": "x", "description": ["d"]}, "description"), ({"name": "x", "colour": ["red"]}, "colour")):
        r = await env.post(G, {"group": body})
        assert r.status_code == 400 and named in r.json()["error"]["message"], (body, r.text)
    r = await env.post(G, {"group": {"name": "x", "domain_id": "nowhere"}})
    assert r.status_code == 404
    assert (await env.post(G, {"group": {"name": "x"}}, who="mia")).status_code == 403
    assert dbm.rows(env.cloud.rt.db, "SELECT * FROM groups ORDER BY id") == before


async def test_project_tags(env):
    P = "/identity/v3/projects"
    r = await env.post(P, {"project": {"name": "tagged", "tags": ["a", "b"]}})
    assert r.status_code == 201 and r.json()["project"]["tags"] == ["a", "b"]
    pid = r.json()["project"]["id"]
    r = await env.http.put(f"{P}/{pid}/tags/c", headers=env.h())
    assert r.status_code == 201
    assert (await env.get(f"{P}/{pid}/tags/c")).status_code == 204
    assert (await env.get(f"{P}/{pid}/tags")).json()["tags"] == ["a", "b", "c"]
    r = await env.http.put(f"{P}/{pid}/tags", json={"tags": ["x", "y"]}, headers=env.h())
    assert r.status_code == 200 and r.json()["tags"] == ["x", "y"]
    assert (await env.get(f"{P}/{pid}")).json()["project"]["tags"] == ["x", "y"]  # kept
    assert (await env.delete(f"{P}/{pid}/tags/x")).status_code == 204
    assert (await env.get(f"{P}/{pid}/tags/x")).status_code == 404
    assert (await env.delete(f"{P}/{pid}/tags/x")).status_code == 404
    r = await env.http.patch(f"{P}/{pid}", json={"project": {"tags": ["p"]}}, headers=env.h())
    assert r.json()["project"]["tags"] == ["p"]
    # bad tags: 400 naming what is wrong, nothing changed
    for bad in (["a/b"], ["a,b"], [""], "notalist", ["t"] * 81, [5]):
        r = await env.http.put(f"{P}/{pid}/tags", json={"tags": bad}, headers=env.h())
        assert r.status_code == 400 and "tag" in r.json()["error"]["message"], bad
    assert (await env.http.put(f"{P}/{pid}/tags/t", headers=env.h("mia"))).status_code == 403
    assert (await env.get(f"{P}/{pid}/tags")).json()["tags"] == ["p"]
    assert (await env.delete(f"{P}/{pid}/tags")).status_code == 204
    assert (await env.get(f"{P}/{pid}/tags")).json()["tags"] == []
    assert (await env.delete(f"{P}/{pid}")).status_code == 204
