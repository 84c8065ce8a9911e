"""Disk images are untrusted input (OpenStack's OSSA-2024-001, CVE-2024-32498).

A qcow2 may name a backing file or an external data file on the host, a vmdk may name extent
files, and data whose real format differs from its declared `disk_format` is read by qemu in a
way nobody checked. As glance and nova do since that advisory, the bytes are inspected with
oslo.utils' format inspector: pure Python header parsing that never opens a file the image
names. `qemu-img info` is a second gate, run only after the first passed, under CPU-time and
address-space limits (as oslo's qemu_img does), with the declared format forced (`-f`), so it
never probes, and it never follows a backing file (`qemu-img info` does not without
--backing-chain; a data file was refused by the first gate).

Used by the image service on upload (a stream) and by the qemu driver on the host before use
(the head of the cached file, read over the host link).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess

from oslo_utils.imageutils import format_inspector as fi

# the inspector logs every refusal at WARNING; with no logging set up that would go raw to
# stderr (over the app's screen). The refusal reaches the user as an error instead.
logging.getLogger(fi.__name__).addHandler(logging.NullHandler())

# oslo's QEMU_IMG_LIMITS, used by nova and glance for `qemu-img info`
QEMU_IMG_CPU_SECONDS = 30
QEMU_IMG_ADDRESS_SPACE = 1 << 30

# plain bytes to qemu: a kernel (aki), ramdisk (ari) or raw disk must carry no disk-format
# header; an MBR/GPT partition table is still raw (oslo names it 'gpt')
RAW_LIKE = frozenset({"raw", "aki", "ari", "ami"})
# the name qemu gives each disk_format (iso is raw to qemu; vhd is qemu's 'vpc')
QEMU_FORMAT = {"raw": "raw", "aki": "raw", "ari": "raw", "ami": "raw", "iso": "raw",
               "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc", "vhdx": "vhdx"}

# what each failed oslo safety check means, in words a user can act on
_CHECKS = {
    "backing_file": "it names a backing file (a qcow2 backing file can expose any file of the "
                    "host to the guest)",
    "data_file": "it has an external data file (the qcow2 data-file feature)",
    "unknown_features": "it uses qcow2 incompatible features this cloud does not know",
    "descriptor": "its vmdk descriptor is refused (only monolithicSparse and streamOptimized "
                  "vmdks are taken, whose one extent is inside the file: other kinds name "
                  "extent files)",
    "footer": "its vmdk footer is inconsistent with its header",
}


class UnsafeImage(ValueError):
    """The image data is refused; the message says why."""


class StreamInspector:
    """Detects the format of a stream of chunks and keeps what the safety checks need
    (a few header regions, never the whole image)."""

    def __init__(self):
        self._live = {name: cls() for name, cls in fi.ALL_FORMATS.items()}
        self.size = 0
        self._done = False

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        for name, insp in list(self._live.items()):
            try:
                insp.eat_chunk(chunk)
            except Exception:  # noqa: BLE001 - a parser that chokes means "not this format"
                del self._live[name]

    def finish(self) -> StreamInspector:
        if not self._done:
            for insp in self._live.values():
                insp.finish()
            self._done = True
        return self

    def matches(self) -> dict[str, fi.FileInspector]:
        """Every specific format the data matches ({} when none: raw)."""
        self.finish()
        return {n: i for n, i in self._live.items() if n != "raw" and i.format_match}


def check(stream: StreamInspector, disk_format: str, max_virtual_size: int,
          partial: bool = False) -> int:
    """Refuse (UnsafeImage) data whose detected format is not `disk_format`, that fails a
    safety check of its format, or whose virtual size is over max_virtual_size. Returns the
    virtual size. partial: only the head of the file was inspected (the host-side check)."""
    found = stream.matches()
    names = set(found) or {"raw"}
    if disk_format in RAW_LIKE:
        ok = names <= {"raw", "gpt"}
    elif disk_format == "iso":
        ok = "iso" in names and names <= {"iso", "gpt"}  # hybrid ISOs carry an MBR too
    else:
        ok = names == {disk_format}
    if not ok:
        what = " and ".join(sorted(names)) if names != {"raw"} else "raw (no known disk format header)"
        kind = {"aki": "a kernel", "ari": "a ramdisk", "ami": "a machine image"}.get(disk_format)
        extra = f": {kind} ({disk_format}) must be plain bytes" if kind else ""
        raise UnsafeImage(f"the data is {what} but disk_format is {disk_format}{extra}")
    if disk_format in RAW_LIKE or disk_format == "iso":
        # plain bytes to qemu: nothing in them is interpreted on the host
        size = found["iso"].virtual_size if disk_format == "iso" else stream.size
        if partial and disk_format != "iso":
            size = 0  # the head says nothing of the size; the caller knows the file's size
    else:
        insp = found[disk_format]
        try:
            insp.safety_check()
        except fi.SafetyCheckFailed as e:
            why = "; ".join(f"{_CHECKS.get(n, n)}: {v}" if n in ("descriptor", "footer") else
                            _CHECKS.get(n, f"{n}: {v}") for n, v in sorted(e.failures.items()))
            raise UnsafeImage(f"{disk_format}: {why}") from None
        except fi.ImageFormatError as e:
            if not (partial and disk_format == "vmdk"):  # a streamOptimized footer is at the end
                raise UnsafeImage(f"{disk_format}: cannot be checked: {e}") from None
        size = insp.virtual_size
    if size > max_virtual_size:
        raise UnsafeImage(f"virtual size {size} bytes is over the limit of {max_virtual_size} bytes")
    return size


def inspect_bytes(data: bytes, disk_format: str, max_virtual_size: int,
                  partial: bool = False) -> int:
    s = StreamInspector()
    for i in range(0, len(data), 1 << 16):
        s.feed(data[i:i + (1 << 16)])
    return check(s, disk_format, max_virtual_size, partial=partial)


def qemu_img_argv(path: str, disk_format: str) -> list[str]:
    """`qemu-img info` as nova/glance run it: resource limits, the format forced."""
    if not path.startswith("/"):
        raise ValueError(f"{path!r}: an absolute path is needed (no protocol prefix is parsed)")
    return ["prlimit", f"--cpu={QEMU_IMG_CPU_SECONDS}", f"--as={QEMU_IMG_ADDRESS_SPACE}",
            "qemu-img", "info", "--output=json", "-f", QEMU_FORMAT[disk_format], path]


def check_qemu_info(info: dict, disk_format: str, max_virtual_size: int) -> int:
    """The second gate: what qemu itself makes of the file."""
    fmt = QEMU_FORMAT[disk_format]
    if info.get("format") != fmt:
        raise UnsafeImage(f"qemu-img reads it as {info.get('format')!r}, not {fmt}")
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise UnsafeImage(f"{disk_format}: {_CHECKS['backing_file']}")
    if ((info.get("format-specific") or {}).get("data") or {}).get("data-file"):
        raise UnsafeImage(f"{disk_format}: {_CHECKS['data_file']}")
    size = int(info.get("virtual-size") or 0)
    if size > max_virtual_size:
        raise UnsafeImage(f"virtual size {size} bytes is over the limit of {max_virtual_size} bytes")
    return size


def qemu_img_check(path: str | os.PathLike, disk_format: str, max_virtual_size: int) -> int | None:
    """Run the second gate on a local file; None when this machine has no qemu-img (the
    controller of a cloud on fake hosts need not have it: the first gate is complete)."""
    if not shutil.which("qemu-img") or not shutil.which("prlimit"):
        return None
    argv = qemu_img_argv(os.path.abspath(path), disk_format)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=QEMU_IMG_CPU_SECONDS * 2,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise UnsafeImage(f"qemu-img cannot read it as {disk_format}: "
                          f"{p.stderr.strip()[-300:] or f'exit {p.returncode}'}")
    try:
        info = json.loads(p.stdout)
    except ValueError:
        raise UnsafeImage("qemu-img info gave no JSON") from None
    return check_qemu_info(info, disk_format, max_virtual_size)
