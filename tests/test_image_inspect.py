"""The image format inspector (backend.core.image_inspect) on images made with the real qemu-img:
the declared format must be the real one, and a backing file, an external data file, a vmdk
naming extent files or a virtual size over the limit are refused with a message naming it."""
from __future__ import annotations

import pytest
from inotify_simple import INotify, flags

from backend.core import image_inspect as ii
from imagehelp import make_images

LIMIT = 1 << 40


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    canary = d / "canary" / "secret"
    canary.parent.mkdir()
    canary.write_bytes(b"CANARY " * 100)
    return {**make_images(d / "img", canary), "canary": canary}


REFUSED = [  # (image, declared disk_format, words of the message)
    ("backing", "qcow2", "backing file"),
    ("data_file", "qcow2", "external data file"),
    ("qcow2", "raw", "data is qcow2 but disk_format is raw"),
    ("raw", "qcow2", "data is raw (no known disk format header) but disk_format is qcow2"),
    ("qcow2", "aki", "a kernel (aki) must be plain bytes"),
    ("qcow2", "ari", "a ramdisk (ari) must be plain bytes"),
    ("vdi", "raw", "data is vdi"),
    ("huge", "qcow2", "virtual size 4398046511104 bytes is over the limit"),
    ("vmdk_extent", "vmdk", "Invalid extent filenames"),
    ("vmdk_flat", "vmdk", "only monolithicSparse and streamOptimized"),
    ("vmdk", "qcow2", "data is vmdk but disk_format is qcow2"),
]


@pytest.mark.parametrize("name,declared,words", REFUSED, ids=[f"{n}-as-{f}" for n, f, _ in REFUSED])
def test_refused(images, name, declared, words):
    with pytest.raises(ii.UnsafeImage) as e:
        ii.inspect_bytes(images[name].read_bytes(), declared, LIMIT)
    assert words in str(e.value)


ACCEPTED = [("qcow2", "qcow2", 1 << 20), ("raw", "raw", 65536), ("raw", "aki", 65536),
            ("mbr", "raw", 1 << 20), ("vmdk", "vmdk", 1 << 20), ("vdi", "vdi", 1 << 20)]


@pytest.mark.parametrize("name,declared,vsize", ACCEPTED, ids=[f"{n}-as-{f}" for n, f, _ in ACCEPTED])
def test_accepted_and_agrees_with_qemu_img(images, name, declared, vsize):
    assert ii.inspect_bytes(images[name].read_bytes(), declared, LIMIT) == vsize
    # the second gate: qemu-img itself, with the declared format forced
    assert ii.qemu_img_check(images[name], declared, LIMIT) == vsize


def test_streamed_in_odd_chunks_gives_the_same_verdict(images):
    data = images["backing"].read_bytes()
    s = ii.StreamInspector()
    for i in range(0, len(data), 7):  # headers split across many chunks
        s.feed(data[i:i + 7])
    with pytest.raises(ii.UnsafeImage, match="backing file"):
        ii.check(s, "qcow2", LIMIT)


def test_second_gate_alone_refuses_a_backing_file_and_a_size(images):
    canary = images["canary"]
    ino = INotify()
    ino.add_watch(str(canary), flags.OPEN | flags.ACCESS)
    try:  # qemu-img info never follows the backing file (no --backing-chain)
        with pytest.raises(ii.UnsafeImage, match="backing file"):
            ii.qemu_img_check(images["backing"], "qcow2", LIMIT)
        assert ino.read(timeout=0) == []
    finally:
        ino.close()
    with pytest.raises(ii.UnsafeImage, match="over the limit"):
        ii.qemu_img_check(images["huge"], "qcow2", LIMIT)
    with pytest.raises(ii.UnsafeImage, match="reads it as"):
        ii.check_qemu_info({"format": "raw", "virtual-size": 1}, "qcow2", LIMIT)
    with pytest.raises(ii.UnsafeImage, match="data file"):
        ii.check_qemu_info({"format": "qcow2", "virtual-size": 1,
                            "format-specific": {"data": {"data-file": "/etc/shadow"}}}, "qcow2", LIMIT)


def test_qemu_img_runs_under_resource_limits_and_only_on_absolute_paths():
    argv = ii.qemu_img_argv("/x/y", "vhd")
    assert argv[:3] == ["prlimit", "--cpu=30", f"--as={1 << 30}"]
    assert argv[3:] == ["qemu-img", "info", "--output=json", "-f", "vpc", "/x/y"]
    with pytest.raises(ValueError, match="absolute"):
        ii.qemu_img_argv("json:{}", "raw")
