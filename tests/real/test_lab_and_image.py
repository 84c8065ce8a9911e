"""The lab's bookkeeping, the tiny image's build outputs and the config drive's content."""
from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from backend.lab import lab
from backend.lab.guestimage import INIT, MARKER, build_tiny, write_newc
from backend.virt.qemu.hostlink import HostLink
from backend.core.hosts import load_hosts
from backend.virt.qemu import configdrive
from backend.virt.driver import GuestSpec

pytestmark = pytest.mark.real


def test_lab_up_is_idempotent_and_status_lists_hosts(lab_home):
    before = {h["name"]: h["sshd_pid"] for h in lab.status(lab_home)}
    assert set(before) == {"lab-1", "lab-2"} and all(before.values())
    lab.up(lab_home, hosts=2, log=lambda m: None)
    after = {h["name"]: h["sshd_pid"] for h in lab.status(lab_home)}
    assert after == before  # reused, not restarted
    hosts = load_hosts(lab.hosts_file(lab_home))
    assert [h.name for h in hosts] == ["lab-1", "lab-2"]
    assert all(h.user == "pocketstack" and h.driver == "qemu" for h in hosts)
    assert len({(h.address, h.port) for h in hosts}) == 2
    assert len({h.state_dir for h in hosts}) == 2
    kh = Path(hosts[0].known_hosts).read_text()
    assert kh.count("ssh-ed25519") == 2


def test_tiny_build_is_cached_and_reproducible(tiny_build, tmp_path):
    said = []
    again = build_tiny(Path(tiny_build.kernel).parent, log=said.append)
    assert again == tiny_build
    assert not [m for m in said if "download" in m], said  # a cache hit: nothing fetched
    assert Path(tiny_build.kernel).read_bytes()[:4] == b"\x7fELF"  # vmlinux, for PVH boot
    listing = subprocess.run(["cpio", "-it"], stdin=open(tiny_build.ramdisk, "rb"),
                             capture_output=True, text=True, check=True).stdout.split()
    assert "init" in listing and "bin/busybox" in listing
    order = Path(tmp_path, "order")
    subprocess.run(["cpio", "-i", "--to-stdout", "lib/modules/load-order"],
                   stdin=open(tiny_build.ramdisk, "rb"), stdout=open(order, "wb"), check=True)
    mods = order.read_text().split()
    for first, then in (("virtio_ring", "virtio"), ("virtio", "virtio_pci"),
                        ("failover", "net_failover"), ("net_failover", "virtio_net"),
                        ("cdrom", "isofs")):
        assert mods.index(first) < mods.index(then)
    assert MARKER in INIT
    a, b = tmp_path / "a.cpio", tmp_path / "b.cpio"
    for out in (a, b):
        write_newc([("x", 0o100644, b"same")], out)
    assert a.read_bytes() == b.read_bytes()


