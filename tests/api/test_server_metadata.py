"""nova's server metadata: /servers/{id}/metadata and /metadata/{key}, persisted, project-isolated,
bad input 400 naming what is wrong, the whole set within metadata_items."""
from __future__ import annotations

import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


async def put(env, path, body, who="admin"):
    return await env.http.put(path, json=body, headers=env.h(who))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sid(env):
    body = {"server": {"name": "meta-1", "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}], "metadata": {"a": "1"}}}
    r = await env.post(f"{V}/servers", body, who="mia")
    assert r.status_code == 202, r.text
    return r.json()["server"]["id"]


async def test_merge_replace_and_items(env, sid):
    m = f"{V}/servers/{sid}/metadata"
    assert (await env.get(m, who="mia")).json() == {"metadata": {"a": "1"}}
    r = await env.post(m, {"metadata": {"b": "2", "a": "one"}}, who="mia")
    assert r.status_code == 200 and r.json() == {"metadata": {"a": "one", "b": "2"}}
    r = await put(env, m, {"metadata": {"c": "3"}}, who="mia")
    assert r.status_code == 200 and r.json() == {"metadata": {"c": "3"}}
    r = await put(env, m + "/d", {"meta": {"d": "4"}}, who="mia")
    assert r.status_code == 200 and r.json() == {"meta": {"d": "4"}}
    assert (await env.get(m + "/d", who="mia")).json() == {"meta": {"d": "4"}}
    assert (await env.delete(m + "/c", who="mia")).status_code == 204
    assert (await env.get(m + "/c", who="mia")).status_code == 404
    assert (await env.delete(m + "/c", who="mia")).status_code == 404
    # persisted: the server's own view carries it
    s = (await env.get(f"{V}/servers/{sid}", who="mia")).json()["server"]
    assert s["metadata"] == {"d": "4"}


async def test_other_project_sees_nothing(env, sid):
    m = f"{V}/servers/{sid}/metadata"
    assert (await env.get(m, who="bob")).status_code == 404
    assert (await env.post(m, {"metadata": {"x": "y"}}, who="bob")).status_code == 404
    assert (await put(env, m + "/x", {"meta": {"x": "y"}}, who="bob")).status_code == 404
    assert (await env.delete(m + "/d", who="bob")).status_code == 404
    # a reader may look but not write
    assert (await env.post(m, {"metadata": {"x": "y"}}, who="rita")).status_code == 403
    assert "x" not in (await env.get(m, who="mia")).json()["metadata"]


@pytest.mark.parametrize("path,body,method,word", [
    ("", {"metadata": {"": "v"}}, "post", "key"),
    ("", {"metadata": {"k" * 256: "v"}}, "post", "key"),
    ("", {"metadata": {"k": "v" * 256}}, "put", "'metadata.k'"),
    ("", {"metadata": {"k": 1}}, "post", "'metadata.k'"),
    ("", {"metadata": ["k"]}, "post", "'metadata'"),
    ("", {"meta": {"k": "v"}}, "post", "'metadata'"),
    ("/k", {"meta": {"j": "v"}}, "put", "mismatch"),
    ("/k", {"meta": {"k": "v", "j": "w"}}, "put", "too many"),
    ("/k", {"meta": {"k": "v" * 256}}, "put", "'meta.k'"),
])
async def test_bad_input_is_400_naming_it_and_writes_nothing(env, sid, path, body, method, word):
    m = f"{V}/servers/{sid}/metadata"
    before = (await env.get(m, who="mia")).json()
    url = m + path
    r = await (env.post(url, body, who="mia") if method == "post" else put(env, url, body, who="mia"))
    assert r.status_code == 400, r.text
    assert word in r.json()["badRequest"]["message"]
    assert (await env.get(m, who="mia")).json() == before


async def test_whole_set_counts_against_metadata_items(env, sid):
    pid = env.ids["project_admin"]
    m = f"{V}/servers/{sid}/metadata"
    r = await put(env, f"{V}/os-quota-sets/{pid}", {"quota_set": {"metadata_items": 2}})
    assert r.status_code == 200, r.text
    try:
        assert (await put(env, m, {"metadata": {"a": "1", "b": "2"}}, who="mia")).status_code == 200
        r = await env.post(m, {"metadata": {"c": "3"}}, who="mia")
        assert r.status_code == 403 and "metadata_items" in r.json()["forbidden"]["message"]
        r = await put(env, m + "/c", {"meta": {"c": "3"}}, who="mia")
        assert r.status_code == 403
        assert (await env.get(m, who="mia")).json() == {"metadata": {"a": "1", "b": "2"}}
        # replacing a key keeps the count
        assert (await put(env, m + "/a", {"meta": {"a": "9"}}, who="mia")).status_code == 200
    finally:
        await put(env, f"{V}/os-quota-sets/{pid}", {"quota_set": {"metadata_items": 128}})


async def test_missing_server_is_404(env):
    m = f"{V}/servers/00000000-0000-0000-0000-000000000000/metadata"
    assert (await env.get(m)).status_code == 404
    assert (await env.post(m, {"metadata": {"a": "b"}})).status_code == 404
