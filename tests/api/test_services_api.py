"""Glance v2, Neutron v2.0 and Cinder v3 through the REST API."""
from __future__ import annotations

import hashlib
import os

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
PATCH = "application/openstack-images-v2.1-json-patch"


async def test_image_versions(env):
    r = await env.http.get("/image")
    assert r.json()["versions"][0]["status"] == "CURRENT"
    assert r.json()["versions"][0]["links"][0]["href"] == "http://pocketstack.test/image/v2/"


async def test_image_create_upload_download_patch_delete(env):
    data = os.urandom(300_000)
    r = await env.post("/image/v2/images", {"name": "blob", "disk_format": "raw",
                                            "container_format": "bare", "architecture": "x86_64",
                                            "min_ram": 64})
    assert r.status_code == 201, r.text
    img = r.json()
    assert img["status"] == "queued" and img["architecture"] == "x86_64"
    assert img["file"] == f"/v2/images/{img['id']}/file"

    async def chunks():  # streamed upload, several chunks
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]
    r = await env.http.put(f"/image/v2/images/{img['id']}/file", content=chunks(),
                           headers=env.h(**{"Content-Type": "application/octet-stream"}))
    assert r.status_code == 204, r.text
    got = (await env.get(f"/image/v2/images/{img['id']}")).json()
    assert got["status"] == "active" and got["size"] == len(data)
    assert got["os_hash_algo"] == "sha256" and got["os_hash_value"] == hashlib.sha256(data).hexdigest()
    assert got["checksum"] == hashlib.md5(data).hexdigest()
    r = await env.get(f"/image/v2/images/{img['id']}/file")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-MD5"] == got["checksum"]
    r = await env.http.patch(f"/image/v2/images/{img['id']}", json=[
        {"op": "replace", "path": "/name", "value": "blob2"},
        {"op": "add", "path": "/hypervisor_type", "value": "qemu"},
        {"op": "remove", "path": "/architecture"}], headers=env.h(**{"Content-Type": PATCH}))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "blob2" and r.json()["hypervisor_type"] == "qemu"
    assert "architecture" not in r.json()
    # names are not ids; ?name= finds
    assert (await env.get("/image/v2/images/blob2")).status_code == 404
    assert [i["id"] for i in (await env.get("/image/v2/images?name=blob2")).json()["images"]] == [img["id"]]
    assert (await env.delete(f"/image/v2/images/{img['id']}")).status_code == 204
    assert (await env.get(f"/image/v2/images/{img['id']}")).status_code == 404


async def test_image_list_pagination_and_in_filter(env):
    ids = []
    for i in range(3):
        ids.append((await env.post("/image/v2/images", {"name": f"pg-{i}"})).json()["id"])
    r = await env.get("/image/v2/images?limit=2")
    body = r.json()
    assert len(body["images"]) == 2 and body["next"].startswith("/v2/images?")
    seen = [i["id"] for i in body["images"]]
    while "next" in body:
        body = (await env.get("/image" + body["next"])).json()
        seen += [i["id"] for i in body["images"]]
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    r = await env.get(f"/image/v2/images?id=in:{ids[0]},{ids[2]}")
    assert sorted(i["id"] for i in r.json()["images"]) == sorted([ids[0], ids[2]])
    for i in ids:
        await env.delete(f"/image/v2/images/{i}")


