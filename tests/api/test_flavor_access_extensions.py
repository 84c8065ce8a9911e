"""Nova 2.1's /extensions (the list of what exists, one by alias) and the pre-2.53
/os-hypervisors/{pattern}/servers."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


async def test_extension_list_and_one(env):
    r = await env.get(f"{V}/extensions", "bob")
    assert r.status_code == 200
    exts = {e["alias"]: e for e in r.json()["extensions"]}
    assert exts["os-hosts"]["name"] == "Hosts"
    assert set(exts["os-flavor-access"]) == {"alias", "name", "description", "links", "namespace", "updated"}
    assert "os-shelve" not in exts     # what does not exist is not announced
    r = await env.get(f"{V}/extensions/os-consoles", "bob")
    assert r.status_code == 200 and r.json()["extension"]["alias"] == "os-consoles"
    r = await env.get(f"{V}/extensions/os-shelve", "bob")
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == "Extension could not be found."


async def test_hypervisor_servers(env):
    body = {"server": {"name": "on-hyp", "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}]}}
    r = await env.post(f"{V}/servers", body, who="bob")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    host = (await env.wait_status(sid, "ACTIVE"))["OS-EXT-SRV-ATTR:host"]
    r = await env.get(f"{V}/os-hypervisors/fake/servers")
    assert r.status_code == 200, r.text
    hyps = {h["hypervisor_hostname"]: h for h in r.json()["hypervisors"]}
    assert set(hyps) == {"fake-1", "fake-2"}
    assert {"uuid": sid, "name": "on-hyp"} in hyps[host]["servers"]   # another project's server too
    assert (await env.get(f"{V}/os-hypervisors/nothing-like-it/servers")).status_code == 404
    assert (await env.get(f"{V}/os-hypervisors/fake/servers", "bob")).status_code == 403
