"""pause/unpause, suspend/resume and rebuild over the REST API on fake hosts: nova's states
and status codes, the refusals of backend.core.actions' rule, and what rebuild keeps (id,
ports, volumes, flavor) and changes (image, name, metadata)."""
from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def room(env):
    pid = env.ids["project_admin"]
    for path, body in ((f"{V}/os-quota-sets/{pid}", {"quota_set": {"instances": 100, "cores": 100,
                                                                   "ram": 100 * 1024}}),
                       (f"/network/v2.0/quotas/{pid}", {"quota": {"port": 200}})):
        r = await env.http.put(path, json=body, headers=env.h())
        assert r.status_code == 200, r.text
    r = await env.post("/image/v2/images", {"name": "other-image", "disk_format": "raw",
                                            "container_format": "bare", "visibility": "public"})
    env.ids["image2"] = r.json()["id"]
    r = await env.http.put(f"/image/v2/images/{env.ids['image2']}/file", content=b"\1" * 4096,
                           headers=env.h(**{"Content-Type": "application/octet-stream"}))
    assert r.status_code == 204, r.text


async def active(env, name) -> str:
    r = await env.post(f"{V}/servers", {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1",
                                                   "networks": [{"uuid": env.ids["network"]}]}}, who="mia")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    return sid


async def act(env, sid, body, who="mia"):
    return await env.post(f"{V}/servers/{sid}/action", body, who=who)


@pytest.mark.parametrize("go, back, status, power", [("pause", "unpause", "PAUSED", 3),
                                                     ("suspend", "resume", "SUSPENDED", 7)])
async def test_there_and_back(env, go, back, status, power):
    sid = await active(env, f"{go}-me")
    r = await act(env, sid, {go: None})
    assert r.status_code == 202 and r.content == b""
    s = await env.wait_status(sid, status, who="mia")
    assert s["OS-EXT-STS:vm_state"] == status.lower() and s["OS-EXT-STS:power_state"] == power
    # nova's check_instance_state: 409 naming the action and the state
    r = await act(env, sid, {go: None})
    assert r.status_code == 409 and f"Cannot '{go}' instance {sid} while it is in vm_state" in r.text
    assert (await act(env, sid, {"os-stop": None})).status_code == 409
    r = await act(env, sid, {back: None})
    assert r.status_code == 202
    s = await env.wait_status(sid, "ACTIVE", who="mia")
    assert s["OS-EXT-STS:power_state"] == 1
    assert (await act(env, sid, {back: None})).status_code == 409
    events = (await env.get(f"{V}/servers/{sid}/os-instance-actions", "mia")).json()["instanceActions"]
    assert [a["action"] for a in events][:2] == [back, go]


async def test_readers_and_missing_servers(env):
    sid = await active(env, "not-yours")
    assert (await act(env, sid, {"pause": None}, who="rita")).status_code == 403
    assert (await act(env, sid, {"pause": None}, who="bob")).status_code == 404
    missing = "7b4e3c1a-0000-4000-8000-000000000000"
    for body in ({"pause": None}, {"resume": None}, {"rebuild": {"imageRef": env.ids["image"]}}):
        assert (await act(env, missing, body)).status_code == 404


async def test_rebuild_keeps_the_server_and_changes_its_image(env):
    sid = await active(env, "rebuild-me")
    before = (await env.get(f"{V}/servers/{sid}", "mia")).json()["server"]
    r = await act(env, sid, {"rebuild": {"imageRef": env.ids["image2"], "name": "rebuilt",
                                         "metadata": {"rebuild": "server"}, "adminPass": "rebuildPassw0rd"}})
    assert r.status_code == 202, r.text
    s = r.json()["server"]
    assert s["id"] == sid and s["image"]["id"] == env.ids["image2"] and s["adminPass"] == "rebuildPassw0rd"
    assert s["status"] == "REBUILD" and "OS-EXT-STS:task_state" not in s
    after = await env.wait_status(sid, "ACTIVE", who="mia")
    assert after["name"] == "rebuilt" and after["metadata"] == {"rebuild": "server"}
    assert after["image"]["id"] == env.ids["image2"] and after["addresses"] == before["addresses"]
    assert after["flavor"] == before["flavor"]
    log = (await env.http.post(f"{V}/servers/{sid}/action", json={"os-getConsoleOutput": {}},
                               headers=env.h("mia"))).json()["output"]
    assert log.count("pocketstack guest booted") == 1      # a new guest: the old console is gone
    acts = (await env.get(f"{V}/servers/{sid}/os-instance-actions", "mia")).json()["instanceActions"]
    assert acts[0]["action"] == "rebuild"
    r = await act(env, sid, {"rebuild": {"imageRef": env.ids["image"]}})
    assert r.status_code == 202 and len(r.json()["server"]["adminPass"]) >= 8


