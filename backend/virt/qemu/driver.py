"""The qemu driver: real guests on a host reached over SSH (backend.virt.qemu.hostlink).

Every blocking SSH step runs in a thread of the host's own pool; the scripts it runs on the host
are constants in qemu_remote (the host layout is described there). Power state comes from
the pidfile and /proc (a clean qemu exit removes the pidfile, a killed one leaves it: CRASHED);
power-down and quit go through QMP with python3 on the host, or signals when it has none.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import json
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tenacity

from backend.core import power_state
from backend.virt.qemu.hostlink import CommandError, HostLink
from backend.virt.qemu import configdrive, console as qemu_console, images as qemu_images, remote as R
from backend.virt.qemu.vif import QemuVifs, netdev_args
from backend.virt.qemu.pause import QemuPause
from backend.virt.qemu.volumes import QemuVolumes, _safe_id, _volume_args
from backend.virt.driver import (ComputeDriver, DriverError, GuestSpec, HostCapabilities,
                                 HostUnreachable, ImageFile, InstanceNotFound)

DEFAULT_STATE_DIR = ".pocketstack-host"  # relative to the remote user's home
DEFAULT_CMDLINE = "console=ttyS0 quiet panic=-1"
# the serial log on the host: rotated at this size with one older part kept (virtlogd's
# max_size is 2 MiB); the controller reads only the last MAX_CONSOLE_BYTES, as nova does
CONSOLE_LOG_MAX = 2 << 20
MAX_CONSOLE_BYTES = 100 << 10
CONSOLE_CHARDEV = "pipe,id=console0,path=console"            # console.in / console.out
_OLD_CHARDEV = "file,id=console0,path=console.log,append=on"  # launch.json of earlier versions
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_STATES = {"running": power_state.RUNNING, "shutdown": power_state.SHUTDOWN,
           "crashed": power_state.CRASHED}


class QemuDriver(QemuVolumes, QemuVifs, QemuPause, ComputeDriver):
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
        self._pool: ThreadPoolExecutor | None = None
        self.console_log_max = CONSOLE_LOG_MAX

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
        await self._thread(self._state_dir)

    async def get_host_capabilities(self) -> HostCapabilities:
        return await self._thread(self._capabilities)

    async def is_alive(self) -> bool:
        return await self._thread(self.link.ping)

    async def close(self) -> None:
        await self._thread(self.link.close)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    async def _thread(self, fn, *args, **kw):
        """fn in a thread of this host's own pool: calls hung on a host (its link cut, until
        LinkDead) must never hold the threads other hosts' heartbeats and builds need (the
        loop's default pool has cpu_count + 4)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=HostLink.MAX_CHANNELS + 4,
                                            thread_name_prefix=f"host-{self.host.name}")
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kw)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    # ---- image cache -------------------------------------------------------------------
    def _base_path(self, img: ImageFile) -> str:
        return f"{self._state_dir()}/_base/{_safe_id(img.sha256, 'image checksum')}"

    def _ensure_base_sync(self, img: ImageFile) -> None:
        final = self._base_path(img)
        if self.link.exists(final):
            # the cache may predate the image checks, or have been changed behind our back
            if self._inspect_base(img, final, verify_sum=True):
                return
            self.link.run(["rm", "-f", final])  # not the image it is named after: fetch again
        part = f"{final}.part.{id(img):x}"
        try:
            self._put_with_retry(img.path, part)
            self.image_bytes_sent += img.size or Path(img.path).stat().st_size
            self.link.sh(R.VERIFY_BASE, part, img.sha256, final, timeout=300)
        except (CommandError, OSError) as e:
            self.link.run(["rm", "-f", part], check=False)
            raise DriverError(f"host {self.host.name}: cannot cache image {img.id}: {e}") from None
        if not self._inspect_base(img, final, verify_sum=False):
            raise DriverError(f"host {self.host.name}: image {img.id} changed on the host as it was cached")

    def _inspect_base(self, img: ImageFile, path: str, verify_sum: bool) -> bool:
        limit = getattr(self.config, "image_max_virtual_size", 1 << 40)
        return qemu_images.inspect_cached(self.link, img, path, verify_sum, limit)

    def _put_with_retry(self, local: str, remote: str) -> None:
        """The upload goes to a .part file renamed only after its checksum: a transfer cut by
        a dropped connection (a busy host, a hiccup on another channel) is simply sent again
        on a fresh connection, a few times, before the spawn fails."""
        for attempt in tenacity.Retrying(stop=tenacity.stop_after_attempt(3), reraise=True,
                                         wait=tenacity.wait_exponential(multiplier=0.5, max=4),
                                         retry=tenacity.retry_if_exception_type(HostUnreachable)):
            with attempt:
                self.link.put(local, remote)

    async def _ensure_base(self, img: ImageFile) -> str:
        """Once per image per host; concurrent first boots wait for the one transfer."""
        lock = self._base_locks.setdefault(img.sha256, asyncio.Lock())
        async with lock:
            if img.sha256 not in self._have_base:
                await self._thread(self._ensure_base_sync, img)
                self._have_base.add(img.sha256)
        return "../../_base/" + img.sha256

    # ---- spawn -------------------------------------------------------------------------
    async def spawn(self, guest: GuestSpec) -> None:
        idir = await self._thread(self._idir, guest.uuid)
        try:
            bases = {}
            for role in ("image", "kernel", "ramdisk"):
                img = getattr(guest, role)
                if img is not None:
                    bases[role] = await self._ensure_base(img)
            await self._thread(self._spawn_sync, guest, idir, bases)
        except HostUnreachable:
            raise
        except DriverError as e:
            # the host's cache may have been emptied behind our back: check again next time
            for img in (guest.image, guest.kernel, guest.ramdisk):
                if img is not None:
                    self._have_base.discard(img.sha256)
            await self._thread(self._cleanup, guest.uuid)
            raise DriverError(str(e), reschedulable=e.reschedulable) from None
        except Exception as e:
            await self._thread(self._cleanup, guest.uuid)
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
                "-chardev", CONSOLE_CHARDEV,
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
            if vif.get("vif_type") == "bridge":  # bound as a tap on the network's bridge (plug_vifs made it)
                argv += netdev_args(i, vif) + ["-device", f"virtio-net-pci,netdev=net{i},mac={mac}"]
                continue
            netdev = f"user,id=net{i}"
            try:  # slirp on the port's own subnet, so the fixed IP and gateway work inside
                net = ipaddress.ip_network(vif["cidr"], strict=False)
                gw = ipaddress.ip_address(vif["gateway"])
                if net.version == 4 and net.prefixlen <= 28 and gw in net:
                    netdev += f",net={net},host={gw}"
                    fixed = ipaddress.ip_address(vif["fixed_ip"])
                    if fixed in net and fixed != gw:  # slirp's DHCP then leases the port's address
                        # slirp's DNS address (net+3 by default) must not be that address
                        dns = next(a for a in (net.broadcast_address - 1, net.broadcast_address - 2)
                                   if a not in (fixed, gw))
                        netdev += f",dhcpstart={fixed},dns={dns}"
            except (KeyError, TypeError, ValueError):
                pass
            argv += ["-netdev", netdev, "-device", f"virtio-net-pci,netdev=net{i},mac={mac}"]
        return argv

    def _launch(self, idir: str, argv: list[str]) -> None:
        argv = [CONSOLE_CHARDEV if a == _OLD_CHARDEV else a for a in argv]  # now capped too
        rc, _, err = self.link.sh(R.LAUNCH, idir, R.CONSOLE_LOGGER, str(int(self.console_log_max)),
                                  *argv, timeout=60, check=False)
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
        await self._thread(self._power_off_sync, uuid, timeout)

    async def power_on(self, uuid: str) -> None:
        await self._thread(self._power_on_sync, uuid)

    async def reboot(self, uuid: str, reboot_type: str) -> None:
        await self._thread(self._reboot_sync, uuid, reboot_type)

    async def destroy(self, uuid: str) -> None:
        _safe_id(uuid, "instance uuid")
        await self._thread(self.link.sh, R.STOP, await self._thread(self._state_dir),
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
        return await self._thread(self._power_state_sync, uuid)

    async def list_instances(self) -> dict[str, int]:
        return await self._thread(self._status, [])

    async def attach_console(self, uuid: str):
        def _open():
            idir = self._idir(uuid)
            return qemu_console.open_console(self.link, idir, uuid, loop, bool(self._facts.get("python3")))
        loop = asyncio.get_running_loop()
        return await self._thread(_open)

    async def get_console_output(self, uuid: str, tail: int | None = None) -> str:
        def _read():
            path = f"{self._idir(uuid)}/console.log"
            # last N lines: a generous tail, then cut by lines; never more than nova reads
            want = MAX_CONSOLE_BYTES if tail is None else min(MAX_CONSOLE_BYTES, max(4096, tail * 512))
            try:
                data = self.link.read_file(path, want)
            except FileNotFoundError:
                self._require(uuid)
                data = b""
            if len(data) < want:  # rotated not long ago: the rest is in the older part
                try:
                    data = self.link.read_file(path + ".0", want - len(data)) + data
                except FileNotFoundError:
                    pass
            return data
        text = (await self._thread(_read)).decode(errors="replace")
        if tail is not None:
            text = "".join(text.splitlines(keepends=True)[-tail:]) if tail > 0 else ""
        return text
