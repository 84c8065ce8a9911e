"""What every client relies on: trailing slashes, error shapes per service, 404/405 on
unknown paths, request ids and version headers."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_trailing_slashes_are_tolerated(env):
    r = await env.get("/compute/v2.1/servers/")
    assert r.status_code == 200 and "servers" in r.json()
    r = await env.post("/network/v2.0/networks/", {"network": {"name": "slash"}})
    assert r.status_code == 201
    assert (await env.delete(f"/network/v2.0/networks/{r.json()['network']['id']}/")).status_code == 204
    assert (await env.http.get("/image/")).status_code == 300  # glance's version list


@pytest.mark.parametrize("path,key", [
    ("/compute/v2.1/nothing-here", "itemNotFound"),
    ("/volume/v3/nothing/here/at/all", "itemNotFound"),
    ("/network/v2.0/nothing-here", "NeutronError"),
    ("/identity/v3/nothing-here", "error"),
])
async def test_unknown_paths_answer_404_in_the_service_shape(env, path, key):
    r = await env.get(path)
    assert r.status_code == 404 and key in r.json()


async def test_glance_errors_and_405(env):
    r = await env.get("/image/v2/images/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404 and r.json()["code"] == 404 and r.json()["message"]
    r = await env.http.put("/compute/v2.1/servers", headers=env.h())
    assert r.status_code == 405 and r.json()["badMethod"]["message"]


async def test_request_id_and_version_headers(env):
    r = await env.get(f"{env.vol()}/volumes")
    assert r.headers["x-openstack-request-id"].startswith("req-")
    assert r.headers["openstack-api-version"] == "volume 3.0"
    r = await env.http.get(f"{env.vol()}/volumes", headers=env.h(**{"OpenStack-API-Version": "volume 3.60"}))
    assert r.status_code == 406


async def test_401_names_keystone(env):
    r = await env.http.get("/compute/v2.1/servers")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Keystone uri="http://pocketstack.test/identity"'
