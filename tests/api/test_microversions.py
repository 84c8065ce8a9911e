"""Compute microversions 2.1-2.52 as nova negotiates them (headers, latest, 406/400) and what
each changes that pocketstack has: the server view (2.3, 2.9, 2.16, 2.19, 2.26, 2.47), the
create body (adminPass, device tags 2.32/2.42, networks 2.37, description 2.19, tags 2.52),
the status filter (2.38) and the APIs nova removed (2.36, 2.43)."""
from __future__ import annotations

import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


def mv(version: str) -> dict:
    return {"OpenStack-API-Version": f"compute {version}"}


async def call(env, method, path, version="2.1", who="admin", body=None):
    return await env.http.request(method, path, json=body, headers=env.h(who, **mv(version)))


def server_body(env, name, **extra) -> dict:
    return {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}], **extra}}


async def boot(env, name, version="2.1", who="admin", **extra) -> dict:
    r = await call(env, "POST", f"{V}/servers", version, who, server_body(env, name, **extra))
    assert r.status_code == 202, r.text
    return r.json()["server"]


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def room(env):
    """This module boots many servers: room for them in the admin project."""
    r = await call(env, "PUT", f"{V}/os-quota-sets/{env.ids['project_admin']}", body={"quota_set": {
        "instances": 200, "cores": 400, "ram": 200 * 1024}})
    assert r.status_code == 200, r.text
    r = await env.http.put(f"/network/v2.0/quotas/{env.ids['project_admin']}", headers=env.h(),
                           json={"quota": {"port": 500}})
    assert r.status_code == 200, r.text
    r = await env.http.put(f"{env.vol()}/os-quota-sets/{env.ids['project_admin']}", headers=env.h(),
                           json={"quota_set": {"volumes": 100, "gigabytes": 1000}})
    assert r.status_code == 200, r.text


async def test_version_document_offers_the_range(env):
    v = (await env.http.get("/compute")).json()["versions"][0]
    assert (v["min_version"], v["version"]) == ("2.1", "2.52")
    v = (await env.http.get(f"{V}/")).json()["version"]
    assert (v["min_version"], v["version"]) == ("2.1", "2.52")


@pytest.mark.parametrize("headers, served", [
    ({}, "2.1"),
    (mv("2.26"), "2.26"),
    ({"X-OpenStack-Nova-API-Version": "2.19"}, "2.19"),
    (mv("latest"), "2.52"),
    ({"X-OpenStack-Nova-API-Version": "2.3", **mv("2.47")}, "2.47"),   # the new header wins
    ({"OpenStack-API-Version": "volume 3.5, compute 2.9"}, "2.9"),
])
async def test_negotiation_and_response_headers(env, headers, served):
    r = await env.http.get(f"{V}/flavors", headers=env.h(**headers))
    assert r.status_code == 200, r.text
    assert r.headers["OpenStack-API-Version"] == f"compute {served}"
    assert r.headers["X-OpenStack-Nova-API-Version"] == served
    assert {p.strip() for p in r.headers["Vary"].split(",")} == {"OpenStack-API-Version",
                                                                 "X-OpenStack-Nova-API-Version"}


@pytest.mark.parametrize("asked, code", [("2.53", 406), ("3.0", 406), ("2.0", 406), ("1.1", 406),
                                         ("2.x", 400), ("2.01", 400), ("two", 400)])
async def test_out_of_range_is_406_and_malformed_400(env, asked, code):
    r = await env.http.get(f"{V}/flavors", headers=env.h(**mv(asked)))
    assert r.status_code == code, r.text
    if code == 406:
        assert r.json()["notAcceptable"]["message"] == (
            f"Version {asked} is not supported by the API. Minimum is 2.1 and maximum is 2.52.")
    else:
        assert asked in r.json()["badRequest"]["message"]


