"""Hostile and benign disk images made with the real `qemu-img create` (plus two byte
patches for vmdk descriptors naming a host file), shared by the image inspection tests."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path


def qemu_img(*args: str) -> None:
    assert shutil.which("qemu-img"), "qemu-img missing: run scripts/setup.sh"
    subprocess.run(["qemu-img", "create", "-q", *args], check=True, capture_output=True)


def mbr_disk(path: Path) -> Path:
    """A raw disk with an MBR partition table (one Linux partition): raw, as oslo's 'gpt'."""
    data = bytearray(1 << 20)
    data[446:462] = struct.pack("<B3BB3BII", 0x80, 0, 2, 0, 0x83, 0, 2, 0, 2048, 0)
    data[510:512] = b"\x55\xaa"
    path.write_bytes(bytes(data))
    return path


def make_images(d: Path, canary: Path) -> dict[str, Path]:
    """name -> file. canary is the host file the hostile ones name."""
    d.mkdir(parents=True, exist_ok=True)
    out = {}
    out["backing"] = d / "backing.qcow2"
    qemu_img("-f", "qcow2", "-b", str(canary), "-F", "raw", str(out["backing"]), "1M")
    out["data_file"] = d / "data_file.qcow2"
    # qemu-img create makes (truncates) the data file itself: let it make a throwaway one of
    # the same name length, then point the image at the canary (the header stays valid)
    throw = canary.with_name("~" * len(canary.name))
    qemu_img("-f", "qcow2", "-o", f"data_file={throw}", str(out["data_file"]), "1M")
    raw = out["data_file"].read_bytes()
    assert raw.count(str(throw).encode()) == 1
    out["data_file"].write_bytes(raw.replace(str(throw).encode(), str(canary).encode()))
    throw.unlink()
    out["qcow2"] = d / "plain.qcow2"
    qemu_img("-f", "qcow2", str(out["qcow2"]), "1M")
    out["huge"] = d / "huge.qcow2"
    qemu_img("-f", "qcow2", str(out["huge"]), "4T")  # over the 1 TiB default limit
    out["raw"] = d / "plain.raw"
    out["raw"].write_bytes(b"\0" * 65536)
    out["mbr"] = mbr_disk(d / "mbr.raw")
    sparse = d / "sparse.vmdk"
    qemu_img("-f", "vmdk", str(sparse), "1M")
    out["vmdk"] = sparse
    name = b'"sparse.vmdk"'
    evil = f'"{canary}"'.encode()
    data = sparse.read_bytes()
    assert data.count(name) == 1
    out["vmdk_extent"] = d / "extent.vmdk"
    out["vmdk_extent"].write_bytes(_patch_descriptor(data, name, evil))
    flat = d / "flat.vmdk"
    qemu_img("-f", "vmdk", "-o", "subformat=monolithicFlat", str(flat), "1M")
    text = flat.read_bytes()
    out["vmdk_flat"] = d / "flatdesc.vmdk"
    out["vmdk_flat"].write_bytes(text.replace(b'"flat-flat.vmdk"', evil))
    out["vdi"] = d / "plain.vdi"
    qemu_img("-f", "vdi", str(out["vdi"]), "1M")
    return out


def _patch_descriptor(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace old by new inside the sparse vmdk's embedded descriptor, keeping every offset:
    the descriptor is NUL-padded text in its own sectors, the padding takes up the change."""
    i = data.index(old)
    end = data.index(b"\0", i)  # the end of the descriptor text
    text = data[i:end].replace(old, new, 1)
    grow = len(text) - (end - i)
    if grow >= 0:
        assert data[end:end + grow] == b"\0" * grow, "no room left in the vmdk descriptor"
        return data[:i] + text + data[end + grow:]
    return data[:i] + text + b"\0" * -grow + data[end:]