async def test_networks_subnets_ports(env):
    r = await env.get("/network")
    assert r.json()["versions"][0]["id"] == "v2.0"
    r = await env.post("/network/v2.0/networks", {"network": {"name": "blue", "admin_state_up": True}},
                       who="mia")
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    assert net["status"] == "ACTIVE" and net["project_id"] == env.ids["project_admin"]
    r = await env.post("/network/v2.0/subnets", {"subnet": {"name": "blue-sub", "network_id": net["id"],
                                                             "cidr": "192.168.50.0/24",
                                                             "ip_version": 4}}, who="mia")
    assert r.status_code == 201, r.text
    sub = r.json()["subnet"]
    assert sub["gateway_ip"] == "192.168.50.1" and sub["allocation_pools"]
    r = await env.post("/network/v2.0/ports", {"port": {"network_id": net["id"], "name": "p1"}}, who="mia")
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert port["mac_address"].startswith("fa:16:3e") and port["fixed_ips"][0]["subnet_id"] == sub["id"]
    assert (await env.get("/network/v2.0/networks/blue", who="mia")).status_code == 404
    r = await env.get("/network/v2.0/networks?name=blue", who="mia")
    assert [n["id"] for n in r.json()["networks"]] == [net["id"]]
    r = await env.get(f"/network/v2.0/ports?network_id={net['id']}&fields=id&fields=mac_address", who="mia")
    assert r.json()["ports"] == [{"id": port["id"], "mac_address": port["mac_address"]}]
    r = await env.get(f"/network/v2.0/subnets/{sub['id']}", who="mia")
    assert r.json()["subnet"]["cidr"] == "192.168.50.0/24"
    # in use: conflict, in neutron's error shape
    r = await env.delete(f"/network/v2.0/networks/{net['id']}", who="mia")
    assert r.status_code == 409 and r.json()["NeutronError"]["message"]
    assert (await env.delete(f"/network/v2.0/ports/{port['id']}", who="mia")).status_code == 204
    assert (await env.delete(f"/network/v2.0/subnets/{sub['id']}", who="mia")).status_code == 204
    assert (await env.delete(f"/network/v2.0/networks/{net['id']}", who="mia")).status_code == 204
    r = await env.get(f"/network/v2.0/networks/{net['id']}", who="mia")
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "NotFound"


async def test_volumes(env):
    r = await env.http.get("/volume")
    assert r.json()["versions"][0]["id"] == "v3.0"
    r = await env.post(f"{env.vol('mia')}/volumes", {"volume": {"size": 1, "name": "data",
                                                                 "volume_type": None, "imageRef": None}},
                       who="mia")
    assert r.status_code == 202, r.text
    v = r.json()["volume"]
    assert v["size"] == 1 and v["name"] == "data" and v["bootable"] == "false"
    r = await env.get(f"{env.vol('mia')}/volumes", who="mia")
    assert v["id"] in [x["id"] for x in r.json()["volumes"]]
    r = await env.get(f"{env.vol('mia')}/volumes/detail", who="mia")
    assert next(x for x in r.json()["volumes"] if x["id"] == v["id"])["status"] in ("available", "creating")
    assert (await env.get(f"{env.vol('mia')}/volumes/data", who="mia")).status_code == 404
    # the project-less form (cinder 3.67+) answers too
    assert (await env.get(f"/volume/v3/volumes/{v['id']}", who="mia")).status_code == 200
    lim = (await env.get(f"{env.vol('mia')}/limits", who="mia")).json()["limits"]["absolute"]
    assert lim["totalVolumesUsed"] >= 1 and lim["totalGigabytesUsed"] >= 1
    assert (await env.delete(f"{env.vol('mia')}/volumes/{v['id']}", who="mia")).status_code == 202
    r = await env.get(f"{env.vol('mia')}/volumes/{v['id']}", who="mia")
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404


async def test_quota_sets_of_own_project_only(env):
    pid = env.ids["project_admin"]
    q = (await env.get(f"/compute/v2.1/os-quota-sets/{pid}/detail", who="mia")).json()["quota_set"]
    assert q["instances"]["limit"] >= 1 and q["instances"]["in_use"] >= 0
    assert (await env.get(f"/compute/v2.1/os-quota-sets/{pid}", who="bob")).status_code == 403
    v = (await env.get(f"{env.vol('mia')}/os-quota-sets/{pid}?usage=true", who="mia")).json()["quota_set"]
    assert v["volumes"]["limit"] == 10 and v["gigabytes"]["limit"] == 1000
    n = (await env.get(f"/network/v2.0/quotas/{pid}", who="mia")).json()["quota"]
    assert n["network"] == 100 and n["port"] == 500
