"""Isolation through the API: a member of another project neither sees nor touches; a reader
sees its project but cannot change anything."""
from __future__ import annotations

import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def owned(env):
    """Things of project 'admin' made by member mia: a server, a private image, a network,
    a port, a volume."""
    r = await env.post(f"{V}/servers", {"server": {"name": "mine", "imageRef": env.ids["image"],
                                                    "flavorRef": "1"}}, who="mia")
    sid = r.json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    img = (await env.post("/image/v2/images", {"name": "secret-img"}, who="mia")).json()["id"]
    net = (await env.post("/network/v2.0/networks", {"network": {"name": "mianet"}}, who="mia")).json()["network"]["id"]
    await env.post("/network/v2.0/subnets", {"subnet": {"network_id": net, "cidr": "172.20.0.0/24"}}, who="mia")
    port = (await env.post("/network/v2.0/ports", {"port": {"network_id": net}}, who="mia")).json()["port"]["id"]
    vol = (await env.post(f"{env.vol('mia')}/volumes", {"volume": {"size": 1}}, who="mia")).json()["volume"]["id"]
    return {"server": sid, "image": img, "network": net, "port": port, "volume": vol}


async def test_other_project_sees_none_of_it(env, owned):
    assert owned["server"] not in [s["id"] for s in (await env.get(f"{V}/servers/detail", who="bob")).json()["servers"]]
    assert (await env.get(f"{V}/servers/detail?all_tenants=1", who="bob")).status_code == 403
    assert (await env.get(f"{V}/servers/{owned['server']}", who="bob")).status_code == 404
    assert (await env.get(f"{V}/servers/{owned['server']}/os-instance-actions", who="bob")).status_code == 404
    assert (await env.get(f"{V}/servers/{owned['server']}/os-pocketstack-explain", who="bob")).status_code == 404
    imgs = [i["id"] for i in (await env.get("/image/v2/images", who="bob")).json()["images"]]
    assert owned["image"] not in imgs and env.ids["image"] in imgs  # public stays visible
    assert (await env.get(f"/image/v2/images/{owned['image']}", who="bob")).status_code == 404
    nets = [n["id"] for n in (await env.get("/network/v2.0/networks", who="bob")).json()["networks"]]
    assert owned["network"] not in nets
    assert (await env.get(f"/network/v2.0/networks/{owned['network']}", who="bob")).status_code == 404
    assert (await env.get(f"/network/v2.0/ports/{owned['port']}", who="bob")).status_code == 404
    vols = (await env.get(f"{env.vol('bob')}/volumes", who="bob")).json()["volumes"]
    assert owned["volume"] not in [v["id"] for v in vols]
    assert (await env.get(f"{env.vol('bob')}/volumes/{owned['volume']}", who="bob")).status_code == 404


async def test_other_project_cannot_touch_it(env, owned):
    before = await env.state()
    sid = owned["server"]
    for body in ({"os-stop": None}, {"reboot": {"type": "HARD"}}, {"os-getConsoleOutput": {}}):
        assert (await env.post(f"{V}/servers/{sid}/action", body, who="bob")).status_code == 404
    assert (await env.delete(f"{V}/servers/{sid}", who="bob")).status_code == 404
    assert (await env.delete(f"/image/v2/images/{owned['image']}", who="bob")).status_code == 404
    assert (await env.delete(f"/network/v2.0/networks/{owned['network']}", who="bob")).status_code == 404
    assert (await env.delete(f"/network/v2.0/ports/{owned['port']}", who="bob")).status_code == 404
    assert (await env.post("/network/v2.0/ports", {"port": {"network_id": owned["network"]}},
                           who="bob")).status_code == 404
    assert (await env.delete(f"{env.vol('bob')}/volumes/{owned['volume']}", who="bob")).status_code == 404
    r = await env.post(f"{V}/servers", {"server": {"name": "x", "imageRef": owned["image"], "flavorRef": "1"}},
                       who="bob")
    assert r.status_code in (400, 404)
    assert await env.state() == before
    assert (await env.wait_status(sid, "ACTIVE", who="mia"))["id"] == sid


async def test_reader_sees_but_cannot_change(env, owned):
    before = await env.state()
    sid = owned["server"]
    assert (await env.get(f"{V}/servers/{sid}", who="rita")).status_code == 200
    assert (await env.get(f"/network/v2.0/networks/{owned['network']}", who="rita")).status_code == 200
    assert (await env.get(f"{env.vol('rita')}/volumes/{owned['volume']}", who="rita")).status_code == 200
    for body in ({"os-stop": None}, {"os-start": None}, {"reboot": {"type": "SOFT"}}):
        assert (await env.post(f"{V}/servers/{sid}/action", body, who="rita")).status_code == 403
    refused = [
        await env.delete(f"{V}/servers/{sid}", who="rita"),
        await env.post(f"{V}/os-server-groups", {"server_group": {"name": "g", "policies": ["affinity"]}}, who="rita"),
        await env.delete(f"/image/v2/images/{owned['image']}", who="rita"),
        await env.post("/network/v2.0/subnets", {"subnet": {"network_id": owned["network"],
                                                            "cidr": "172.21.0.0/24"}}, who="rita"),
        await env.post("/network/v2.0/ports", {"port": {"network_id": owned["network"]}}, who="rita"),
        await env.delete(f"/network/v2.0/ports/{owned['port']}", who="rita"),
        await env.delete(f"/network/v2.0/networks/{owned['network']}", who="rita"),
        await env.delete(f"{env.vol('rita')}/volumes/{owned['volume']}", who="rita"),
        await env.post("/identity/v3/projects", {"project": {"name": "r"}}, who="rita"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
    assert await env.state() == before
    s = await env.wait_status(sid, "ACTIVE", who="mia")
    assert s["OS-EXT-STS:vm_state"] == "active"
