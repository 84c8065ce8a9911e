"""Hostile images already in a host's base-image cache (as if cached before images were
inspected, or planted there): the qemu driver inspects the cached file on the host before
qemu-img or qemu touch it. A qcow2 naming a host file fails the build for good (ERROR with a
fault that says why), leaves nothing behind, and the file it names is never opened (inotify
watches it, readable by the lab user). A cached file that is not the image it is named after
(a kernel swapped for a qcow2) is fetched again and the guest boots the real one."""
from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import uuid as uuidlib
from contextlib import contextmanager
from pathlib import Path

import pytest
from inotify_simple import INotify, flags

from backend.virt.driver import DriverError, ImageFile
from imagehelp import make_images
from real.test_cloud_real import real_cloud, until  # noqa: F401 - the cloud fixture
from real.test_qemu_driver import guest, wait_marker

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def canary_and_images(tmp_path_factory):
    """A canary the lab user can read (a world-readable directory outside the test's private
    tmp) and hostile images naming it."""
    d = Path(tempfile.mkdtemp(prefix="pocketstack-canary-"))
    os.chmod(d, 0o755)
    canary = d / "secret"
    canary.write_bytes(b"HOST-SECRET " * 1000)
    os.chmod(canary, 0o644)
    try:
        yield canary, make_images(tmp_path_factory.mktemp("hostile"), canary)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextmanager
def never_opened(path: Path):
    """Fails when any process opens or reads path inside the block."""
    ino = INotify()
    ino.add_watch(str(path), flags.OPEN | flags.ACCESS)
    got: list = []
    try:
        yield got
    finally:
        got.extend(ino.read(timeout=0))
        ino.close()
    assert not got, f"{path} was opened: {got}"


def image_of(path: Path, fmt: str) -> ImageFile:
    data = path.read_bytes()
    return ImageFile(id=f"evil-{path.stem}", path=str(path), sha256=hashlib.sha256(data).hexdigest(),
                     size=len(data), disk_format=fmt)


async def plant(d, img: ImageFile, data: bytes) -> str:
    """Put data in the host's cache under img's name, as an earlier run would have."""
    base = await asyncio.to_thread(d._base_path, img)
    await asyncio.to_thread(d.link.run, ["rm", "-f", base])  # a cached copy is read-only
    await asyncio.to_thread(d.link.write_file, base, data)
    return base


def lab_user_reads(d, canary: Path) -> None:
    _, out, _ = d.link.run(["cat", str(canary)])
    assert out.encode() == canary.read_bytes(), "the lab user must be able to read the canary"


def test_the_canary_guard_sees_the_lab_user_read_it(drivers, canary_and_images):
    canary, _ = canary_and_images
    d = drivers("lab-1")
    with pytest.raises(AssertionError, match="was opened"):
        with never_opened(canary):
            lab_user_reads(d, canary)


@pytest.mark.parametrize("name", ["backing", "data_file"])
async def test_planted_qcow2_naming_a_host_file_fails_spawn(drivers, tiny, canary_and_images, name):
    canary, images = canary_and_images
    d = drivers("lab-1")
    img = image_of(images[name], "qcow2")
    base = await plant(d, img, images[name].read_bytes())
    lab_user_reads(d, canary)
    g = guest(tiny, image=img, kernel=tiny["kernel"], ramdisk=tiny["ramdisk"])
    with never_opened(canary):
        with pytest.raises(DriverError) as e:
            await d.spawn(g)
    assert e.value.reschedulable is False  # no other host can make this image safe
    words = "backing file" if name == "backing" else "external data file"
    assert words in str(e.value) and img.id in str(e.value)
    idir = f"{await asyncio.to_thread(d._state_dir)}/instances/{g.uuid}"
    assert not d.link.exists(idir)  # no overlay, no guest
    assert not d.link.exists(base)  # the unsafe cached file is gone
    assert g.uuid not in await d.list_instances()


async def test_planted_qcow2_never_becomes_a_boot_volume(drivers, canary_and_images):
    canary, images = canary_and_images
    d = drivers("lab-2")
    img = image_of(images["backing"], "qcow2")
    await plant(d, img, images["backing"].read_bytes())
    lab_user_reads(d, canary)
    vid = str(uuidlib.uuid4())
    with never_opened(canary):
        with pytest.raises(DriverError, match="backing file") as e:
            await d.create_volume(vid, 1, image=img)  # would be qemu-img convert
    assert e.value.reschedulable is False
    vdir = f"{await asyncio.to_thread(d._state_dir)}/volumes"
    assert not d.link.exists(f"{vdir}/{vid}.qcow2") and not d.link.exists(f"{vdir}/{vid}.qcow2.part")


async def test_swapped_kernel_in_the_cache_is_fetched_again(drivers, tiny, canary_and_images):
    """A -kernel file is used only once it is verified to be the image it is named after."""
    canary, images = canary_and_images
    d = drivers("lab-1")
    base = await plant(d, tiny["kernel"], images["backing"].read_bytes())
    g = guest(tiny, ip="10.0.0.31", mac="fa:16:3e:00:00:31")
    with never_opened(canary):
        await d.spawn(g)
        try:
            await wait_marker(d, g.uuid)
            data = await asyncio.to_thread(d.link.read_file, base)
            assert hashlib.sha256(data).hexdigest() == tiny["kernel"].sha256
        finally:
            await d.destroy(g.uuid)


async def test_build_with_an_image_from_before_the_checks_ends_in_error(real_cloud, lab_home, hosts,
                                                                        drivers, canary_and_images):
    """An image stored before uploads were inspected (its row and file written as the old
    code did) and already in every host's cache: the build ends ERROR, with a fault naming
    the backing file, no guest and no overlay on any host, the canary never opened."""
    cloud, tok = real_cloud
    canary, images = canary_and_images
    data = images["backing"].read_bytes()
    img = await cloud.create_image(tok, "old-evil", disk_format="qcow2")
    rt = cloud.rt
    path = rt.config.images_dir / img["id"]
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    rt.db["images"].update(img["id"], {"status": "active", "size": len(data), "sha256": sha,
                                       "checksum": hashlib.md5(data).hexdigest(), "path": str(path)})
    as_cached = ImageFile(id=img["id"], path=str(path), sha256=sha, size=len(data), disk_format="qcow2")
    ds = [drivers(n) for n in sorted(hosts)]
    for d in ds:
        await plant(d, as_cached, data)
    lab_user_reads(ds[0], canary)
    with never_opened(canary):
        s = (await cloud.create_server(tok, "victim", img["id"], "m1.nano"))[0]

        async def ended():
            got = await cloud.get_server(tok, s["id"])
            return got if got["status"] == "ERROR" and got["task_state"] is None else None
        got = await until(ended, "the build to end in ERROR", timeout=120)
    assert "backing file" in got["fault"]["message"], got["fault"]
    for d in ds:
        sd = await asyncio.to_thread(d._state_dir)
        assert not d.link.exists(f"{sd}/instances/{s['id']}")
        assert s["id"] not in await d.list_instances()
