"""The qemu driver's volumes: qcow2 files under the host's volumes/ directory, attached as
virtio disks, live through QMP hot-plug and kept in the instance's launch arguments so start
and hard reboot bring them back. A mixin of QemuDriver (it uses its link and helpers)."""
from __future__ import annotations

import hashlib
import json
import re

from backend.core import power_state
from backend.virt.qemu.hostlink import CommandError
from backend.virt.qemu import remote as R
from backend.virt.driver import DriverError, ImageFile

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _safe_id(value: str, what: str) -> str:
    """uuids and volume ids become path names: only plain ids, whatever the caller sends."""
    if not _SAFE_ID.match(value or "") or ".." in value:
        raise DriverError(f"invalid {what} {value!r}", reschedulable=False)
    return value


def _volume_ids(volume_id: str) -> tuple[str, str]:
    """A volume's block node name and device id in QEMU: stable, derived from the volume id
    (node names may have 31 characters at most, volume ids are longer)."""
    h = hashlib.sha256(volume_id.encode()).hexdigest()[:16]
    return f"volnode-{h}", f"vol-{h}"


def _volume_args(volume_id: str) -> list[str]:
    """The qemu arguments of an extra volume: the same node name and device id as a live
    attach, so a disk attached at boot can be detached live and the other way round. The
    serial is the volume id (as nova's; virtio-blk keeps 20 characters): the guest sees it in
    /sys/block/vdX/serial and /dev/disk/by-id/virtio-<serial>."""
    vid = _safe_id(volume_id, "volume id")
    node, dev = _volume_ids(vid)
    return ["-blockdev", f"driver=qcow2,node-name={node},file.driver=file,"
                         f"file.filename=../../volumes/{vid}.qcow2",
            "-device", f"virtio-blk-pci,drive={node},id={dev},serial={vid[:20]}"]


def _boot_volume(argv: list[str]) -> str | None:
    """The volume the guest boots from (its first -drive), if it boots from one."""
    for flag, value in zip(argv, argv[1:]):
        if flag == "-drive":
            f = value.split(",", 1)[0]
            if f.startswith("file=../../volumes/") and f.endswith(".qcow2"):
                return f[len("file=../../volumes/"):-len(".qcow2")]
            return None
    return None


def _without_volume(argv: list[str], volume_id: str) -> list[str]:
    """argv without the volume's arguments: its -blockdev/-device pair, or a -drive of
    launch arguments written before volumes had ids (never the boot disk, the first -drive)."""
    node, dev = _volume_ids(volume_id)
    drive = f"file=../../volumes/{volume_id}.qcow2"
    out, i, drives = [], 0, 0
    while i < len(argv):
        flag, value = argv[i], argv[i + 1] if i + 1 < len(argv) else ""
        opts = value.split(",")
        if flag == "-drive":
            drives += 1
        if (flag == "-blockdev" and f"node-name={node}" in opts) or \
                (flag == "-device" and f"id={dev}" in opts) or \
                (flag == "-drive" and drives > 1 and opts[0] == drive):
            i += 2
            continue
        out.append(flag)
        i += 1
    return out


