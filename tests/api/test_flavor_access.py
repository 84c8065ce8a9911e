"""Private flavors and nova's os-flavor-access: who sees a private flavor (list, show, boot),
the access list and its add/remove actions with nova's status codes and messages."""
from __future__ import annotations

import itertools

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"
_n = itertools.count()


async def private_flavor(env) -> str:
    i = next(_n)
    r = await env.post(f"{V}/flavors", {"flavor": {"name": f"priv-{i}", "ram": 64, "vcpus": 1, "disk": 1,
                                                    "id": f"priv-{i}", "os-flavor-access:is_public": False}})
    assert r.status_code == 200, r.text
    return r.json()["flavor"]["id"]


async def act(env, fid, action, tenant, who="admin", version="2.1"):
    return await env.http.post(f"{V}/flavors/{fid}/action", json={action: {"tenant": tenant}},
                               headers=env.h(who, **{"OpenStack-API-Version": f"compute {version}"}))


async def ids(env, who, query=""):
    r = await env.get(f"{V}/flavors/detail{query}", who)
    assert r.status_code == 200, r.text
    return {f["id"] for f in r.json()["flavors"]}


async def test_a_new_private_flavor_has_an_empty_list_and_is_seen_by_admins_only(env):
    fid = await private_flavor(env)
    r = await env.get(f"{V}/flavors/{fid}/os-flavor-access")
    assert r.status_code == 200 and r.json() == {"flavor_access": []}
    assert fid not in await ids(env, "bob")
    assert (await env.get(f"{V}/flavors/{fid}", "bob")).status_code == 404
    # nova: an admin's list holds public flavors (and those shared with the admin's project)
    # unless is_public says otherwise
    assert fid not in await ids(env, "admin")
    assert fid in await ids(env, "admin", "?is_public=false")
    assert fid in await ids(env, "admin", "?is_public=none")
    assert fid not in await ids(env, "admin", "?is_public=true")


async def test_add_then_remove_access(env):
    fid, bob = await private_flavor(env), env.ids["project_bob"]
    r = await act(env, fid, "addTenantAccess", bob)
    assert r.status_code == 200, r.text
    assert r.json() == {"flavor_access": [{"flavor_id": fid, "tenant_id": bob}]}
    assert fid in await ids(env, "bob")
    assert fid not in await ids(env, "mia")          # another project still does not see it
    assert (await env.get(f"{V}/flavors/{fid}", "bob")).status_code == 200
    srv = {"server": {"name": "on-private", "imageRef": env.ids["image"], "flavorRef": fid,
                      "networks": "none"}}
    r = await env.http.post(f"{V}/servers", json=srv,
                            headers=env.h("bob", **{"OpenStack-API-Version": "compute 2.37"}))
    assert r.status_code == 202, r.text
    r = await act(env, fid, "removeTenantAccess", bob)
    assert r.status_code == 200 and r.json() == {"flavor_access": []}
    assert fid not in await ids(env, "bob")
    r = await env.http.post(f"{V}/servers", json=srv,
                            headers=env.h("bob", **{"OpenStack-API-Version": "compute 2.37"}))
    assert r.status_code == 400 and f"Flavor {fid} could not be found." in r.text


async def test_members_are_forbidden_before_the_flavor_is_looked_up(env):
    fid = await private_flavor(env)
    for action in ("addTenantAccess", "removeTenantAccess"):
        assert (await act(env, fid, action, env.ids["project_bob"], "bob")).status_code == 403
        assert (await act(env, "no-such", action, env.ids["project_bob"], "mia")).status_code == 403
    assert (await env.get(f"{V}/flavors/{fid}/os-flavor-access", "mia")).status_code == 403


async def test_nova_errors(env):
    fid, bob = await private_flavor(env), env.ids["project_bob"]
    assert (await act(env, fid, "addTenantAccess", bob)).status_code == 200
    r = await act(env, fid, "addTenantAccess", bob)
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == (
        f"Flavor access already exists for flavor {fid} and project {bob} combination.")
    r = await act(env, fid, "removeTenantAccess", env.ids["project_admin"])
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == (
        f"Flavor access not found for {fid} / {env.ids['project_admin']} combination.")
    r = await act(env, fid, "addTenantAccess", "no-such-project")
    assert r.status_code == 400 and "no-such-project is not a valid project" in r.text
    assert (await act(env, "no-such", "addTenantAccess", bob)).status_code == 404
    # a public flavor has no list; adding to it is a conflict from 2.7 (kept before, as nova)
    r = await env.get(f"{V}/flavors/1/os-flavor-access")
    assert r.status_code == 404 and "Access list not available for public flavors." in r.text
    r = await act(env, "1", "addTenantAccess", bob, version="2.7")
    assert r.status_code == 409 and "Can not add access to a public flavor." in r.text


@pytest.mark.parametrize("body, what", [
    ({"addTenantAccess": {}}, "tenant"), ({"addTenantAccess": {"tenant": ""}}, "tenant"),
    ({"addTenantAccess": {"tenant": "x", "more": 1}}, "tenant"),
    ({"removeTenantAccess": "x"}, "removeTenantAccess"), ({"shareIt": {"tenant": "x"}}, "shareIt"),
    ({"addTenantAccess": {"tenant": "x"}, "removeTenantAccess": {"tenant": "x"}}, "one action"),
])
async def test_bad_bodies_are_400_naming_what_is_wrong(env, body, what):
    fid = await private_flavor(env)
    r = await env.post(f"{V}/flavors/{fid}/action", body)
    assert r.status_code == 400 and what in r.json()["badRequest"]["message"]
    assert (await env.get(f"{V}/flavors/{fid}/os-flavor-access")).json() == {"flavor_access": []}


async def test_deleting_a_flavor_takes_its_access_list(env):
    fid, bob = await private_flavor(env), env.ids["project_bob"]
    assert (await act(env, fid, "addTenantAccess", bob)).status_code == 200
    assert (await env.delete(f"{V}/flavors/{fid}")).status_code == 202
    r = await env.post(f"{V}/flavors", {"flavor": {"name": "again", "ram": 64, "vcpus": 1, "disk": 1,
                                                    "id": fid, "os-flavor-access:is_public": False}})
    assert r.status_code == 200
    assert (await env.get(f"{V}/flavors/{fid}/os-flavor-access")).json() == {"flavor_access": []}
