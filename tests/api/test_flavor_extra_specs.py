"""nova's /flavors/{id}/os-extra_specs: set (merged, admins), shown, one key read, replaced and
removed; bad keys and bodies 400 naming what is wrong, members 403, nothing half-written."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
F = "/compute/v2.1/flavors"


async def _flavor(env, name: str) -> str:
    r = await env.post(F, {"flavor": {"name": name, "ram": 64, "vcpus": 1, "disk": 1}})
    assert r.status_code == 200, r.text
    return r.json()["flavor"]["id"]


async def test_extra_specs_set_merged_shown_per_key_and_removed(env):
    fid = await _flavor(env, "xs.1")
    url = f"{F}/{fid}/os-extra_specs"
    assert (await env.get(url)).json() == {"extra_specs": {}}
    r = await env.post(url, {"extra_specs": {"hw:cpu_policy": "shared", "quota:disk_read_bytes_sec": 10240}})
    # nova answers what was given, values as strings
    assert r.status_code == 200 and r.json() == {"extra_specs": {"hw:cpu_policy": "shared",
                                                                 "quota:disk_read_bytes_sec": "10240"}}
    r = await env.post(url, {"extra_specs": {"hw:mem_page_size": "large"}})
    assert r.json() == {"extra_specs": {"hw:mem_page_size": "large"}}
    assert (await env.get(url)).json()["extra_specs"] == {
        "hw:cpu_policy": "shared", "quota:disk_read_bytes_sec": "10240", "hw:mem_page_size": "large"}
    assert (await env.get(f"{url}/hw:cpu_policy")).json() == {"hw:cpu_policy": "shared"}
    r = await env.http.put(f"{url}/hw:cpu_policy", json={"hw:cpu_policy": "dedicated"}, headers=env.h())
    assert r.status_code == 200 and r.json() == {"hw:cpu_policy": "dedicated"}
    r = await env.delete(f"{url}/hw:mem_page_size")
    assert r.status_code == 200
    assert (await env.get(url)).json()["extra_specs"] == {"hw:cpu_policy": "dedicated",
                                                          "quota:disk_read_bytes_sec": "10240"}
    r = await env.get(f"{url}/hw:mem_page_size")
    assert r.status_code == 404 and "has no extra specs with key hw:mem_page_size" in r.text
    assert (await env.delete(f"{url}/hw:mem_page_size")).status_code == 404
    # members read them, may not change them
    assert (await env.get(url, who="mia")).json()["extra_specs"]["hw:cpu_policy"] == "dedicated"
    assert (await env.post(url, {"extra_specs": {"a": "b"}}, who="mia")).status_code == 403
    assert (await env.delete(f"{url}/hw:cpu_policy", who="mia")).status_code == 403
    assert (await env.delete(f"{F}/{fid}")).status_code == 202
    assert (await env.get(url)).status_code == 404


@pytest.mark.parametrize("body,named", [
    # a good pair beside the bad one: nothing of the request is kept
    ({"extra_specs": {"fine": "1", "bad/key": "v"}}, "bad/key"),
    ({"extra_specs": {"fine": "1", "k": "v" * 256}}, "'k'"),
    ({"extra_specs": {"fine": "1", "k": ["v"]}}, "'k'"),
    ({"extra_specs": ["k"]}, "extra_specs"),
    ({"specs": {"k": "v"}}, "extra_specs"),
])
async def test_bad_extra_specs_400_naming_what_is_wrong_and_nothing_written(env, body, named):
    fid = await _flavor(env, f"xs.bad.{named.strip(chr(39)).replace('/', '')}.{len(str(body))}")
    url = f"{F}/{fid}/os-extra_specs"
    assert (await env.post(url, {"extra_specs": {"good": "1"}})).status_code == 200
    r = await env.post(url, body)
    assert r.status_code == 400 and named in r.json()["badRequest"]["message"], r.text
    assert (await env.get(url)).json()["extra_specs"] == {"good": "1"}
    await env.delete(f"{F}/{fid}")


async def test_put_of_one_key_must_name_the_key_of_the_url(env):
    fid = await _flavor(env, "xs.put")
    url = f"{F}/{fid}/os-extra_specs"
    r = await env.http.put(f"{url}/a", json={"b": "1"}, headers=env.h())
    assert r.status_code == 400 and "Request body and URI mismatch" in r.text
    r = await env.http.put(f"{url}/a", json={"a": "1", "b": "2"}, headers=env.h())
    assert r.status_code == 400 and "too many items" in r.text
    assert (await env.get(f"{F}/{fid}/os-extra_specs")).json()["extra_specs"] == {}
    assert (await env.get(f"{F}/no-such-flavor/os-extra_specs")).status_code == 404
    await env.delete(f"{F}/{fid}")
