"""The qemu driver: real guests on a host reached over SSH (backend.hostlink).

Every blocking SSH step runs in a thread (asyncio.to_thread); the scripts it runs on the host
are constants in qemu_remote (the host layout is described there). Power state comes from
the pidfile and /proc (a clean qemu exit removes the pidfile, a killed one leaves it: CRASHED);
power-down and quit go through QMP with python3 on the host, or signals when it has none.
"""
from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import re
import tempfile
from pathlib import Path

from backend import power_state
from backend.hostlink import CommandError, HostLink
from backend.virt import configdrive, qemu_remote as R
from backend.virt.driver import (ComputeDriver, DriverError, GuestSpec, HostCapabilities,
                                 HostUnreachable, ImageFile, InstanceNotFound)

DEFAULT_STATE_DIR = ".pocketstack-host"  # relative to the remote user's home
DEFAULT_CMDLINE = "console=ttyS0 quiet panic=-1"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_STATES = {"running": power_state.RUNNING, "shutdown": power_state.SHUTDOWN,
           "crashed": power_state.CRASHED}


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


class QemuDriver(ComputeDriver):
    def __init__(self, host, config=None, link: HostLink | None = None):
        super().__init__(host)
        self.config = config
        self.link = link or HostLink(host)
        self.image_bytes_sent = 0         # image-cache transfers only (not config drives)
        self.accelerator: str | None = None
        self._dir: str | None = None      # absolute state dir on the host
        self._facts: dict[str, str] = {}
        self._have_base: set[str] = set()
        self._base_locks: dict[str, asyncio.Lock] = {}
        self._soft_reboot_wait = 10.0
        self._unplug_wait = 20.0          # for the guest to release a hot-unplugged disk

    # ---- host --------------------------------------------------------------------------
    def _state_dir(self) -> str:
        if self._dir is None:
            sd = self.host.state_dir or DEFAULT_STATE_DIR
            sd = sd[2:] if sd.startswith("~/") else sd  # relative = the remote home
            _, out, _ = self.link.sh(R.DISCOVER, sd, timeout=30)
            self._facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
            self._dir = self._facts["dir"]
            self.accelerator = self.accelerator or self._facts.get("accel")
        return self._dir

    def _idir(self, uuid: str) -> str:
        return f"{self._state_dir()}/instances/{_safe_id(uuid, 'instance uuid')}"

    def _probe(self, kernel: str | None = None) -> str:
        """KVM only when a test boot really works under it; else TCG. The verdict is kept on
        the host (probe/accel) once it was checked with a Linux kernel."""
        d = self._state_dir() + "/probe"
        self.link.write_file(d + "/boot.img", R.BOOT_SECTOR)
        _, out, _ = self.link.sh(R.PROBE, d, "kvm", kernel or "", timeout=30, check=False)
        verdict = out.strip()
        accel = "kvm" if verdict == "ok" else "tcg"
        if verdict in ("ok", "fail-bootsector", "fail-linux"):
            self.link.write_file(d + "/accel", (accel + "\n").encode())
        elif verdict == "unverified":  # KVM runs real mode; decide at the first kernel boot
            return "tcg?"
        return accel

    def _capabilities(self) -> HostCapabilities:
        self._state_dir()
        if not self.accelerator or self.accelerator == "tcg?":
            self.accelerator = self._probe()
        f, h = self._facts, self.host
        ver = f.get("qemu", "")
        m = re.search(r"version (\d+(?:\.\d+)*)", ver)
        return HostCapabilities(
            vcpus=h.vcpus or int(f.get("nproc") or 1),
            memory_mb=h.memory_mb or int(f.get("mem_kb") or 0) // 1024,
            disk_gb=h.disk_gb or int(f.get("disk_kb") or 0) // (1024 * 1024),
            hypervisor_type="QEMU", hypervisor_version=m.group(1) if m else (ver or "unknown"),
            cpu_arch=f.get("arch") or "x86_64", accelerator=self.accelerator.rstrip("?"))

    async def init_host(self, known: list[GuestSpec]) -> None:
        await asyncio.to_thread(self._state_dir)

    async def get_host_capabilities(self) -> HostCapabilities:
        return await asyncio.to_thread(self._capabilities)

    async def is_alive(self) -> bool:
        return await asyncio.to_thread(self.link.ping)

    async def close(self) -> None:
        await asyncio.to_thread(self.link.close)

    # ---- image cache -------------------------------------------------------------------
    def _base_path(self, img: ImageFile) -> str:
        return f"{self._state_dir()}/_base/{_safe_id(img.sha256, 'image checksum')}"

    def _ensure_base_sync(self, img: ImageFile) -> None:
        final = self._base_path(img)
        if self.link.exists(final):
            return
        part = f"{final}.part.{id(img):x}"
        try:
            self.link.put(img.path, part)
            self.image_bytes_sent += img.size or Path(img.path).stat().st_size
            self.link.sh(R.VERIFY_BASE, part, img.sha256, final, timeout=300)
        except (CommandError, OSError) as e:
            self.link.run(["rm", "-f", part], check=False)
            raise DriverError(f"host {self.host.name}: cannot cache image {img.id}: {e}") from None

    async def _ensure_base(self, img: ImageFile) -> str:
        """Once per image per host; concurrent first boots wait for the one transfer."""
        lock = self._base_locks.setdefault(img.sha256, asyncio.Lock())
        async with lock:
            if img.sha256 not in self._have_base:
                await asyncio.to_thread(self._ensure_base_sync, img)
                self._have_base.add(img.sha256)
        return "../../_base/" + img.sha256

    # ---- spawn -------------------------------------------------------------------------
    async def spawn(self, guest: GuestSpec) -> None:
        idir = await asyncio.to_thread(self._idir, guest.uuid)
        try:
            bases = {}
            for role in ("image", "kernel", "ramdisk"):
                img = getattr(guest, role)
                if img is not None:
                    bases[role] = await self._ensure_base(img)
            await asyncio.to_thread(self._spawn_sync, guest, idir, bases)
        except HostUnreachable:
            raise
        except DriverError as e:
            # the host's cache may have been emptied behind our back: check again next time
            for img in (guest.image, guest.kernel, guest.ramdisk):
                if img is not None:
                    self._have_base.discard(img.sha256)
            await asyncio.to_thread(self._cleanup, guest.uuid)
            raise DriverError(str(e), reschedulable=e.reschedulable) from None
        except Exception as e:
            await asyncio.to_thread(self._cleanup, guest.uuid)
            raise DriverError(f"host {self.host.name}: spawn failed: {e}") from None

    def _cleanup(self, uuid: str) -> None:
        try:
            self.link.sh(R.STOP, self._state_dir(), uuid, "KILL", "30", "rm", check=False)
        except DriverError:
            pass

    def _spawn_sync(self, guest: GuestSpec, idir: str, bases: dict) -> None:
        if "kernel" in bases and (not self.accelerator or self.accelerator == "tcg?"):
            self.accelerator = self._probe(f"{self._state_dir()}/_base/{guest.kernel.sha256}")
        self.link.run(["rm", "-rf", idir])  # a leftover of an earlier attempt
        self.link.run(["mkdir", "-p", idir])
        if guest.root_volume:
            root = f"../../volumes/{_safe_id(guest.root_volume['volume_id'], 'volume id')}.qcow2"
        elif "image" in bases:
            argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", bases["image"],
                    "-F", "qcow2" if guest.image.disk_format == "qcow2" else "raw", "disk.qcow2"]
            if guest.root_gb and guest.image.size <= guest.root_gb << 30:
                argv.append(f"{guest.root_gb}G")
            self.link.sh(R.IN_DIR, idir, *argv)
            root = "disk.qcow2"
        else:
            raise DriverError("no root disk: neither an image nor a root volume", reschedulable=False)
        with tempfile.TemporaryDirectory() as tmp:
            iso = Path(tmp, "disk.config")
            configdrive.build(guest, iso)
            self.link.write_file(f"{idir}/disk.config", iso.read_bytes())
        argv = self._qemu_argv(guest, root, bases)
        self.link.write_file(f"{idir}/launch.json", json.dumps(argv).encode())
        self._launch(idir, argv)

    def _qemu_argv(self, g: GuestSpec, root: str, bases: dict) -> list[str]:
        accel = (self.accelerator or "tcg").rstrip("?")
        argv = ["qemu-system-x86_64", "-name", f"guest={g.uuid}", "-M", "pc,hpet=off", "-accel", accel,
                "-smp", str(max(1, g.vcpus)), "-m", str(max(96, g.memory_mb)),
                "-nodefaults", "-no-user-config", "-display", "none",
                "-chardev", "file,id=console0,path=console.log,append=on",
                "-serial", "chardev:console0",
                "-qmp", "unix:qmp.sock,server=on,wait=off", "-pidfile", "qemu.pid", "-daemonize"]
        if accel == "kvm":
            argv += ["-cpu", "host"]
        if "kernel" in bases:
            argv += ["-kernel", bases["kernel"], "-append", g.kernel_cmdline or DEFAULT_CMDLINE]
            if "ramdisk" in bases:
                argv += ["-initrd", bases["ramdisk"]]
        argv += ["-drive", f"file={root},if=virtio,format=qcow2",
                 "-drive", "file=disk.config,if=virtio,format=raw,readonly=on"]
        for v in g.volumes:
            argv += _volume_args(v["volume_id"])
        for i, vif in enumerate(g.network_info):
            mac = vif.get("mac_address") or ""
            if not _MAC.match(mac):
                raise DriverError(f"invalid MAC address {mac!r}", reschedulable=False)
            netdev = f"user,id=net{i}"
            try:  # slirp on the port's own subnet, so the fixed IP and gateway work inside
                net = ipaddress.ip_network(vif["cidr"], strict=False)
                gw = ipaddress.ip_address(vif["gateway"])
                if net.version == 4 and net.prefixlen <= 28 and gw in net:
                    netdev += f",net={net},host={gw}"
            except (KeyError, TypeError, ValueError):
                pass
            argv += ["-netdev", netdev, "-device", f"virtio-net-pci,netdev=net{i},mac={mac}"]
        return argv

    def _launch(self, idir: str, argv: list[str]) -> None:
        rc, _, err = self.link.sh(R.LAUNCH, idir, *argv, timeout=60, check=False)
        if rc != 0:
            raise DriverError(f"host {self.host.name}: qemu failed to start: "
                              f"{err.strip()[-400:] or f'exit {rc}'}")
        uuid = idir.rsplit("/", 1)[1]
        if self._status([uuid]).get(uuid) != power_state.RUNNING:
            raise DriverError(f"host {self.host.name}: qemu exited right after starting")

    # ---- power -------------------------------------------------------------------------
    def _status(self, uuids: list[str]) -> dict[str, int]:
        _, out, _ = self.link.sh(R.STATUS, self._state_dir(), *uuids)
        res = {}
        for line in out.splitlines():
            u, _, st = line.partition(" ")
            if st != "missing":
                res[u] = _STATES.get(st, power_state.NOSTATE)
        return res

    def _require(self, uuid: str) -> int:
        st = self._status([_safe_id(uuid, "instance uuid")])
        if uuid not in st:
            raise InstanceNotFound(uuid)
        return st[uuid]

    def _qmp(self, uuid: str, command: str, timeout: float = 5.0) -> dict | None:
        """A QMP command via python3 on the host; None when the host has no python3."""
        if not self._facts.get("python3"):
            return None
        rc, out, err = self.link.sh(R.IN_DIR, self._idir(uuid), "python3", "-c", R.QMP_PY,
                                    "qmp.sock", command, str(timeout), timeout=timeout + 5,
                                    check=False)
        if rc != 0:
            raise DriverError(f"host {self.host.name}: QMP {command} failed: {err.strip()[-200:]}")
        return json.loads(out)

    def _stop_sync(self, uuid: str, sig: str, wait: float) -> bool:
        _, out, _ = self.link.sh(R.STOP, self._state_dir(), uuid, sig, str(int(wait * 10)),
                                 "keep", timeout=wait + 30)
        return out.strip() == "stopped"

    def _power_off_sync(self, uuid: str, timeout: float) -> None:
        if self._require(uuid) != power_state.RUNNING:
            self._stop_sync(uuid, "none", 0)  # forget a stale pidfile: it is shut down now
            return
        try:  # ACPI power button first, like nova's clean shutdown
            sent = self._qmp(uuid, "system_powerdown") is not None
        except DriverError:
            sent = False
        if self._stop_sync(uuid, "none" if sent else "TERM", timeout):
            return
        try:
            self._qmp(uuid, "quit")
        except DriverError:
            pass
        if not self._stop_sync(uuid, "KILL", 5):
            raise DriverError(f"host {self.host.name}: guest {uuid} does not stop", reschedulable=False)

    def _power_on_sync(self, uuid: str) -> None:
        if self._require(uuid) == power_state.RUNNING:
            return
        idir = self._idir(uuid)
        argv = json.loads(self.link.read_file(f"{idir}/launch.json"))
        self._launch(idir, argv)

    def _reboot_sync(self, uuid: str, reboot_type: str) -> None:
        if reboot_type.upper() == "SOFT" and self._require(uuid) == power_state.RUNNING:
            try:  # as nova: ask the guest to shut down, start it again; if it will not, HARD
                if self._qmp(uuid, "system_powerdown") is not None and \
                        self._stop_sync(uuid, "none", self._soft_reboot_wait):
                    return self._power_on_sync(uuid)
            except DriverError:
                pass
        self._require(uuid)
        if not self._stop_sync(uuid, "KILL", 5):
            raise DriverError(f"host {self.host.name}: guest {uuid} does not stop", reschedulable=False)
        self._power_on_sync(uuid)

    async def power_off(self, uuid: str, timeout: float = 10.0) -> None:
        await asyncio.to_thread(self._power_off_sync, uuid, timeout)

    async def power_on(self, uuid: str) -> None:
        await asyncio.to_thread(self._power_on_sync, uuid)

    async def reboot(self, uuid: str, reboot_type: str) -> None:
        await asyncio.to_thread(self._reboot_sync, uuid, reboot_type)

    async def destroy(self, uuid: str) -> None:
        _safe_id(uuid, "instance uuid")
        await asyncio.to_thread(self.link.sh, R.STOP, await asyncio.to_thread(self._state_dir),
                                uuid, "KILL", "50", "rm")

    def _power_state_sync(self, uuid: str) -> int:
        st = self._status([uuid]).get(uuid, power_state.NOSTATE)
        if st == power_state.RUNNING:  # the process runs; QMP says whether the vCPUs do
            try:
                reply = self._qmp(uuid, "query-status", timeout=3)
                if reply and reply.get("return", {}).get("status") in ("paused", "suspended"):
                    return power_state.PAUSED
            except (DriverError, ValueError):
                pass
        return st

    async def get_power_state(self, uuid: str) -> int:
        _safe_id(uuid, "instance uuid")
        return await asyncio.to_thread(self._power_state_sync, uuid)

    async def list_instances(self) -> dict[str, int]:
        return await asyncio.to_thread(self._status, [])

    async def get_console_output(self, uuid: str, tail: int | None = None) -> str:
        def _read():
            path = f"{self._idir(uuid)}/console.log"
            try:
                # last N lines: read a generous tail, then cut by lines
                data = self.link.read_file(path, None if tail is None else max(4096, tail * 512))
            except FileNotFoundError:
                self._require(uuid)
                return b""
            return data
        text = (await asyncio.to_thread(_read)).decode(errors="replace")
        if tail is not None:
            text = "".join(text.splitlines(keepends=True)[-tail:]) if tail > 0 else ""
        return text

    # ---- volumes -----------------------------------------------------------------------
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
        await asyncio.to_thread(self._volume_sync, volume_id, size_gb, base, fmt)

    async def delete_volume(self, volume_id: str) -> None:
        def _rm():
            vid = _safe_id(volume_id, "volume id")
            self.link.run(["rm", "-f", f"{self._state_dir()}/volumes/{vid}.qcow2"])
        await asyncio.to_thread(_rm)

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

    async def attach_volume(self, uuid: str, volume_id: str, device: str) -> None:
        # device (/dev/vdX) is a hint only, as in nova's libvirt driver: the guest names its
        # disks itself, in the order it finds them; the volume id is the disk's serial
        _safe_id(uuid, "instance uuid")
        try:
            await asyncio.to_thread(self._attach_volume_sync, uuid, volume_id)
        except ValueError as e:  # launch.json is not JSON
            raise DriverError(f"host {self.host.name}: bad launch arguments of {uuid}: {e}",
                              reschedulable=False) from None

    async def detach_volume(self, uuid: str, volume_id: str) -> None:
        _safe_id(uuid, "instance uuid")
        try:
            await asyncio.to_thread(self._detach_volume_sync, uuid, volume_id)
        except ValueError as e:
            raise DriverError(f"host {self.host.name}: bad launch arguments of {uuid}: {e}",
                              reschedulable=False) from None
