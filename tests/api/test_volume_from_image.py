"""Cinder's imageRef: a volume made from an image is bootable, shows the image, and its file
(made on the host that first uses it) starts as a copy of the image; an image that cannot be
used is 400 naming why, and no volume is made."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


async def _wait_volume(env, vid: str, status: str, who: str = "mia") -> dict:
    for _ in range(200):
        v = (await env.get(f"{env.vol(who)}/volumes/{vid}", who=who)).json()["volume"]
        if v["status"] == status:
            return v
        await env.cloud.rt.bus.drain(1)
    raise AssertionError(f"volume {vid} stayed {v['status']}, not {status}")


async def test_a_volume_from_an_image_is_bootable_and_its_file_is_the_image(env):
    r = await env.post(f"{env.vol('mia')}/volumes", {"volume": {
        "size": 1, "name": "from-image", "imageRef": env.ids["image"]}}, who="mia")
    assert r.status_code == 202, r.text
    v = r.json()["volume"]
    # cinder shows the image (os-vol-image-meta) in show and detail lists, not in the create answer
    assert v["bootable"] == "true" and "volume_image_metadata" not in v
    shown = await _wait_volume(env, v["id"], "available")
    assert shown["bootable"] == "true" and shown["volume_image_metadata"] == {"image_id": env.ids["image"]}
    listed = (await env.get(f"{env.vol('mia')}/volumes/detail", who="mia")).json()["volumes"]
    assert next(x for x in listed if x["id"] == v["id"])["volume_image_metadata"]["image_id"] == env.ids["image"]
    r = await env.http.put(f"{env.vol('mia')}/volumes/{v['id']}", json={"volume": {"name": "renamed"}},
                           headers=env.h("mia"))
    assert r.status_code == 200 and "volume_image_metadata" not in r.json()["volume"]
    # attached to a server, the volume gets its file on the server's host, copied from the image
    body = {"server": {"name": "vi-1", "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}]}}
    sid = (await env.post(f"{V}/servers", body, who="mia")).json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    r = await env.post(f"{V}/servers/{sid}/os-volume_attachments",
                       {"volumeAttachment": {"volumeId": v["id"]}}, who="mia")
    assert r.status_code == 200, r.text
    host = (await env.get(f"{V}/servers/{sid}")).json()["server"]["OS-EXT-SRV-ATTR:host"]
    assert env.cloud.rt.computes[host].driver.volume_images[v["id"]] == env.ids["image"]
    # an empty volume is not bootable and has no image
    r = await env.post(f"{env.vol('mia')}/volumes", {"volume": {"size": 1, "imageRef": None}}, who="mia")
    assert r.json()["volume"]["bootable"] == "false" and "volume_image_metadata" not in r.json()["volume"]


async def test_an_image_that_cannot_be_used_is_400_and_no_volume_is_made(env):
    queued = (await env.post("/image/v2/images", {"name": "empty", "disk_format": "raw",
                                                  "container_format": "bare"})).json()["id"]
    needs_more = (await env.post("/image/v2/images", {"name": "big-min", "disk_format": "raw",
                                                      "container_format": "bare", "min_disk": 5})).json()["id"]
    await env.http.put(f"/image/v2/images/{needs_more}/file", content=b"\0" * 4096,
                       headers=env.h(**{"Content-Type": "application/octet-stream"}))
    before = len((await env.get(f"{env.vol('mia')}/volumes", who="mia")).json()["volumes"])
    for ref, why in (("no-such-image", "Invalid image identifier"), (queued, "is not active"),
                     (needs_more, "cannot be smaller than the image minDisk size 5GB")):
        r = await env.post(f"{env.vol('mia')}/volumes", {"volume": {"size": 1, "imageRef": ref}},
                           who="mia" if ref != queued else "admin")
        assert r.status_code == 400 and why in r.json()["badRequest"]["message"], r.text
    # bob (another project) cannot use admin's private image
    r = await env.post(f"{env.vol('bob')}/volumes", {"volume": {"size": 1, "imageRef": queued}}, who="bob")
    assert r.status_code == 400 and "Invalid image identifier" in r.text
    assert len((await env.get(f"{env.vol('mia')}/volumes", who="mia")).json()["volumes"]) == before
