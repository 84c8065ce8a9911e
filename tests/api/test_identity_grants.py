"""Keystone's role grants beyond a user's on a project, through the REST API: roles held
through a group (in tokens and in ?effective), roles on domains and domain-scoped tokens,
OS-INHERIT (a domain's or a project's roles reaching the projects below), implied roles,
nested projects, the role-assignment filters and include_names; only admins grant."""
from __future__ import annotations

import pytest

from apihelp import AUTH, password_body

pytestmark = pytest.mark.asyncio(loop_scope="module")
V3 = "/identity/v3"


async def _role(env, name: str) -> str:
    r = await env.post(f"{V3}/roles", {"role": {"name": name}})
    assert r.status_code == 201, r.text
    return r.json()["role"]["id"]


async def _user(env, name: str, domain: str = "default") -> str:
    r = await env.post(f"{V3}/users", {"user": {"name": name, "password": f"{name}-pw", "domain_id": domain}})
    assert r.status_code == 201, r.text
    return r.json()["user"]["id"]


async def _project(env, name: str, **extra) -> dict:
    r = await env.post(f"{V3}/projects", {"project": {"name": name, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["project"]


async def _token(env, user: str, scope: dict | None, domain: str = "Default"):
    body = password_body(user, f"{user}-pw")
    body["auth"]["identity"]["password"]["user"]["domain"] = {"name": domain}
    if scope:
        body["auth"]["scope"] = scope
    return await env.http.post(AUTH, json=body)


async def _put(env, path: str, who: str = "admin"):
    return await env.http.put(path, headers=env.h(who))


async def test_a_groups_role_on_a_project_is_its_members_in_tokens_and_effective_list(env):
    role = await _role(env, "auditor")
    proj = await _project(env, "grp-proj")
    uid = await _user(env, "gina")
    gid = (await env.post(f"{V3}/groups", {"group": {"name": "auditors", "project_id": proj["id"]}})).json()["group"]["id"]
    grant = f"{V3}/projects/{proj['id']}/groups/{gid}/roles/{role}"
    # no role yet: gina cannot scope to the project
    assert (await _token(env, "gina", {"project": {"id": proj["id"]}})).status_code == 401
    assert (await _put(env, grant, who="mia")).status_code == 403  # a member is no admin
    assert (await _put(env, grant)).status_code == 204
    assert (await env.http.head(grant, headers=env.h())).status_code == 204
    listed = (await env.get(f"{V3}/projects/{proj['id']}/groups/{gid}/roles")).json()["roles"]
    assert [r["id"] for r in listed] == [role]
    assert (await _put(env, f"{V3}/groups/{gid}/users/{uid}")).status_code == 204
    r = await _token(env, "gina", {"project": {"id": proj["id"]}})
    assert r.status_code == 201, r.text
    assert [x["id"] for x in r.json()["token"]["roles"]] == [role]
    tok = r.headers["X-Subject-Token"]
    # the group's grant is listed as the group's; ?effective shows it as gina's
    raw = (await env.get(f"{V3}/role_assignments?scope.project.id={proj['id']}")).json()["role_assignments"]
    assert [(a.get("group", {}).get("id"), a["role"]["id"]) for a in raw] == [(gid, role)]
    eff = (await env.get(f"{V3}/role_assignments?effective&user.id={uid}")).json()["role_assignments"]
    assert [(a["user"]["id"], a["scope"]["project"]["id"], a["role"]["id"]) for a in eff] == [(uid, proj["id"], role)]
    # leaving the group takes the role: the token no longer validates
    assert (await env.delete(f"{V3}/groups/{gid}/users/{uid}")).status_code == 204
    r = await env.http.get(AUTH, headers={**env.h(), "X-Subject-Token": tok})
    assert r.status_code == 404
    assert (await env.delete(grant)).status_code == 204
    assert (await env.delete(grant)).status_code == 404


async def test_roles_on_a_domain_and_domain_scoped_tokens(env):
    did = (await env.post(f"{V3}/domains", {"domain": {"name": "dom-roles"}})).json()["domain"]["id"]
    uid = await _user(env, "dora", did)
    member = (await env.get(f"{V3}/roles?name=member")).json()["roles"][0]["id"]
    scope = {"domain": {"id": did}}
    assert (await _token(env, "dora", scope, "dom-roles")).status_code == 401
    assert (await _put(env, f"{V3}/domains/{did}/users/{uid}/roles/{member}")).status_code == 204
    r = await _token(env, "dora", scope, "dom-roles")
    assert r.status_code == 201, r.text
    body = r.json()["token"]
    assert body["domain"] == {"id": did, "name": "dom-roles"} and "project" not in body
    assert {x["name"] for x in body["roles"]} == {"member", "reader"}
    tok = r.headers["X-Subject-Token"]
    mine = (await env.http.get(f"{V3}/auth/domains", headers={"X-Auth-Token": tok})).json()["domains"]
    assert [d["id"] for d in mine] == [did]
    # the domain's name works as the scope too, and a domain-scoped token never reaches compute as anyone else
    assert (await _token(env, "dora", {"domain": {"name": "dom-roles"}}, "dom-roles")).status_code == 201
    r = await env.http.get("/compute/v2.1/servers", headers={"X-Auth-Token": tok})
    assert r.status_code in (401, 403) or r.json()["servers"] == []
    listed = (await env.get(f"{V3}/role_assignments?scope.domain.id={did}&include_names")).json()["role_assignments"]
    assert listed == [{"role": {"id": member, "name": "member"},
                       "user": {"id": uid, "name": "dora", "domain": {"id": did, "name": "dom-roles"}},
                       "scope": {"domain": {"id": did, "name": "dom-roles"}},
                       "links": {"assignment": listed[0]["links"]["assignment"]}}]
    assert listed[0]["links"]["assignment"].endswith(f"/identity/v3/domains/{did}/users/{uid}/roles/{member}")
    # bob (a member elsewhere) neither sees nor changes the domain's grants
    assert (await env.get(f"{V3}/domains/{did}/users/{uid}/roles", who="bob")).status_code == 403
    assert (await env.get(f"{V3}/role_assignments?scope.domain.id={did}&user.id={uid}", who="bob")).status_code == 403
    assert (await env.delete(f"{V3}/domains/{did}/users/{uid}/roles/{member}")).status_code == 204
    r = await env.http.get(AUTH, headers={**env.h(), "X-Subject-Token": tok})
    assert r.status_code == 404


async def test_inherited_roles_reach_every_project_below(env):
    did = (await env.post(f"{V3}/domains", {"domain": {"name": "dom-inh"}})).json()["domain"]["id"]
    uid = await _user(env, "ian", did)
    top = await _project(env, "inh-top", domain_id=did)
    kid = await _project(env, "inh-kid", parent_id=top["id"])
    assert (kid["parent_id"], kid["domain_id"], top["parent_id"]) == (top["id"], did, did)
    role = await _role(env, "inh-role")
    on_domain = f"{V3}/OS-INHERIT/domains/{did}/users/{uid}/roles/{role}/inherited_to_projects"
    assert (await _put(env, on_domain)).status_code == 204
    for p in (top, kid):  # held on both projects, though granted on neither
        r = await _token(env, "ian", {"project": {"id": p["id"]}}, "dom-inh")
        assert r.status_code == 201 and [x["id"] for x in r.json()["token"]["roles"]] == [role]
    # but not on the domain itself
    assert (await _token(env, "ian", {"domain": {"id": did}}, "dom-inh")).status_code == 401
    listed = (await env.get(f"{V3}/OS-INHERIT/domains/{did}/users/{uid}/roles/inherited_to_projects")).json()["roles"]
    assert [r["id"] for r in listed] == [role]
    raw = (await env.get(f"{V3}/role_assignments?user.id={uid}")).json()["role_assignments"]
    assert [a["scope"] for a in raw] == [{"domain": {"id": did}, "OS-INHERIT:inherited_to": "projects"}]
    eff = (await env.get(f"{V3}/role_assignments?user.id={uid}&effective")).json()["role_assignments"]
    assert sorted(a["scope"]["project"]["id"] for a in eff) == sorted([top["id"], kid["id"]])
    assert (await env.delete(on_domain)).status_code == 204
    # inherited from a project: its subtree, not itself
    on_top = f"{V3}/OS-INHERIT/projects/{top['id']}/users/{uid}/roles/{role}/inherited_to_projects"
    assert (await _put(env, on_top)).status_code == 204
    assert (await _token(env, "ian", {"project": {"id": kid["id"]}}, "dom-inh")).status_code == 201
    assert (await _token(env, "ian", {"project": {"id": top["id"]}}, "dom-inh")).status_code == 401
    r = await env.get(f"{V3}/projects/{top['id']}?subtree_as_list")
    assert [x["project"]["id"] for x in r.json()["project"]["subtree"]] == [kid["id"]]
    r = await env.get(f"{V3}/projects/{kid['id']}?parents_as_list")
    assert [x["project"]["id"] for x in r.json()["project"]["parents"]] == [top["id"]]
    assert [p["id"] for p in (await env.get(f"{V3}/projects?parent_id={top['id']}")).json()["projects"]] == [kid["id"]]
    # a project with projects below it is not deleted
    assert (await env.delete(f"{V3}/projects/{top['id']}")).status_code == 403
    assert (await _put(env, on_top, who="mia")).status_code == 403


async def test_implied_roles_come_with_their_prior_role(env):
    prior, implied = await _role(env, "lead"), await _role(env, "helper")
    proj = await _project(env, "impl-proj")
    uid = await _user(env, "ivy")
    assert (await _put(env, f"{V3}/projects/{proj['id']}/users/{uid}/roles/{prior}")).status_code == 204
    rule = f"{V3}/roles/{prior}/implies/{implied}"
    r = await env.http.put(rule, headers=env.h())
    assert r.status_code == 201 and r.json()["role_inference"]["implies"]["id"] == implied
    assert (await env.http.put(f"{V3}/roles/{implied}/implies/{prior}", headers=env.h())).status_code == 409
    assert (await env.http.put(rule, headers=env.h("mia"))).status_code == 403
    r = await _token(env, "ivy", {"project": {"id": proj["id"]}})
    assert sorted(x["id"] for x in r.json()["token"]["roles"]) == sorted([prior, implied])
    eff = (await env.get(f"{V3}/role_assignments?effective&user.id={uid}")).json()["role_assignments"]
    assert sorted(a["role"]["id"] for a in eff) == sorted([prior, implied])
    rules = (await env.get(f"{V3}/roles/{prior}/implies")).json()["role_inference"]
    assert [x["id"] for x in rules["implies"]] == [implied]
    assert (await env.delete(rule)).status_code == 204
    assert (await env.get(rule)).status_code == 404
    eff = (await env.get(f"{V3}/role_assignments?effective&user.id={uid}")).json()["role_assignments"]
    assert [a["role"]["id"] for a in eff] == [prior]


async def test_a_group_role_on_the_system_and_what_goes_with_a_deleted_group(env):
    reader = (await env.get(f"{V3}/roles?name=reader")).json()["roles"][0]["id"]
    uid = await _user(env, "syd")
    gid = (await env.post(f"{V3}/groups", {"group": {"name": "sys-readers"}})).json()["group"]["id"]
    await _put(env, f"{V3}/groups/{gid}/users/{uid}")
    assert (await _put(env, f"{V3}/system/groups/{gid}/roles/{reader}")).status_code == 204
    assert [r["id"] for r in (await env.get(f"{V3}/system/groups/{gid}/roles")).json()["roles"]] == [reader]
    r = await _token(env, "syd", {"system": {"all": True}})
    assert r.status_code == 201 and [x["name"] for x in r.json()["token"]["roles"]] == ["reader"]
    assert (await env.delete(f"{V3}/groups/{gid}")).status_code == 204
    assert (await _token(env, "syd", {"system": {"all": True}})).status_code == 401
    assert (await env.get(f"{V3}/role_assignments?group.id={gid}")).json()["role_assignments"] == []


async def test_bad_grants_are_refused_by_name_and_change_nothing(env):
    before = await env.state()
    uid, role = env.ids["user_bob"], (await env.get(f"{V3}/roles?name=member")).json()["roles"][0]["id"]
    for path, code in ((f"{V3}/domains/nowhere/users/{uid}/roles/{role}", 404),
                       (f"{V3}/projects/{env.ids['project_other']}/groups/nogroup/roles/{role}", 404),
                       (f"{V3}/domains/default/users/{uid}/roles/norole", 404)):
        r = await _put(env, path)
        assert r.status_code == code, (path, r.text)
    for q in ("scope.project.id=a&scope.domain.id=b", "user.id=a&group.id=b", "colour=red",
              "scope.system=some", "include_subtree", "effective&group.id=x"):
        r = await env.get(f"{V3}/role_assignments?{q}")
        assert r.status_code == 400, (q, r.text)
    r = await env.post(f"{V3}/projects", {"project": {"name": "x", "parent_id": env.ids["project_other"],
                                                      "domain_id": "nowhere"}})
    assert r.status_code in (400, 404)
    assert await env.state() == before


async def test_a_domain_specific_role_is_held_only_for_the_global_roles_it_implies(env):
    did = (await env.post(f"{V3}/domains", {"domain": {"name": "dom-droles"}})).json()["domain"]["id"]
    r = await env.post(f"{V3}/roles", {"role": {"name": "d-operator", "domain_id": did}})
    assert r.status_code == 201 and r.json()["role"]["domain_id"] == did
    drole = r.json()["role"]["id"]
    assert drole not in [x["id"] for x in (await env.get(f"{V3}/roles")).json()["roles"]]
    assert [x["id"] for x in (await env.get(f"{V3}/roles?domain_id={did}")).json()["roles"]] == [drole]
    reader = (await env.get(f"{V3}/roles?name=reader")).json()["roles"][0]["id"]
    proj = await _project(env, "drole-proj")
    uid = await _user(env, "dex")
    assert (await _put(env, f"{V3}/projects/{proj['id']}/users/{uid}/roles/{drole}")).status_code == 204
    # held for nothing yet: no token, no effective assignment
    assert (await _token(env, "dex", {"project": {"id": proj["id"]}})).status_code == 401
    assert (await env.get(f"{V3}/role_assignments?effective&user.id={uid}")).json()["role_assignments"] == []
    # a global role cannot imply it; it may imply a global one, which is then held
    assert (await env.http.put(f"{V3}/roles/{reader}/implies/{drole}", headers=env.h())).status_code == 403
    assert (await env.http.put(f"{V3}/roles/{drole}/implies/{reader}", headers=env.h())).status_code == 201
    # the reverse would also be a cycle: the domain-specific rule is what is refused (keystone)
    assert (await env.http.put(f"{V3}/roles/{reader}/implies/{drole}", headers=env.h())).status_code == 403
    r = await _token(env, "dex", {"project": {"id": proj["id"]}})
    assert r.status_code == 201 and [x["name"] for x in r.json()["token"]["roles"]] == ["reader"]
    assert (await env.post(f"{V3}/roles", {"role": {"name": "d2", "domain_id": "nowhere"}})).status_code == 404
    # the domain takes its roles and their assignments with it
    await env.http.patch(f"{V3}/domains/{did}", json={"domain": {"enabled": False}}, headers=env.h())
    assert (await env.delete(f"{V3}/domains/{did}")).status_code == 204
    assert (await env.get(f"{V3}/roles/{drole}")).status_code == 404
    assert (await env.get(f"{V3}/role_assignments?user.id={uid}")).json()["role_assignments"] == []
