"""The default guest image ("tiny"), built offline from Debian packages.

kernel:    the uncompressed vmlinux unpacked from linux-image-amd64's bzImage (QEMU boots it
           through PVH: ~2 s to the marker under TCG instead of ~5.5 s for the bzImage)
initramfs: busybox-static + the virtio/iso9660 modules; its /init reads the config drive, sets
           the hostname, takes its address by DHCP (udhcpc; network_data.json's static address
           when no lease comes), prints `pocketstack guest booted: <hostname> <ip>`, then runs
           user_data if it is a script, its output between `--- user_data begin ---` and
           `--- user_data end rc=N ---`
disk:      a small raw disk (the root disk the instance's overlay is made on)

Everything is cached under <home>/cache/tiny/ and the outputs are byte-for-byte reproducible
(fixed mtimes in the cpio), so a rebuild gives the same sha256 and the same image cache keys.
"""
from __future__ import annotations

import hashlib
import json
import lzma
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

# Loaded in this order by busybox insmod (there is no kmod/modules.dep in the initramfs);
# the order is re-derived from each module's `depends=` so a kernel update cannot break it.
MODULES = ["virtio_pci", "virtio_net", "virtio_blk", "isofs", "button", "evdev"]
# quiet: serial output is slow under TCG; pci=noacpi skips ACPI PCI-link IRQ setup (~0.6 s);
# lpj/tsc/no_timer_check skip calibration loops. Measured ~2.8 s to the marker under TCG.
# i8042/8250/cryptomgr: skip probing hardware the guest does not have, and self-tests.
CMDLINE = ("console=ttyS0 quiet panic=-1 pci=noacpi mitigations=off lpj=4000000 tsc=reliable "
           "no_timer_check audit=0 nokaslr i8042.nokbd i8042.noaux 8250.nr_uarts=1 "
           "cryptomgr.notests random.trust_cpu=on "
           # the slowest built-in initcalls under TCG that a tiny guest has no use for
           "initcall_blacklist=init_kprobe_trace,debugfs_kprobe_init,load_system_certificate_list,"
           "crypto_kdf108_init,tracer_init_tracefs,init_ima,init_encrypted,init_zswap")
MARKER = "pocketstack guest booted:"
DISK_BYTES = 1 << 20
# 3: a shell on the serial console after the marker; 4: DHCP (udhcpc) and user_data scripts;
# 5: the MTU the DHCP server gives (option 26: a VXLAN network's 1450)
FORMAT_VERSION = 5

INIT = r"""#!/bin/sh
export PATH=/bin
mkdir -p /proc /sys /dev /mnt /tmp /etc
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
while read m; do insmod "/lib/modules/$m.ko" 2>/dev/null; done < /lib/modules/load-order
out=/dev/console
[ -c /dev/ttyS0 ] && out=/dev/ttyS0
# the config drive: label config-2, as nova writes it (a virtio disk here)
cd=""
for try in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  cd=$(findfs LABEL=config-2 2>/dev/null) && break
  sleep 0.1
done
jget() { sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1; }
host=pocketstack
ip=none
h=""
ud=""
if [ -n "$cd" ] && mount -t iso9660 -o ro "$cd" /mnt; then
  md=/mnt/openstack/latest/meta_data.json
  nd=/mnt/openstack/latest/network_data.json
  h=$(jget hostname "$md")
  [ -n "$h" ] && host="$h"
  a=$(jget ip_address "$nd"); mask=$(jget netmask "$nd"); gw=$(jget gateway "$nd")
  mac=$(jget ethernet_mac_address "$nd")
  dev=eth0
  for n in /sys/class/net/*; do
    [ "$(cat "$n/address" 2>/dev/null)" = "$mac" ] && dev=${n##*/}
  done
  ifconfig lo 127.0.0.1 up
  # the address by DHCP (the network's DHCP agent knows the port's MAC); one discover and
  # one second's wait at most, then network_data.json's static address
  if [ -n "$mac" ] && [ -e "/sys/class/net/$dev" ]; then
    udhcpc -i "$dev" -f -n -q -t 1 -T 1 -s /etc/udhcpc.script > $out 2>&1
    [ -s /tmp/dhcp-ip ] && ip=$(cat /tmp/dhcp-ip)
  fi
  if [ "$ip" = none ] && [ -n "$a" ]; then
    ifconfig "$dev" "$a" netmask "${mask:-255.255.255.0}" up && ip="$a"
    [ -n "$gw" ] && route add default gw "$gw" 2>/dev/null
    echo "no DHCP lease: static address $a from network_data.json" > $out
  fi
  [ -z "$h" ] && [ -s /tmp/dhcp-hostname ] && host=$(cat /tmp/dhcp-hostname)
  [ -f /mnt/openstack/latest/user_data ] && ud=/mnt/openstack/latest/user_data
fi
hostname "$host"
echo "$MARKER_TEXT $host $ip" > $out
# ACPI power button (QMP system_powerdown) -> power off at once
for e in /sys/class/input/event*; do
  if [ "$(cat "$e/device/name" 2>/dev/null)" = "Power Button" ]; then
    (head -c 1 "/dev/input/${e##*/}" >/dev/null && poweroff -f) &
  fi
done
# user_data that is a script (#!) runs once, to its end, its output on the console between
# markers (tests read it there); cloud-config and other formats are not handled
if [ -n "$ud" ] && [ "$(head -c 2 "$ud")" = "#!" ]; then
  cp "$ud" /tmp/user_data
  echo "--- user_data begin ---" > $out
  sh /tmp/user_data < /dev/null > $out 2>&1
  echo "--- user_data end rc=$? ---" > $out
fi
# the serial console: a shell with ttyS0 as its controlling terminal (so ^C reaches it),
# started again when it exits, as a getty would
cd /
export HOME=/ PS1='/ # '
while true; do
  setsid -c sh <$out >$out 2>&1
  sleep 1
done
""".replace("$MARKER_TEXT", MARKER)