def test_config_drive_layout(tmp_path):
    g = GuestSpec(uuid=str(uuid.uuid4()), name='evil";\n"hostname": "pwned', hostname="good",
                  project_id="p", availability_zone="az1", vcpus=1, memory_mb=128, root_gb=1,
                  network_info=[{"port_id": "port-1", "mac_address": "fa:16:3e:aa:bb:cc",
                                 "fixed_ip": "10.1.2.3", "network_id": "n1",
                                 "cidr": "10.1.2.0/24", "gateway": "10.1.2.1", "prefixlen": 24}])
    iso = tmp_path / "disk.config"
    configdrive.build(g, iso)
    label = subprocess.run(["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True).stdout
    assert "Volume id: config-2" in label

    def read(path):
        return subprocess.run(["isoinfo", "-R", "-x", path, "-i", str(iso)],
                              capture_output=True, text=True, check=True).stdout
    md = json.loads(read("/openstack/latest/meta_data.json"))
    assert md["uuid"] == g.uuid and md["name"] == g.name and md["hostname"] == "good"
    assert md["project_id"] == "p" and md["availability_zone"] == "az1"
    # the guest's sed reads `"hostname": ` at a line start: the name cannot forge one
    assert [l for l in read("/openstack/latest/meta_data.json").splitlines()
            if l.lstrip().startswith('"hostname"')] == [' "hostname": "good",']
    nd = json.loads(read("/openstack/latest/network_data.json"))
    assert nd["links"][0]["ethernet_mac_address"] == "fa:16:3e:aa:bb:cc"
    net = nd["networks"][0]
    assert (net["ip_address"], net["netmask"], net["link"]) == ("10.1.2.3", "255.255.255.0",
                                                                 nd["links"][0]["id"])
    assert net["routes"][0]["gateway"] == "10.1.2.1"


def _as_lab_user(script: str) -> subprocess.CompletedProcess:
    pw = pwd.getpwnam(lab.LAB_USER)
    return subprocess.run(["sh", "-c", script], user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                          capture_output=True, text=True, cwd="/")


def test_lab_user_links_never_make_root_write_or_signal_elsewhere(lab_home, tmp_path):
    """The lab user plants links where an earlier `lab up` wrote as root (authorized_keys,
    state/ in a lab-N directory that user owned) and a pidfile naming a root process:
    `lab up` touches neither target, `lab up` with fewer hosts signals nobody else."""
    pw = pwd.getpwnam(lab.LAB_USER)
    target = tmp_path / "precious"
    target.write_text("root's own\n")
    target.chmod(0o600)
    target_dir = tmp_path / "precious-dir"
    target_dir.mkdir(mode=0o700)
    before = (target.stat(), target_dir.stat())
    side = lab.LAB_ROOT / lab.lab_id(lab_home) / "lab-3"
    side.mkdir(parents=True, exist_ok=True)
    os.chown(side, pw.pw_uid, pw.pw_gid)  # lab-3 as an earlier version left it
    planted = _as_lab_user(f"cd {side} && rm -rf state authorized_keys && "
                           f"ln -s {target} authorized_keys && ln -s {target_dir} state")
    assert planted.returncode == 0, planted.stderr
    victim = subprocess.Popen(["python3", "-c", "import time; time.sleep(600)", "qemu"])
    try:
        lab.up(lab_home, hosts=3, log=lambda m: None)
        after = (target.stat(), target_dir.stat())
        assert target.read_text() == "root's own\n"
        assert [(s.st_uid, s.st_gid, s.st_mode) for s in after] == \
               [(s.st_uid, s.st_gid, s.st_mode) for s in before]
        for d in (lab.LAB_ROOT, side.parent, side):
            st = d.lstat()
            assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o755, d
        keys = (side / "authorized_keys").lstat()
        assert stat.S_ISREG(keys.st_mode) and keys.st_uid == 0
        assert (side / "authorized_keys").read_text() == (lab.lab_dir(lab_home) / "id_ed25519.pub").read_text()
        st = (side / "state").lstat()
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == pw.pw_uid
        # the lab user can no longer plant anything where root writes
        again = _as_lab_user(f"ln -sfn {target} {side}/authorized_keys || exit 3; "
                             f"touch {side}/x || exit 4")
        assert again.returncode == 3, again
        h = {x.name: x for x in load_hosts(lab.hosts_file(lab_home))}["lab-3"]
        assert HostLink(h, connect_attempts=1).run(["true"])[0] == 0  # sshd reads the keys
        # a pidfile in the lab user's state naming root's process "qemu"
        pf = _as_lab_user(f"mkdir -p {side}/state/instances/x && echo {victim.pid} > "
                          f"{side}/state/instances/x/qemu.pid")
        assert pf.returncode == 0, pf.stderr
        lab.up(lab_home, hosts=2, log=lambda m: None)  # stops lab-3 and its guests
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
        lab.up(lab_home, hosts=2, log=lambda m: None)
