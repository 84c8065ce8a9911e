"""Glance v2: tags (at create, PUT/DELETE one, JSON patch), deactivate/reactivate, both
JSON-patch media types, GET file of a queued image, /v2/info/stores."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
I = "/image/v2"


async def _image(env, who="mia", **extra) -> dict:
    r = await env.post(f"{I}/images", {"name": "img", "disk_format": "raw",
                                       "container_format": "bare", **extra}, who=who)
    assert r.status_code == 201, r.text
    return r.json()


async def _upload(env, iid, data=b"x" * 1024, who="mia"):
    r = await env.http.put(f"{I}/images/{iid}/file", content=data,
                           headers=env.h(who, **{"Content-Type": "application/octet-stream"}))
    assert r.status_code == 204, r.text


async def test_tags_at_create_one_by_one_and_by_patch(env):
    img = await _image(env, tags=["a", "b", "a"])
    assert img["tags"] == ["a", "b"]
    url = f"{I}/images/{img['id']}"
    assert (await env.http.put(f"{url}/tags/c", headers=env.h("mia"))).status_code == 204
    assert (await env.http.put(f"{url}/tags/c", headers=env.h("mia"))).status_code == 204
    assert (await env.get(url, who="mia")).json()["tags"] == ["a", "b", "c"]
    assert (await env.delete(f"{url}/tags/a", who="mia")).status_code == 204
    assert (await env.delete(f"{url}/tags/a", who="mia")).status_code == 404
    # glance's v2.0 dialect: the operation is the key
    r = await env.http.patch(url, json=[{"replace": "/tags", "value": ["z"]}],
                             headers=env.h("mia", **{"Content-Type":
                                                     "application/openstack-images-v2.0-json-patch"}))
    assert r.status_code == 200 and r.json()["tags"] == ["z"]
    assert (await env.get(url, who="mia")).json()["tags"] == ["z"]


async def test_bad_tags_are_refused_and_others_may_not_tag(env):
    r = await env.post(f"{I}/images", {"name": "t", "tags": ["ok", 5]}, who="mia")
    assert r.status_code == 400 and "tag" in r.json()["message"]
    img = await _image(env)
    url = f"{I}/images/{img['id']}"
    r = await env.http.put(f"{url}/tags/{'x' * 256}", headers=env.h("mia"))
    assert r.status_code == 400
    assert (await env.http.put(f"{url}/tags/t", headers=env.h("bob"))).status_code == 404
    assert (await env.http.put(f"{url}/tags/t", headers=env.h("rita"))).status_code == 403
    assert (await env.get(url, who="mia")).json()["tags"] == []


async def test_deactivate_keeps_data_from_members_until_reactivated(env):
    img = await _image(env)
    url = f"{I}/images/{img['id']}"
    r = await env.post(f"{url}/actions/deactivate", who="mia")
    assert r.status_code == 400 and "queued" in r.json()["message"]  # nothing to deactivate yet
    await _upload(env, img["id"], b"data" * 100)
    assert (await env.post(f"{url}/actions/deactivate", who="mia")).status_code == 204
    assert (await env.get(url, who="mia")).json()["status"] == "deactivated"
    assert (await env.get(f"{url}/file", who="mia")).status_code == 403
    assert (await env.get(f"{url}/file")).content == b"data" * 100  # an admin still may
    assert (await env.post(f"{url}/actions/reactivate", who="bob")).status_code == 404
    assert (await env.post(f"{url}/actions/reactivate", who="mia")).status_code == 204
    assert (await env.get(url, who="mia")).json()["status"] == "active"
    assert (await env.get(f"{url}/file", who="mia")).content == b"data" * 100
    assert (await env.post(f"{url}/actions/explode", who="mia")).status_code == 404


async def test_patch_media_types_and_a_queued_image_s_file(env):
    img = await _image(env)
    url = f"{I}/images/{img['id']}"
    v21 = [{"op": "replace", "path": "/name", "value": "n1"}]
    v20 = [{"replace": "/name", "value": "n2"}]
    for ctype, body, code in (("application/openstack-images-v2.1-json-patch", v21, 200),
                              ("application/openstack-images-v2.0-json-patch", v20, 200),
                              ("application/openstack-images-v2.0-json-patch", v21, 400),
                              ("application/json", v21, 415)):
        r = await env.http.patch(url, json=body, headers=env.h("mia", **{"Content-Type": ctype}))
        assert r.status_code == code, (ctype, r.text)
    assert (await env.get(url, who="mia")).json()["name"] == "n2"
    r = await env.get(f"{url}/file", who="mia")
    assert r.status_code == 204 and r.content == b""


async def test_info_stores(env):
    r = await env.get(f"{I}/info/stores", who="mia")
    assert r.status_code == 200
    (store,) = r.json()["stores"]
    assert store["id"] == "file" and store["default"] is True


async def _ids(env, who, query=""):
    return [i["id"] for i in (await env.get(f"{I}/images{query}", who=who)).json()["images"]]


async def test_members_share_accept_reject_and_remove(env):
    img = await _image(env)  # glance's default visibility: shared
    assert img["visibility"] == "shared"
    url = f"{I}/images/{img['id']}/members"
    assert (await env.get(f"{I}/images/{img['id']}", who="bob")).status_code == 404
    r = await env.post(url, {"member": env.ids["project_bob"]}, who="mia")
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    assert (await env.post(url, {"member": env.ids["project_bob"]}, who="mia")).status_code == 409
    # pending: bob may look at it, his list does not show it until he accepts
    assert (await env.get(f"{I}/images/{img['id']}", who="bob")).status_code == 200
    assert img["id"] not in await _ids(env, "bob")
    assert img["id"] in await _ids(env, "bob", "?member_status=pending")
    mine = f"{url}/{env.ids['project_bob']}"
    r = await env.http.put(mine, json={"status": "accepted"}, headers=env.h("mia"))
    assert r.status_code == 403  # the owner does not answer for the member
    r = await env.http.put(mine, json={"status": "maybe"}, headers=env.h("bob"))
    assert r.status_code == 400 and "status" in r.json()["message"]
    r = await env.http.put(mine, json={"status": "accepted"}, headers=env.h("bob"))
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert img["id"] in await _ids(env, "bob")
    assert [m["status"] for m in (await env.get(url, who="mia")).json()["members"]] == ["accepted"]
    assert (await env.delete(mine, who="bob")).status_code == 403
    # a member cannot change the image itself
    assert (await env.http.put(f"{I}/images/{img['id']}/tags/x", headers=env.h("bob"))).status_code == 403
    assert (await env.delete(mine, who="mia")).status_code == 204
    assert (await env.get(f"{I}/images/{img['id']}", who="bob")).status_code == 404


async def test_only_shared_images_have_members(env):
    img = await _image(env, visibility="private")
    r = await env.post(f"{I}/images/{img['id']}/members", {"member": env.ids["project_bob"]}, who="mia")
    assert r.status_code == 403 and "shared" in r.json()["message"]
    assert (await env.get(f"{I}/images/{img['id']}/members", who="mia")).json()["members"] == []
    r = await env.post(f"{I}/images/{img['id']}/members", {"member": 5}, who="mia")
    assert r.status_code == 400
    for s in ("member", "members"):
        assert (await env.get(f"{I}/schemas/{s}", who="mia")).json()["name"] == s


async def test_an_empty_image_id_is_not_found(env):
    assert (await env.get(f"{I}/images/", who="mia")).status_code == 404
    assert (await env.delete(f"{I}/images/", who="mia")).status_code == 404
    assert (await env.get(f"{I}/images", who="mia")).status_code == 200
    assert (await env.delete(f"{I}/images", who="mia")).status_code == 405


async def test_owner_is_set_by_admins_only(env):
    r = await env.post(f"{I}/images", {"name": "o", "owner": env.ids["project_other"]})
    assert r.status_code == 201 and r.json()["owner"] == env.ids["project_other"], r.text
    iid = r.json()["id"]
    assert (await env.get(f"{I}/images/{iid}", who="bob")).json()["owner"] == env.ids["project_other"]
    r = await env.post(f"{I}/images", {"name": "o", "owner": env.ids["project_other"]}, who="mia")
    assert r.status_code == 403 and "owner" in r.json()["message"]
    patch = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    r = await env.http.patch(f"{I}/images/{iid}", json=[{"op": "replace", "path": "/owner",
                                                          "value": env.ids["project_admin"]}],
                             headers=env.h("bob", **patch))
    assert r.status_code == 403
    r = await env.http.patch(f"{I}/images/{iid}", json=[{"op": "replace", "path": "/owner", "value": None}],
                             headers=env.h(**patch))
    assert r.status_code == 400 and "owner" in r.json()["message"]
    r = await env.http.patch(f"{I}/images/{iid}", json=[{"op": "replace", "path": "/owner",
                                                          "value": env.ids["project_admin"]}],
                             headers=env.h(**patch))
    assert r.status_code == 200 and r.json()["owner"] == env.ids["project_admin"]
    assert (await env.get(f"{I}/images/{iid}", who="bob")).status_code == 404