# udhcpc's event script ($1: deconfig, bound, renew, leasefail, nak; the lease in the
# environment): it sets address, netmask, MTU (a VXLAN network's is 1450), default route,
# and notes address and host name
UDHCPC_SCRIPT = r"""#!/bin/sh
case "$1" in
  deconfig) ifconfig "$interface" 0.0.0.0 up ;;
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" ${mtu:+mtu "$mtu"} up
    for r in $router; do route add default gw "$r" dev "$interface" 2>/dev/null && break; done
    echo "$ip" > /tmp/dhcp-ip
    [ -n "$hostname" ] && echo "$hostname" > /tmp/dhcp-hostname ;;
esac
exit 0
"""


@dataclass
class TinyImage:
    kernel: str
    ramdisk: str
    disk: str
    cmdline: str
    kernel_version: str

    def sha256(self, which: str) -> str:
        return file_sha256(getattr(self, which))


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _run(argv: list[str], cwd: str | None = None) -> str:
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()[-400:]}")
    return p.stdout


def _apt_download(pkg: str, dest: str) -> Path:
    """apt-get download; on a fresh machine without package lists, update once and retry."""
    argv = ["apt-get", "download", "-o", "APT::Sandbox::User=root", pkg]
    try:
        _run(argv, cwd=dest)
    except RuntimeError:
        if os.geteuid() != 0:
            raise
        _run(["apt-get", "update", "-qq"])
        _run(argv, cwd=dest)
    debs = sorted(Path(dest).glob(f"{pkg}_*.deb"))
    if not debs:
        raise RuntimeError(f"apt-get download {pkg} produced no .deb")
    return debs[-1]


def extract_vmlinux(bzimage: bytes) -> bytes:
    """extract-vmlinux: find the xz stream inside the bzImage and decompress it to the ELF."""
    start = 0
    while True:
        i = bzimage.find(b"\xfd7zXZ\x00", start)
        if i < 0:
            raise RuntimeError("no xz payload found in the kernel image")
        try:
            out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(bzimage[i:])
            if out[:4] == b"\x7fELF":
                return out
        except lzma.LZMAError:
            pass
        start = i + 1


def _module_depends(ko: Path) -> list[str]:
    data = ko.read_bytes()
    i = data.find(b"\x00depends=")
    if i < 0:
        return []
    val = data[i + 9:data.index(b"\x00", i + 9)].decode()
    return [d for d in val.split(",") if d]


def module_order(moddir: Path, wanted: list[str]) -> list[tuple[str, Path]]:
    """Dependencies first (depth-first on `depends=`), each module once."""
    index = {p.name[:-3]: p for p in moddir.rglob("*.ko")}
    order: list[tuple[str, Path]] = []
    seen: set[str] = set()

    def visit(name: str):
        if name in seen:
            return
        seen.add(name)
        if name not in index:
            raise RuntimeError(f"kernel module {name} not found in the kernel package")
        for dep in _module_depends(index[name]):
            visit(dep)
        order.append((name, index[name]))

    for m in wanted:
        visit(m)
    return order


def write_newc(entries: list[tuple[str, int, bytes]], out: Path) -> None:
    """A cpio 'newc' archive (what the kernel unpacks as initramfs). entries: (path, mode, data);
    symlinks carry their target as data. mtime 0 keeps the output reproducible."""
    with open(out, "wb") as f:
        def emit(name: str, mode: int, data: bytes, ino: int):
            nb = name.encode() + b"\x00"
            hdr = "070701" + "".join(f"{v:08x}" for v in (
                ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
            f.write(hdr.encode() + nb)
            f.write(b"\x00" * ((4 - (110 + len(nb)) % 4) % 4))
            f.write(data)
            f.write(b"\x00" * ((4 - len(data) % 4) % 4))
        for ino, (name, mode, data) in enumerate(entries, start=1):
            emit(name, mode, data, ino)
        emit("TRAILER!!!", 0, b"", 0)


def _busybox(tmp: str) -> Path:
    """The static busybox: the installed busybox-static if there is one, else its package."""
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "busybox-static"],
                       capture_output=True, text=True)
    if p.returncode == 0 and "installed" in p.stdout and Path("/bin/busybox").exists():
        return Path("/bin/busybox")
    deb = _apt_download("busybox-static", tmp)
    _run(["dpkg-deb", "-x", str(deb), os.path.join(tmp, "bb")])
    return Path(tmp, "bb/bin/busybox")


