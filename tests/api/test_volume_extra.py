"""Cinder v3: a volume's user, its metadata (create, merge, replace, one key), the
availability zones and the default volume type."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _volume(env, who="mia", **extra) -> dict:
    r = await env.post(f"{env.vol(who)}/volumes", {"volume": {"size": 1, **extra}}, who=who)
    assert r.status_code == 202, r.text
    return r.json()["volume"]


async def test_a_volume_records_the_user_who_made_it(env):
    v = await _volume(env)
    assert v["user_id"] == env.ids["user_mia"]
    shown = (await env.get(f"{env.vol('mia')}/volumes/{v['id']}", who="mia")).json()["volume"]
    assert shown["user_id"] == env.ids["user_mia"]


async def test_metadata_at_create_merge_replace_and_one_key(env):
    v = await _volume(env, metadata={"a": "1", "b": "2"})
    assert v["metadata"] == {"a": "1", "b": "2"}
    url = f"{env.vol('mia')}/volumes/{v['id']}/metadata"
    r = await env.post(url, {"metadata": {"b": "3", "c": "4"}}, who="mia")
    assert r.status_code == 200 and r.json()["metadata"] == {"a": "1", "b": "3", "c": "4"}
    r = await env.http.put(url, json={"metadata": {"z": "9"}}, headers=env.h("mia"))
    assert r.status_code == 200 and r.json()["metadata"] == {"z": "9"}
    r = await env.http.put(f"{url}/y", json={"meta": {"y": "8"}}, headers=env.h("mia"))
    assert r.status_code == 200 and r.json() == {"meta": {"y": "8"}}
    assert (await env.get(f"{url}/y", who="mia")).json() == {"meta": {"y": "8"}}
    assert (await env.delete(f"{url}/z", who="mia")).status_code == 200
    assert (await env.get(f"{url}/z", who="mia")).status_code == 404
    assert (await env.delete(f"{url}/z", who="mia")).status_code == 404
    shown = (await env.get(f"{env.vol('mia')}/volumes/{v['id']}", who="mia")).json()["volume"]
    assert shown["metadata"] == {"y": "8"}


async def test_bad_metadata_is_refused_and_nothing_changes(env):
    v = await _volume(env, metadata={"keep": "me"})
    url = f"{env.vol('mia')}/volumes/{v['id']}/metadata"
    r = await env.post(url, {"metadata": {"ok": "1", "bad": 5}}, who="mia")
    assert r.status_code == 400 and "'bad'" in r.json()["badRequest"]["message"]
    r = await env.http.put(f"{url}/k", json={"meta": {"other": "1"}}, headers=env.h("mia"))
    assert r.status_code == 400 and "'k'" in r.json()["badRequest"]["message"]
    r = await env.post(f"{env.vol('mia')}/volumes", {"volume": {"size": 1, "metadata": {"k": ["x"]}}},
                       who="mia")
    assert r.status_code == 400
    assert (await env.get(url, who="mia")).json() == {"metadata": {"keep": "me"}}


async def test_metadata_of_another_project_s_volume_is_not_found(env):
    v = await _volume(env)
    url = f"{env.vol('bob')}/volumes/{v['id']}/metadata"
    assert (await env.get(url, who="bob")).status_code == 404
    assert (await env.post(url, {"metadata": {"x": "1"}}, who="bob")).status_code == 404
    r = await env.post(f"{env.vol('rita')}/volumes/{v['id']}/metadata", {"metadata": {"x": "1"}},
                       who="rita")
    assert r.status_code == 403


async def test_availability_zones_and_the_default_type(env):
    r = await env.get(f"{env.vol('mia')}/os-availability-zone", who="mia")
    assert r.json() == {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]}
    types = (await env.get(f"{env.vol('mia')}/types", who="mia")).json()["volume_types"]
    assert [t["name"] for t in types] == ["__DEFAULT__"] and "extra_specs" not in types[0]
    admin_view = (await env.get(f"{env.vol()}/types/default")).json()["volume_type"]
    assert admin_view["id"] == types[0]["id"] and admin_view["extra_specs"] == {}
    assert (await env.delete(f"{env.vol()}/types/{admin_view['id']}")).status_code == 400
    assert (await env.get(f"{env.vol()}/types/{'0' * 8}-0000-0000-0000-{'0' * 12}")).status_code == 404


async def test_admin_sees_the_host_as_cinder_names_it(env):
    v = await _volume(env)
    seen = (await env.get(f"{env.vol()}/volumes/{v['id']}")).json()["volume"]
    assert seen["os-vol-host-attr:host"] is None  # no host until first attached


async def test_put_renames_and_replaces_metadata(env):
    v = await _volume(env, name="old", metadata={"a": "1"})
    url = f"{env.vol('mia')}/volumes/{v['id']}"
    r = await env.http.put(url, json={"volume": {"name": "new", "description": "d",
                                                 "metadata": {"b": "2"}}}, headers=env.h("mia"))
    assert r.status_code == 200, r.text
    shown = (await env.get(url, who="mia")).json()["volume"]
    assert (shown["name"], shown["description"], shown["metadata"]) == ("new", "d", {"b": "2"})
    r = await env.http.put(url, json={"volume": {"size": 5}}, headers=env.h("mia"))
    assert r.status_code == 400 and "'size'" in r.json()["badRequest"]["message"]
    r = await env.http.put(url, json={"volume": {"name": "x", "metadata": {"k": 1}}}, headers=env.h("mia"))
    assert r.status_code == 400
    assert (await env.get(url, who="mia")).json()["volume"]["name"] == "new"


async def test_the_v3_document_is_a_list_of_one(env):
    body = (await env.http.get("/volume/v3")).json()
    assert [v["id"] for v in body["versions"]] == ["v3.0"]


async def test_volume_types_made_by_admins_with_extra_specs(env):
    r = await env.post(f"{env.vol('mia')}/types", {"volume_type": {"name": "nope"}}, who="mia")
    assert r.status_code == 403
    r = await env.post(f"{env.vol()}/types", {"volume_type": {
        "name": "fast", "description": "d", "extra_specs": {"speed": "high"}}})
    assert r.status_code == 200, r.text
    fast = r.json()["volume_type"]
    assert (fast["is_public"], fast["extra_specs"]) == (True, {"speed": "high"})
    assert (await env.post(f"{env.vol()}/types", {"volume_type": {"name": "fast"}})).status_code == 409
    assert (await env.post(f"{env.vol()}/types", {"volume_type": {"name": ""}})).status_code == 400
    url = f"{env.vol()}/types/{fast['id']}"
    r = await env.post(f"{url}/extra_specs", {"extra_specs": {"k": "v"}})
    assert r.json()["extra_specs"] == {"k": "v"}  # cinder answers what was given
    assert (await env.get(f"{url}/extra_specs")).json()["extra_specs"] == {"speed": "high", "k": "v"}
    assert (await env.http.put(f"{url}/extra_specs/k", json={"k": "w"}, headers=env.h())).json() == {"k": "w"}
    assert (await env.get(f"{url}/extra_specs/k")).json() == {"k": "w"}
    assert (await env.delete(f"{url}/extra_specs/k")).status_code == 202
    assert (await env.get(f"{url}/extra_specs/k")).status_code == 404
    r = await env.http.put(url, json={"volume_type": {"name": "faster", "description": "dd"}}, headers=env.h())
    assert r.status_code == 200 and r.json()["volume_type"]["name"] == "faster"
    assert "os-volume-type-access:is_public" not in r.json()["volume_type"]
    # a member sees it without the admin-only fields and makes a volume of it
    seen = (await env.get(f"{env.vol('mia')}/types/{fast['id']}", who="mia")).json()["volume_type"]
    assert seen["name"] == "faster" and "extra_specs" not in seen
    v = await _volume(env, volume_type="faster")
    assert v["volume_type"] == "faster"
    assert (await env.delete(url)).status_code == 400  # in use
    await env.delete(f"{env.vol('mia')}/volumes/{v['id']}", who="mia")
    assert (await env.delete(url)).status_code == 202
    assert (await env.get(url)).status_code == 404


async def test_a_private_type_is_for_admins_only(env):
    r = await env.post(f"{env.vol()}/types", {"volume_type": {
        "name": "secret", "os-volume-type-access:is_public": False}})
    tid = r.json()["volume_type"]["id"]
    names = [t["name"] for t in (await env.get(f"{env.vol('mia')}/types", who="mia")).json()["volume_types"]]
    assert "secret" not in names
    r = await env.post(f"{env.vol('mia')}/volumes", {"volume": {"size": 1, "volume_type": tid}}, who="mia")
    assert r.status_code == 404
    r = await env.post(f"{env.vol('mia')}/volumes", {"volume": {"size": 1, "volume_type": "no-such"}}, who="mia")
    assert r.status_code == 404


async def test_lists_sort_as_cinder_and_full_pages_link_on(env):
    made = [(await _volume(env, who="bob", name=n))["id"] for n in ("s1", "s2", "s3")]
    url = f"{env.vol('bob')}/volumes"
    ids = [v["id"] for v in (await env.get(url, who="bob")).json()["volumes"]]
    assert ids == made[::-1]  # newest first
    asc = [v["id"] for v in (await env.get(f"{url}?sort_key=name&sort_dir=asc", who="bob")).json()["volumes"]]
    assert asc == made
    byid = [v["id"] for v in (await env.get(f"{url}?sort=id:desc", who="bob")).json()["volumes"]]
    assert byid == sorted(made, reverse=True)
    assert (await env.get(f"{url}?sort_key=nope", who="bob")).status_code == 400
    last = (await env.get(f"{url}?limit=1&marker={made[1]}", who="bob")).json()
    assert [v["id"] for v in last["volumes"]] == [made[0]] and "volumes_links" in last
    after = (await env.get(f"{url}?limit=1&marker={made[0]}", who="bob")).json()
    assert after == {"volumes": []}


async def test_a_bare_json_null_body_is_a_400_not_a_500(env):
    r = await env.post(f"{env.vol()}/types", {"volume_type": {"name": "nullbody"}})
    tid = r.json()["volume_type"]["id"]
    for method, path in (("PUT", f"{env.vol()}/types/{tid}/extra_specs/spec1"),
                         ("POST", f"{env.vol()}/types/{tid}/extra_specs"),
                         ("PUT", f"{env.vol()}/types/{tid}"), ("POST", f"{env.vol()}/volumes")):
        for raw in (b"null", b"5", b'"x"'):
            r = await env.http.request(method, path, content=raw,
                                       headers=env.h(**{"Content-Type": "application/json"}))
            assert r.status_code == 400, (method, path, raw, r.text)
