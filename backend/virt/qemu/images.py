"""The qemu driver's check of a cached base image on its host, before qemu-img or qemu use it
(an overlay, `qemu-img convert` for a boot volume, -kernel/-initrd). The cache may predate the
upload checks or have been changed behind our back (OSSA-2024-001): its sha256 must be its
name, its head passes the format inspector for its disk_format (on the controller: nothing on
the host opens a file the image names), and `qemu-img info` (limited, format forced) agrees."""
from __future__ import annotations

import base64
import binascii
import json

from backend.core import image_inspect
from backend.virt.qemu import remote as R
from backend.virt.driver import DriverError, ImageFile

INSPECT_HEAD_BYTES = 1 << 20   # every header the inspector needs (vhdx regions, iso descriptors)


def inspect_cached(link, img: ImageFile, path: str, verify_sum: bool, limit: int) -> bool:
    """False when the file is not the image it is named after (fetch it again); an unsafe
    image is a DriverError no other host can cure (not reschedulable), its file removed."""
    rc, out, err = link.sh(R.INSPECT_HEAD, path, img.sha256 if verify_sum else "",
                           str(INSPECT_HEAD_BYTES), timeout=300, check=False)
    if rc == 3:
        return False
    try:
        if rc != 0:
            raise binascii.Error(err.strip()[-300:] or f"exit {rc}")
        head = base64.b64decode(out, validate=True)
    except binascii.Error as e:
        raise DriverError(f"host {link.name}: cannot inspect image {img.id}: {e}") from None
    # qemu gets qcow2 as qcow2 and every other format as raw bytes (QemuDriver._spawn_sync)
    used_as = "qcow2" if img.disk_format == "qcow2" else "raw"
    try:
        image_inspect.inspect_bytes(head, img.disk_format, limit, partial=True)
        rc, out, err = link.run(image_inspect.qemu_img_argv(path, used_as),
                                timeout=image_inspect.QEMU_IMG_CPU_SECONDS * 2, check=False)
        if rc != 0:
            raise image_inspect.UnsafeImage(f"qemu-img cannot read it as {used_as}: "
                                            f"{err.strip()[-300:] or f'exit {rc}'}")
        try:
            info = json.loads(out)
        except ValueError:
            raise image_inspect.UnsafeImage("qemu-img info gave no JSON") from None
        image_inspect.check_qemu_info(info, used_as, limit)
    except image_inspect.UnsafeImage as e:
        link.run(["rm", "-f", path], check=False)
        raise DriverError(f"image {img.id} is refused on host {link.name}: {e}",
                          reschedulable=False) from None
    return True
