"""Server tags as nova's (microversion 2.26): /servers/{id}/tags and /tags/{tag}, the list
filters tags/tags-any/not-tags/not-tags-any, who may change them, and bad tags refused with
nothing written."""
from __future__ import annotations

import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"
MV = {"OpenStack-API-Version": "compute 2.26"}


async def call(env, method, path, who="admin", body=None, version=MV):
    return await env.http.request(method, path, json=body, headers=env.h(who, **version))


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def room(env):
    """This module boots many servers: room for them in the admin project."""
    pid = env.ids["project_admin"]
    for path, body in ((f"{V}/os-quota-sets/{pid}", {"quota_set": {"instances": 100, "cores": 100,
                                                                   "ram": 100 * 1024}}),
                       (f"/network/v2.0/quotas/{pid}", {"quota": {"port": 200}})):
        r = await env.http.put(path, json=body, headers=env.h())
        assert r.status_code == 200, r.text


async def active_server(env, name, tags=None) -> str:
    body = {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}]}}
    if tags is not None:
        body["server"]["tags"] = tags
    r = await env.http.post(f"{V}/servers", json=body,
                            headers=env.h("mia", **{"OpenStack-API-Version": "compute 2.52"}))
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    return sid


async def test_tags_need_226(env):
    sid = await active_server(env, "tags-old")
    r = await call(env, "GET", f"{V}/servers/{sid}/tags", version={"OpenStack-API-Version": "compute 2.25"})
    assert r.status_code == 404
    assert (await call(env, "GET", f"{V}/servers/{sid}/tags")).json() == {"tags": []}


async def test_tag_crud(env):
    sid = await active_server(env, "tags-crud", tags=["first"])
    t = f"{V}/servers/{sid}/tags"
    assert (await call(env, "GET", t, "mia")).json() == {"tags": ["first"]}
    r = await call(env, "PUT", t, "mia", {"tags": ["b", "a", "b"]})
    assert r.status_code == 200 and r.json() == {"tags": ["a", "b"]}
    r = await call(env, "PUT", f"{t}/c", "mia")
    assert r.status_code == 201 and r.headers["Location"].endswith(f"/servers/{sid}/tags/c")
    assert (await call(env, "PUT", f"{t}/c", "mia")).status_code == 204
    assert (await call(env, "GET", f"{t}/c", "rita")).status_code == 204      # readers may look
    assert (await call(env, "GET", f"{t}/zzz", "mia")).status_code == 404
    assert (await call(env, "DELETE", f"{t}/a", "mia")).status_code == 204
    assert (await call(env, "DELETE", f"{t}/a", "mia")).status_code == 404
    r = await call(env, "GET", f"{V}/servers/{sid}", "mia")
    assert r.json()["server"]["tags"] == ["b", "c"]
    assert (await call(env, "DELETE", t, "mia")).status_code == 204
    assert (await call(env, "GET", t, "mia")).json() == {"tags": []}


async def test_who_may_change_tags(env):
    sid = await active_server(env, "tags-who", tags=["keep"])
    t = f"{V}/servers/{sid}/tags"
    before = await env.state()
    assert (await call(env, "PUT", f"{t}/x", "rita")).status_code == 403       # reader
    assert (await call(env, "PUT", t, "rita", {"tags": []})).status_code == 403
    assert (await call(env, "DELETE", t, "rita")).status_code == 403
    for method, path, body in (("GET", t, None), ("PUT", f"{t}/x", None), ("DELETE", t, None),
                               ("PUT", t, {"tags": []})):
        assert (await call(env, method, path, "bob", body)).status_code == 404  # another project
    assert await env.state() == before


@pytest.mark.parametrize("body, why", [
    ({"tags": ["a,b"]}, "','"), ({"tags": ["x" * 61]}, "60"), ({"tags": [""]}, "60"),
    ({"tags": [str(i) for i in range(51)]}, "50"), ({"tags": "a"}, "list"), ({"tag": ["a"]}, "tags"),
])
async def test_bad_tags_refused_nothing_written(env, body, why):
    sid = await active_server(env, f"tags-bad-{len(str(body))}", tags=["keep"])
    before = await env.state()
    r = await call(env, "PUT", f"{V}/servers/{sid}/tags", "mia", body)
    assert r.status_code == 400 and why in r.json()["badRequest"]["message"], r.text
    assert await env.state() == before


async def test_fifty_tags_at_most(env):
    sid = await active_server(env, "tags-full", tags=[f"t{i}" for i in range(50)])
    before = await env.state()
    r = await call(env, "PUT", f"{V}/servers/{sid}/tags/one-more", "mia")
    assert r.status_code == 400 and "50" in r.json()["badRequest"]["message"]
    assert await env.state() == before
    assert (await call(env, "PUT", f"{V}/servers/{sid}/tags/t0", "mia")).status_code == 204


async def test_list_filters(env):
    ids = {name: await active_server(env, f"tagf-{name}", tags)
           for name, tags in (("ab", ["fa", "fb"]), ("a", ["fa"]), ("b", ["fb"]), ("none", []))}

    async def names(query, version=MV):
        r = await call(env, "GET", f"{V}/servers?name=^tagf-&{query}", "mia", version=version)
        assert r.status_code == 200, r.text
        return sorted(s["name"][5:] for s in r.json()["servers"])

    assert await names("tags=fa,fb") == ["ab"]
    assert await names("tags=fa") == ["a", "ab"]
    assert await names("tags-any=fa,fb") == ["a", "ab", "b"]
    assert await names("not-tags=fa,fb") == ["a", "b", "none"]
    assert await names("not-tags-any=fa,fb") == ["none"]
    assert await names("tags=fa&not-tags-any=fb") == ["a"]
    # before 2.26 nova knows no tag filters (and ignores them)
    assert await names("tags=fa,fb", {"OpenStack-API-Version": "compute 2.25"}) == ["a", "ab", "b", "none"]
    assert set(ids.values()) <= {s["id"] for s in (await call(env, "GET", f"{V}/servers", "mia")).json()["servers"]}


async def test_tags_of_a_deleted_server_go_with_it(env):
    sid = await active_server(env, "tags-gone", tags=["bye"])
    assert (await env.delete(f"{V}/servers/{sid}", who="mia")).status_code == 204
    await env.cloud.rt.bus.drain(10)
    assert (await call(env, "GET", f"{V}/servers/{sid}/tags", "mia")).status_code == 404