async def test_server_view_grows_with_the_microversion(env):
    sid = (await boot(env, "mv-view", "2.52", description="the web tier", tags=["web", "prod"]))["id"]
    await env.wait_status(sid, "ACTIVE")

    async def show(version, who="admin"):
        r = await call(env, "GET", f"{V}/servers/{sid}", version, who)
        assert r.status_code == 200, r.text
        return r.json()["server"]

    s = await show("2.1")
    assert not {"locked", "description", "tags", "host_status", "OS-EXT-SRV-ATTR:hostname"} & set(s)
    assert set(s["flavor"]) == {"id", "links"}
    assert s["os-extended-volumes:volumes_attached"] == []
    s = await show("2.3")
    assert s["OS-EXT-SRV-ATTR:hostname"] == "mv-view" and s["OS-EXT-SRV-ATTR:launch_index"] == 0
    assert s["OS-EXT-SRV-ATTR:reservation_id"].startswith("r-")
    assert s["OS-EXT-SRV-ATTR:root_device_name"] == "/dev/vda"
    assert "OS-EXT-SRV-ATTR:hostname" not in await show("2.3", who="mia")  # admins only
    assert (await show("2.9"))["locked"] is False
    assert (await show("2.16"))["host_status"] == "UP"
    assert "host_status" not in await show("2.16", who="mia")
    assert (await show("2.19", who="mia"))["description"] == "the web tier"
    assert "tags" not in await show("2.25")
    assert (await show("2.26", who="mia"))["tags"] == ["prod", "web"]
    s = await show("2.47", who="mia")
    assert s["flavor"] == {"vcpus": 1, "ram": 128, "disk": 1, "ephemeral": 0, "swap": 0,
                           "original_name": "m1.nano", "extra_specs": {}}
    r = await call(env, "GET", f"{V}/servers/detail", "2.47", "mia")
    (mine,) = [x for x in r.json()["servers"] if x["id"] == sid]
    assert mine["tags"] == ["prod", "web"] and mine["flavor"]["original_name"] == "m1.nano"


async def test_multi_create_launch_index(env):
    r = await call(env, "POST", f"{V}/servers", "2.3", "admin",
                   server_body(env, "mv-multi", min_count=2, max_count=2, return_reservation_id=True))
    rid = r.json()["reservation_id"]
    r = await call(env, "GET", f"{V}/servers/detail?reservation_id={rid}", "2.3")
    assert sorted(s["OS-EXT-SRV-ATTR:launch_index"] for s in r.json()["servers"]) == [0, 1]


async def test_create_answers_an_admin_password_kept_nowhere(env):
    made = await boot(env, "mv-pass")
    generated = made["adminPass"]
    assert isinstance(generated, str) and len(generated) == 12
    given = await boot(env, "mv-pass-given", adminPass="s3cret-Pa55-word")
    assert given["adminPass"] == "s3cret-Pa55-word"
    rt = env.cloud.rt
    await rt.bus.drain(10)
    for (table,) in rt.db.conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        for row in rt.db.conn.execute(f"SELECT * FROM {table}"):
            assert not any(isinstance(c, str) and ("s3cret-Pa55-word" in c or generated in c) for c in row), table
    r = await call(env, "POST", f"{V}/servers", "2.1", "admin", server_body(env, "x", adminPass=5))
    assert r.status_code == 400 and "adminPass" in r.text


@pytest.mark.parametrize("field, value, since", [("description", "a box", "2.19"), ("tags", ["a"], "2.52")])
async def test_create_fields_arrive_with_their_microversion(env, field, value, since):
    before = f"2.{int(since.split('.')[1]) - 1}"
    r = await call(env, "POST", f"{V}/servers", before, "admin", server_body(env, "mv-f", **{field: value}))
    assert r.status_code == 400 and field in r.json()["badRequest"]["message"]
    r = await call(env, "POST", f"{V}/servers", since, "admin", server_body(env, "mv-f", **{field: value}))
    assert r.status_code == 202, r.text


async def test_empty_tags_at_252_as_ansible_sends_them(env):
    r = await call(env, "POST", f"{V}/servers", "2.52", "admin", server_body(env, "mv-ansible", tags=[]))
    assert r.status_code == 202, r.text