def build_initramfs(busybox: Path, modules: list[tuple[str, Path]], out: Path) -> None:
    d, f, ln = 0o040755, 0o100755, 0o120777
    entries: list[tuple[str, int, bytes]] = [(n, d, b"") for n in (
        "bin", "dev", "etc", "lib", "lib/modules", "mnt", "proc", "sys", "tmp")]
    entries.append(("bin/busybox", f, busybox.read_bytes()))
    for applet in ("sh", "mount", "insmod", "mkdir", "sed", "head", "cat", "findfs", "sleep",
                   "ifconfig", "route", "hostname", "echo", "poweroff", "ip", "ls", "dmesg",
                   "udhcpc", "cp", "rm", "setsid",
                   # for user_data scripts (the tests look inside guests with them)
                   "ping", "nc", "grep", "awk", "tr", "cut", "wc", "seq", "tail", "uname", "date",
                   "true", "false", "test", "[", "printf", "expr", "ps", "kill", "touch", "id",
                   "env", "arp", "netstat", "timeout", "base64", "sha256sum", "uptime"):
        entries.append((f"bin/{applet}", ln, b"busybox"))
    for name, path in modules:
        entries.append((f"lib/modules/{name}.ko", 0o100644, path.read_bytes()))
    entries.append(("lib/modules/load-order", 0o100644,
                    "".join(f"{n}\n" for n, _ in modules).encode()))
    entries.append(("init", f, INIT.encode()))
    entries.append(("etc/udhcpc.script", f, UDHCPC_SCRIPT.encode()))
    write_newc(entries, out)


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def default_cache_dir() -> Path:
    from backend.core.config import default_home
    return default_home() / "cache" / "tiny"


def build_tiny(cache_dir: str | os.PathLike | None = None, log=lambda msg: None) -> TinyImage:
    """Build (or reuse) the tiny image's three files. Idempotent: a complete cache is returned
    as it is, without touching the package registry."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    manifest = cache / "manifest.json"
    if manifest.exists():
        try:
            m = json.loads(manifest.read_text())
            if m.pop("format", None) == FORMAT_VERSION and all(
                    Path(m[k]).exists() for k in ("kernel", "ramdisk", "disk")):
                m["cmdline"] = CMDLINE  # not a build output: always the current one
                return TinyImage(**m)
        except (ValueError, KeyError, TypeError):
            pass
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tiny-", dir=cache) as tmp:
        log("downloading linux-image-amd64 (apt-get download)")
        meta = _apt_download("linux-image-amd64", tmp)
        dep = _run(["dpkg-deb", "-f", str(meta), "Depends"]).split(",")[0].split()[0]
        deb = _apt_download(dep, tmp)
        log(f"unpacking {deb.name}")
        root = Path(tmp, "root")
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        vmlinuz = sorted(root.glob("boot/vmlinuz-*"))[-1]
        kver = vmlinuz.name[len("vmlinuz-"):]
        kernel = cache / f"vmlinux-{kver}"
        log("unpacking vmlinux from the bzImage's xz payload")
        # every output is written aside and renamed: a concurrent build never exposes half a file
        _atomic(kernel, extract_vmlinux(vmlinuz.read_bytes()))
        mods = module_order(root / "lib/modules" / kver, MODULES)
        ramdisk = cache / f"initramfs-{kver}.cpio"
        build_initramfs(_busybox(tmp), mods, Path(tmp, "initramfs.cpio"))
        os.replace(Path(tmp, "initramfs.cpio"), ramdisk)
        disk = cache / "disk.raw"  # a recognisable, reproducible 1 MiB raw disk
        _atomic(disk, b"pocketstack tiny disk\n".ljust(DISK_BYTES, b"\x00"))
    img = TinyImage(str(kernel), str(ramdisk), str(disk), CMDLINE, kver)
    # the manifest last: a half-built cache is never "complete"
    _atomic(manifest, json.dumps({**asdict(img), "format": FORMAT_VERSION}, indent=1).encode())
    log(f"tiny image ready in {cache}")
    return img


if __name__ == "__main__":  # python -m backend.lab.guestimage [cache_dir]
    import sys
    print(asdict(build_tiny(sys.argv[1] if len(sys.argv) > 1 else None, log=print)))
