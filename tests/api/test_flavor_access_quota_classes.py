"""Nova's os-quota-class-sets: the class 'default' read and set by admins with each
microversion's keys, and its limits becoming every project's defaults."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"
KEYS_21 = {"instances", "cores", "ram", "metadata_items", "key_pairs", "injected_files",
           "injected_file_content_bytes", "injected_file_path_bytes", "floating_ips", "fixed_ips",
           "security_groups", "security_group_rules"}


async def call(env, method, path, body=None, who="admin", version="2.1"):
    return await env.http.request(method, path, json=body,
                                  headers=env.h(who, **{"OpenStack-API-Version": f"compute {version}"}))


async def test_default_class_per_microversion(env):
    r = await call(env, "GET", f"{V}/os-quota-class-sets/default")
    assert r.status_code == 200
    body = r.json()["quota_class_set"]
    assert body.pop("id") == "default" and set(body) == KEYS_21
    assert body["instances"] == 10 and body["fixed_ips"] == -1 and body["injected_files"] == 0
    r = await call(env, "GET", f"{V}/os-quota-class-sets/default", version="2.50")
    assert set(r.json()["quota_class_set"]) == KEYS_21 - {"floating_ips", "fixed_ips", "security_groups",
                                                          "security_group_rules"} | {"id", "server_groups",
                                                                                     "server_group_members"}


async def test_update_default_becomes_every_projects_default(env):
    before = (await call(env, "GET", f"{V}/os-quota-class-sets/default")).json()["quota_class_set"]
    before.pop("id")
    want = {k: v + 100 for k, v in before.items()}
    r = await call(env, "PUT", f"{V}/os-quota-class-sets/default", {"quota_class_set": want})
    assert r.status_code == 200 and r.json() == {"quota_class_set": want}      # no 'id' in the answer
    shown = (await call(env, "GET", f"{V}/os-quota-class-sets/default")).json()["quota_class_set"]
    assert {k: shown[k] for k in want} == want
    bob = env.ids["project_bob"]
    d = (await env.get(f"{V}/os-quota-sets/{bob}/defaults", "bob")).json()["quota_set"]
    assert d["instances"] == before["instances"] + 100 and d["ram"] == before["ram"] + 100
    q = (await env.get(f"{V}/os-quota-sets/{bob}", "bob")).json()["quota_set"]
    assert q["cores"] == before["cores"] + 100
    r = await call(env, "PUT", f"{V}/os-quota-class-sets/default", {"quota_class_set": before})
    assert r.status_code == 200
    d = (await env.get(f"{V}/os-quota-sets/{bob}/defaults", "bob")).json()["quota_set"]
    assert d["instances"] == before["instances"]


@pytest.mark.parametrize("body, version, what", [
    ({"quota_class_set": {"instances": "many"}}, "2.1", "instances"),
    ({"quota_class_set": {"instances": -2}}, "2.1", "instances"),
    ({"quota_class_set": {"server_groups": 5}}, "2.1", "server_groups"),
    ({"quota_class_set": {"fixed_ips": 5}}, "2.50", "fixed_ips"),
    ({"quota_set": {"instances": 5}}, "2.1", "quota_class_set"),
])
async def test_bad_updates_change_nothing(env, body, version, what):
    before = (await call(env, "GET", f"{V}/os-quota-class-sets/default")).json()
    r = await call(env, "PUT", f"{V}/os-quota-class-sets/default", body, version=version)
    assert r.status_code == 400 and what in r.json()["badRequest"]["message"]
    assert (await call(env, "GET", f"{V}/os-quota-class-sets/default")).json() == before


async def test_members_are_forbidden(env):
    assert (await call(env, "GET", f"{V}/os-quota-class-sets/default", who="mia")).status_code == 403
    r = await call(env, "PUT", f"{V}/os-quota-class-sets/default", {"quota_class_set": {"instances": 1}}, who="mia")
    assert r.status_code == 403