@pytest.mark.parametrize("tags, why", [(["a,b"], "','"), (["x" * 61], "60"), ([str(i) for i in range(51)], "50"),
                                       ("web", "list"), ([7], "string")])
async def test_bad_tags_at_create_are_refused_and_nothing_written(env, tags, why):
    before = await env.state()
    r = await call(env, "POST", f"{V}/servers", "2.52", "admin", server_body(env, "mv-badtags", tags=tags))
    assert r.status_code == 400 and why in r.json()["badRequest"]["message"], r.text
    assert await env.state() == before


async def test_networks_required_from_237(env):
    body = server_body(env, "mv-nonet")
    del body["server"]["networks"]
    r = await call(env, "POST", f"{V}/servers", "2.37", "admin", body)
    assert r.status_code == 400 and "networks" in r.json()["badRequest"]["message"]
    r = await call(env, "POST", f"{V}/servers", "2.36", "admin", body)
    assert r.status_code == 202, r.text
    body["server"]["networks"] = "none"
    r = await call(env, "POST", f"{V}/servers", "2.37", "admin", body)
    assert r.status_code == 202, r.text


@pytest.mark.parametrize("version, ok", [("2.31", False), ("2.32", True), ("2.36", True), ("2.37", False),
                                         ("2.41", False), ("2.42", True)])
async def test_network_device_tags(env, version, ok):
    body = server_body(env, "mv-devtag")
    body["server"]["networks"][0]["tag"] = "nic1"
    r = await call(env, "POST", f"{V}/servers", version, "admin", body)
    assert r.status_code == (202 if ok else 400), r.text


@pytest.mark.parametrize("version, ok", [("2.31", False), ("2.32", True), ("2.33", False), ("2.42", True)])
async def test_block_device_tags(env, version, ok):
    body = server_body(env, "mv-bdmtag", block_device_mapping_v2=[{
        "boot_index": 0, "uuid": env.ids["image"], "source_type": "image", "destination_type": "volume",
        "volume_size": 1, "tag": "root"}])
    r = await call(env, "POST", f"{V}/servers", version, "admin", body)
    assert r.status_code == (202 if ok else 400), r.text


async def test_unknown_status_filter_is_400_from_238(env):
    r = await call(env, "GET", f"{V}/servers?status=SLEEPY", "2.37")
    assert r.status_code == 200 and r.json()["servers"] == []
    r = await call(env, "GET", f"{V}/servers?status=SLEEPY", "2.38")
    assert r.status_code == 400 and "status" in r.json()["badRequest"]["message"]


async def test_description_update(env):
    sid = (await boot(env, "mv-desc"))["id"]
    await env.wait_status(sid, "ACTIVE")
    r = await call(env, "PUT", f"{V}/servers/{sid}", "2.1", body={"server": {"description": "d"}})
    assert r.status_code == 400 and "description" in r.text
    r = await call(env, "PUT", f"{V}/servers/{sid}", "2.19", body={"server": {"description": "now this"}})
    assert r.status_code == 200 and r.json()["server"]["description"] == "now this"
    assert r.json()["server"]["locked"] is False
    r = await call(env, "PUT", f"{V}/servers/{sid}", "2.19", body={"server": {"description": "x" * 256}})
    assert r.status_code == 400 and "255" in r.text
    r = await call(env, "PUT", f"{V}/servers/{sid}", "2.19", body={"server": {"description": None}})
    assert r.status_code == 200 and r.json()["server"]["description"] is None
    assert (await call(env, "GET", f"{V}/servers/{sid}", "2.19")).json()["server"]["description"] is None


@pytest.mark.parametrize("path, gone_at", [("/images", "2.36"), ("/os-hosts", "2.43")])
async def test_apis_nova_removed_are_404(env, path, gone_at):
    before = f"2.{int(gone_at.split('.')[1]) - 1}"
    assert (await call(env, "GET", V + path, before)).status_code == 200
    r = await call(env, "GET", V + path, gone_at)
    assert r.status_code == 404 and "itemNotFound" in r.json()
