"""Hostile image data through the glance API (OSSA-2024-001): images made with the real
qemu-img that name host files, or whose real format is not the declared one, or too large a
disk. Each upload answers 400 naming what is wrong, the image stays `queued`, and nothing is
stored: the whole database and the images directory are as before. And the upload races: a
delete while the image is `saving` answers 409 and the upload still ends well."""
from __future__ import annotations

import asyncio
import hashlib
import sqlite3

import pytest

from imagehelp import make_images

pytestmark = pytest.mark.asyncio(loop_scope="module")
OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    canary = d / "host" / "shadow"
    canary.parent.mkdir()
    canary.write_bytes(b"HOST-SECRET\n" * 64)
    return make_images(d / "img", canary)


def db_digest(env) -> dict[str, str]:
    """Every table's rows, hashed (a read-only connection beside the cloud's)."""
    path = env.cloud.config.db_path
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {}
        for t in tables:
            h = hashlib.sha256()
            for row in con.execute(f'SELECT * FROM "{t}" ORDER BY 1'):
                h.update(repr(row).encode())
            out[t] = h.hexdigest()
        return out
    finally:
        con.close()


def stored_files(env) -> dict[str, bytes]:
    d = env.cloud.config.images_dir
    return {p.name: hashlib.sha256(p.read_bytes()).digest() for p in sorted(d.iterdir())}


CASES = [  # (image file, declared disk_format, words the 400 must hold)
    ("backing", "qcow2", "backing file"),
    ("data_file", "qcow2", "external data file"),
    ("qcow2", "raw", "the data is qcow2 but disk_format is raw"),
    ("raw", "qcow2", "the data is raw (no known disk format header) but disk_format is qcow2"),
    ("qcow2", "aki", "a kernel (aki) must be plain bytes"),
    ("huge", "qcow2", "virtual size 4398046511104 bytes is over the limit"),
    ("vmdk_extent", "vmdk", "Invalid extent filenames"),
    ("vmdk_flat", "vmdk", "only monolithicSparse and streamOptimized"),
]


@pytest.mark.parametrize("name,declared,words", CASES, ids=[f"{n}-as-{f}" for n, f, _ in CASES])
async def test_hostile_upload_refused_and_nothing_stored(env, hostile, name, declared, words):
    r = await env.post("/image/v2/images", {"name": f"evil-{name}", "disk_format": declared,
                                            "container_format": "bare"}, who="bob")
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    before_db, before_files = db_digest(env), stored_files(env)
    data = hostile[name].read_bytes()

    async def chunks():  # streamed in pieces, as a client sends a large image
        for i in range(0, len(data), 4096):
            yield data[i:i + 4096]
    r = await env.http.put(f"/image/v2/images/{iid}/file", content=chunks(), headers=env.h("bob", **OCTET))
    assert r.status_code == 400, r.text
    assert words in r.json()["message"], r.json()
    assert db_digest(env) == before_db  # the row is as it was: queued, no size, no checksum
    assert stored_files(env) == before_files  # no file, no .part
    got = (await env.get(f"/image/v2/images/{iid}", who="bob")).json()
    assert got["status"] == "queued" and got["size"] is None and got["os_hash_value"] is None
    r = await env.get(f"/image/v2/images/{iid}/file", who="bob")
    assert r.status_code == 204 and r.content == b""  # glance: a queued image has no data


async def test_good_qcow2_and_vmdk_are_taken(env, hostile):
    for name, fmt in (("qcow2", "qcow2"), ("vmdk", "vmdk"), ("mbr", "raw")):
        r = await env.post("/image/v2/images", {"name": f"ok-{name}", "disk_format": fmt,
                                                "container_format": "bare"}, who="bob")
        iid = r.json()["id"]
        r = await env.http.put(f"/image/v2/images/{iid}/file", content=hostile[name].read_bytes(),
                               headers=env.h("bob", **OCTET))
        assert r.status_code == 204, r.text
        assert (await env.get(f"/image/v2/images/{iid}", who="bob")).json()["status"] == "active"


async def _wait_image_status(env, iid: str, status: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (await env.get(f"/image/v2/images/{iid}", who="bob")).json()["status"] != status:
        assert loop.time() < end, f"image {iid} never became {status}"
        await asyncio.sleep(0.01)


async def test_delete_while_saving_is_refused_and_the_upload_ends_well(env):
    r = await env.post("/image/v2/images", {"name": "racing", "disk_format": "raw",
                                            "container_format": "bare"}, who="bob")
    iid = r.json()["id"]
    first_sent, go_on = asyncio.Event(), asyncio.Event()

    async def chunks():
        yield b"\0" * 65536
        first_sent.set()
        await go_on.wait()  # the upload is held mid-way, its image 'saving'
        yield b"\0" * 65536
    put = asyncio.create_task(env.http.put(f"/image/v2/images/{iid}/file", content=chunks(),
                                           headers=env.h("bob", **OCTET)))
    await first_sent.wait()
    await _wait_image_status(env, iid, "saving")
    part = env.cloud.config.images_dir / f"{iid}.part"
    r = await env.delete(f"/image/v2/images/{iid}", who="bob")
    assert r.status_code == 409 and "being uploaded" in r.json()["message"], r.text
    r = await env.delete(f"/image/v2/images/{iid}", who="admin")  # an admin too
    assert r.status_code == 409, r.text
    assert part.exists()
    go_on.set()
    r = await put
    assert r.status_code == 204, r.text
    got = (await env.get(f"/image/v2/images/{iid}", who="bob")).json()
    assert got["status"] == "active" and got["size"] == 131072
    assert not part.exists() and (env.cloud.config.images_dir / iid).exists()
    r = await env.delete(f"/image/v2/images/{iid}", who="bob")
    assert r.status_code == 204
    assert not (env.cloud.config.images_dir / iid).exists()