async def test_rebuild_passes_through_nova_task_states(env):
    sid = await active(env, "rebuild-states")
    fake = env.cloud.rt.computes[(await env.get(f"{V}/servers/{sid}")).json()["server"]["OS-EXT-SRV-ATTR:host"]].driver
    seen = []
    spawn = fake.spawn

    async def watching_spawn(spec):
        seen.append((await env.get(f"{V}/servers/{sid}")).json()["server"]["OS-EXT-STS:task_state"])
        await spawn(spec)
    fake.spawn = watching_spawn
    try:
        assert (await act(env, sid, {"rebuild": {"imageRef": env.ids["image2"]}})).status_code == 202
        await env.wait_status(sid, "ACTIVE", who="mia")
    finally:
        fake.spawn = spawn
    assert seen == ["rebuild_spawning"]


async def test_a_stopped_server_is_rebuilt_stopped_and_keeps_its_volume(env):
    sid = await active(env, "rebuild-stopped")
    r = await env.post("/volume/v3/" + env.ids["project_mia"] + "/volumes", {"volume": {"size": 1, "name": "data"}},
                       who="mia")
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    for _ in range(200):
        if (await env.get(f"/volume/v3/{env.ids['project_mia']}/volumes/{vid}", "mia")).json()["volume"][
                "status"] == "available":
            break
        await asyncio.sleep(0.02)
    r = await env.post(f"{V}/servers/{sid}/os-volume_attachments", {"volumeAttachment": {"volumeId": vid}},
                       who="mia")
    assert r.status_code == 200, r.text
    assert (await act(env, sid, {"os-stop": None})).status_code == 202
    await env.wait_status(sid, "SHUTOFF", who="mia")
    assert (await act(env, sid, {"rebuild": {"imageRef": env.ids["image2"]}})).status_code == 202
    s = await env.wait_status(sid, "SHUTOFF", who="mia")
    assert s["image"]["id"] == env.ids["image2"]
    assert [v["id"] for v in s["os-extended-volumes:volumes_attached"]] == [vid]
    host = (await env.get(f"{V}/servers/{sid}")).json()["server"]["OS-EXT-SRV-ATTR:host"]
    guest = env.cloud.rt.computes[host].driver.guests[sid]
    assert [v["volume_id"] for v in guest.spec.volumes] == [vid]
    r = await env.http.delete(f"{V}/servers/{sid}/os-volume_attachments/{vid}", headers=env.h("mia"))
    assert r.status_code == 202, r.text


@pytest.mark.parametrize("body, code, text", [
    ({"rebuild": {}}, 400, "imageRef"),
    ({"rebuild": {"imageRef": "no-such-image"}}, 400, "Cannot find image for rebuild"),
    ({"rebuild": {"imageRef": "IMAGE", "bogus": 1}}, 400, "bogus"),
    ({"rebuild": {"imageRef": "IMAGE", "metadata": {"k": 1}}}, 400, "metadata"),
    ({"rebuild": {"imageRef": "IMAGE", "name": ""}}, 400, "name"),
    ({"rebuild": {"imageRef": "IMAGE", "personality": [{"path": "/x", "contents": ""}]}}, 400, "personality"),
])
async def test_bad_rebuilds_change_nothing(env, body, code, text):
    sid = await active(env, "rebuild-bad")
    if body["rebuild"].get("imageRef") == "IMAGE":
        body = {"rebuild": {**body["rebuild"], "imageRef": env.ids["image2"]}}
    before = (await env.get(f"{V}/servers/{sid}", "mia")).json()["server"]
    r = await act(env, sid, body)
    assert r.status_code == code and text in r.text, r.text
    after = (await env.get(f"{V}/servers/{sid}", "mia")).json()["server"]
    assert after["image"] == before["image"] and after["status"] == "ACTIVE" and after["name"] == before["name"]


async def test_volume_attachments_list_and_show(env):
    sid = await active(env, "with-attachments")
    r = await env.get(f"{V}/servers/{sid}/os-volume_attachments", "mia")
    assert r.status_code == 200 and r.json() == {"volumeAttachments": []}
    pid = env.ids["project_mia"]
    vid = (await env.post(f"/volume/v3/{pid}/volumes", {"volume": {"size": 1, "name": "att"}}, who="mia")).json()[
        "volume"]["id"]
    for _ in range(200):
        if (await env.get(f"/volume/v3/{pid}/volumes/{vid}", "mia")).json()["volume"]["status"] == "available":
            break
        await asyncio.sleep(0.02)
    r = await env.post(f"{V}/servers/{sid}/os-volume_attachments", {"volumeAttachment": {"volumeId": vid}},
                       who="mia")
    assert r.status_code == 200, r.text
    want = {"id": vid, "volumeId": vid, "serverId": sid, "device": r.json()["volumeAttachment"]["device"]}
    assert (await env.get(f"{V}/servers/{sid}/os-volume_attachments", "mia")).json() == {"volumeAttachments": [want]}
    r = await env.get(f"{V}/servers/{sid}/os-volume_attachments/{vid}", "mia")
    assert r.status_code == 200 and r.json() == {"volumeAttachment": want}
    r = await env.get(f"{V}/servers/{sid}/os-volume_attachments/{sid}", "mia")
    assert r.status_code == 404 and f"volume_id not found: {sid}" in r.text
    assert (await env.get(f"{V}/servers/{sid}/os-volume_attachments", "bob")).status_code == 404