class QemuVolumes:
    def _volume_sync(self, volume_id: str, size_gb: int, base: str | None, fmt: str) -> None:
        vdir = f"{self._state_dir()}/volumes"
        name = f"{_safe_id(volume_id, 'volume id')}.qcow2"
        part = name + ".part"
        try:
            if base:
                self.link.sh(R.IN_DIR, vdir, "qemu-img", "convert", "-q", "-f", fmt, "-O",
                             "qcow2", base.replace("../../", "../"), part, timeout=600)
                self.link.sh(R.IN_DIR, vdir, "qemu-img", "resize", "-q", part, f"{size_gb}G")
            else:
                self.link.sh(R.IN_DIR, vdir, "qemu-img", "create", "-q", "-f", "qcow2", part,
                             f"{size_gb}G")
            self.link.sh(R.IN_DIR, vdir, "mv", "-f", part, name)
        except CommandError as e:
            self.link.sh(R.IN_DIR, vdir, "rm", "-f", part, check=False)
            raise DriverError(f"host {self.host.name}: cannot create volume {volume_id}: {e}") from None

    async def create_volume(self, volume_id: str, size_gb: int, image: ImageFile | None = None) -> None:
        base = await self._ensure_base(image) if image else None
        fmt = "qcow2" if image and image.disk_format == "qcow2" else "raw"
        await self._thread(self._volume_sync, volume_id, size_gb, base, fmt)

    async def delete_volume(self, volume_id: str) -> None:
        def _rm():
            vid = _safe_id(volume_id, "volume id")
            self.link.run(["rm", "-f", f"{self._state_dir()}/volumes/{vid}.qcow2"])
        await self._thread(_rm)

    # ---- volume attach / detach ----------------------------------------------------------
    def _qmp_run(self, uuid: str, program: list[dict], timeout: float = 10.0) -> dict:
        """A QMP program in one session (qemu_remote.QMP_RUN_PY): commands with arguments and
        waits for events. The program travels as a JSON argument."""
        if not self._facts.get("python3"):
            raise DriverError(f"host {self.host.name}: no python3 on the host for QMP: cannot "
                              "change a running guest's disks (stop it first)", reschedulable=False)
        rc, out, err = self.link.sh(R.IN_DIR, self._idir(uuid), "python3", "-c", R.QMP_RUN_PY,
                                    "qmp.sock", json.dumps(program), str(timeout),
                                    timeout=timeout + 10, check=False)
        if rc != 0:
            raise DriverError(f"host {self.host.name}: QMP failed: {err.strip()[-200:] or f'exit {rc}'}",
                              reschedulable=False)
        return json.loads(out)

    def _block_of(self, uuid: str, vid: str) -> dict | None:
        """The guest's block device whose image is the volume's file (query-block), if any."""
        r = self._qmp_run(uuid, [{"execute": "query-block"}])
        res = r["results"][0] if r["results"] else {}
        if "return" not in res:
            raise DriverError(f"host {self.host.name}: QMP query-block failed: {res or 'timeout'}",
                              reschedulable=False)
        for b in res["return"]:
            if (b.get("inserted") or {}).get("file", "").endswith(f"volumes/{vid}.qcow2"):
                return b
        return None

    def _launch_args(self, idir: str) -> list[str]:
        return json.loads(self.link.read_file(f"{idir}/launch.json"))

    def _save_launch_args(self, idir: str, argv: list[str]) -> None:
        tmp = f"{idir}/launch.json.tmp"  # replaced whole: never a half-written file
        self.link.write_file(tmp, json.dumps(argv).encode())
        self.link.run(["mv", "-f", tmp, f"{idir}/launch.json"])

    @staticmethod
    def _qmp_error(reply: dict) -> str:
        e = reply.get("error") or {}
        return f"{e.get('class', 'error')}: {e.get('desc', reply)}"

    def _hotplug(self, uuid: str, vid: str) -> None:
        if self._block_of(uuid, vid) is not None:
            return  # the guest has it already
        node, dev = _volume_ids(vid)
        r = self._qmp_run(uuid, [
            # a node left by an earlier attempt whose device_add failed (no device uses it)
            {"execute": "blockdev-del", "arguments": {"node-name": node}, "may_fail": True},
            # an absolute path: qemu -daemonize has made / its working directory by now
            {"execute": "blockdev-add", "arguments": {
                "driver": "qcow2", "node-name": node,
                "file": {"driver": "file", "filename": f"{self._state_dir()}/volumes/{vid}.qcow2"}}},
            {"execute": "device_add", "arguments": {"driver": "virtio-blk-pci", "id": dev,
                                                    "drive": node, "serial": vid[:20]}}])
        res = r["results"]
        if len(res) == 3 and "error" not in res[2]:
            return
        failed = next((x for x in res[1:] if "error" in x), None)
        why = self._qmp_error(failed) if failed else "QMP timed out"
        if len(res) >= 2 and "error" not in res[1]:  # the node was added: take it back
            try:
                self._qmp_run(uuid, [{"execute": "blockdev-del", "arguments": {"node-name": node},
                                      "may_fail": True}])
            except DriverError:
                pass
        raise DriverError(f"host {self.host.name}: cannot attach volume {vid} to {uuid}: {why}",
                          reschedulable=False)

    def _unplug(self, uuid: str, vid: str) -> None:
        node, _ = _volume_ids(vid)
        block = self._block_of(uuid, vid)
        program, path = [], None
        if block is not None:
            # the device is the parent of the block backend (.../virtio-backend); a disk of
            # older launch arguments has no id, device_del takes its QOM path then
            path = block.get("qdev") or ""
            path = path[:-len("/virtio-backend")] if path.endswith("/virtio-backend") else path
            ident = path.rsplit("/", 1)[1] if path.startswith("/machine/peripheral/") else path
            program += [{"execute": "device_del", "arguments": {"id": ident}, "may_fail": True},
                        {"wait_event": "DEVICE_DELETED", "path": path}]
        program.append({"execute": "blockdev-del", "arguments": {"node-name": node}, "may_fail": True})
        r = self._qmp_run(uuid, program, timeout=self._unplug_wait)
        if block is not None and r["timeout"]:
            dd = r["results"][0] if r["results"] else {}
            why = (f"device_del: {self._qmp_error(dd)}" if "error" in dd else
                   f"the guest did not release the disk within {self._unplug_wait:.0f}s (a guest "
                   "without ACPI PCI hotplug, e.g. booted with pci=noacpi, never does; stop the "
                   "instance and detach it then)")
            raise DriverError(f"host {self.host.name}: cannot detach volume {vid} from {uuid}: {why}",
                              reschedulable=False)

    def _attach_volume_sync(self, uuid: str, volume_id: str) -> None:
        vid = _safe_id(volume_id, "volume id")
        st = self._require(uuid)
        if not self.link.exists(f"{self._state_dir()}/volumes/{vid}.qcow2"):
            raise DriverError(f"host {self.host.name}: volume {vid} has no file here", reschedulable=False)
        idir = self._idir(uuid)
        argv = self._launch_args(idir)
        if _boot_volume(argv) == vid:
            raise DriverError(f"volume {vid} is the boot disk of {uuid}", reschedulable=False)
        live = st == power_state.RUNNING
        if live:
            self._hotplug(uuid, vid)
        try:  # every later start and hard reboot brings it back
            self._save_launch_args(idir, _without_volume(argv, vid) + _volume_args(vid))
        except Exception:
            if live:
                try:
                    self._unplug(uuid, vid)
                except DriverError:
                    pass
            raise

    def _detach_volume_sync(self, uuid: str, volume_id: str) -> None:
        vid = _safe_id(volume_id, "volume id")
        st = self._require(uuid)
        idir = self._idir(uuid)
        argv = self._launch_args(idir)
        if _boot_volume(argv) == vid:
            raise DriverError(f"volume {vid} is the boot disk of {uuid}", reschedulable=False)
        if st == power_state.RUNNING:
            self._unplug(uuid, vid)
        new = _without_volume(argv, vid)
        if new != argv:
            self._save_launch_args(idir, new)

    def _is_volume_attached_sync(self, uuid: str, volume_id: str) -> bool:
        vid = _safe_id(volume_id, "volume id")
        if not self.link.exists(f"{self._state_dir()}/volumes/{vid}.qcow2"):
            return False  # a first attach: one round trip, nothing to ask QEMU
        st = self._status([uuid]).get(uuid)
        if st is None:
            return False
        if st == power_state.RUNNING:  # the running QEMU says (query-block), as attach asks it
            return self._block_of(uuid, vid) is not None
        argv = self._launch_args(self._idir(uuid))  # stopped: what it starts with
        return _without_volume(argv, vid) != argv or _boot_volume(argv) == vid

    async def is_volume_attached(self, uuid: str, volume_id: str) -> bool:
        _safe_id(uuid, "instance uuid")
        try:
            return await self._thread(self._is_volume_attached_sync, uuid, volume_id)
        except ValueError as e:  # launch.json is not JSON
            raise DriverError(f"host {self.host.name}: bad launch arguments of {uuid}: {e}",
                              reschedulable=False) from None

    async def attach_volume(self, uuid: str, volume_id: str, device: str) -> None:
        # device (/dev/vdX) is a hint only, as in nova's libvirt driver: the guest names its
        # disks itself, in the order it finds them; the volume id is the disk's serial
        _safe_id(uuid, "instance uuid")
        try:
            await self._thread(self._attach_volume_sync, uuid, volume_id)
        except ValueError as e:  # launch.json is not JSON
            raise DriverError(f"host {self.host.name}: bad launch arguments of {uuid}: {e}",
                              reschedulable=False) from None

    async def detach_volume(self, uuid: str, volume_id: str) -> None:
        _safe_id(uuid, "instance uuid")
        try:
            await self._thread(self._detach_volume_sync, uuid, volume_id)
        except ValueError as e:
            raise DriverError(f"host {self.host.name}: bad launch arguments of {uuid}: {e}",
                              reschedulable=False) from None
