"""`lab up`'s install of the privileged helper: root's files, a sudoers rule that lets the lab
user run the helper and nothing else, links never followed, /dev/net/tun opened to qemu."""
from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from backend.lab import helper_install as hi
from backend.lab.lab import ensure_user


@pytest.fixture(scope="module")
def installed():
    if os.geteuid() != 0:
        pytest.fail("installing the helper needs root")
    ensure_user()
    hi.install_helper()
    return hi.HELPER_DIR


def as_lab_user(*argv):
    return subprocess.run(["runuser", "-u", hi.LAB_USER, "--", *argv], capture_output=True, text=True,
                          timeout=60, cwd="/")


def test_files_are_roots_and_match_the_source(installed):
    for d in (hi.HELPER_ROOT, installed):
        st = os.lstat(d)
        assert stat.S_ISDIR(st.st_mode) and (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755)
    names = sorted(p.name for p in installed.glob("*.py"))
    assert names == sorted(p.name for p in hi.HELPER_SRC.glob("*.py"))
    for n in names:
        st = os.lstat(installed / n)
        assert stat.S_ISREG(st.st_mode) and (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644)
        assert (installed / n).read_bytes() == (hi.HELPER_SRC / n).read_bytes()
    st = os.lstat(hi.SUDOERS)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o440)
    assert subprocess.run(["visudo", "-c", "-q", "-f", str(hi.SUDOERS)]).returncode == 0
    assert stat.S_IMODE(os.stat(hi.TUN).st_mode) == 0o666


def test_the_lab_user_runs_the_helper_and_nothing_else(installed):
    p = as_lab_user("sudo", "-n", "/usr/bin/python3", "-I", str(installed), "list")
    assert p.returncode == 0, p.stderr
    assert {"bridges", "vxlans", "taps"} <= set(json.loads(p.stdout))
    p = as_lab_user("sudo", "-n", "/usr/bin/python3", "-I", str(installed), "plug-port", "brq;id", "1",
                    "10.0.0.1", "tapx", "pocketstack")
    assert p.returncode == 2 and "bad interface name" in p.stderr
    for argv in (["/usr/bin/python3", "-c", "print(1)"], ["/usr/bin/python3", str(installed), "list"],
                 ["/usr/bin/python3", "-I", "/tmp", "list"], ["/bin/sh", "-c", "id"]):
        p = as_lab_user("sudo", "-n", *argv)
        assert p.returncode != 0 and "password is required" in p.stderr, (argv, p.stdout, p.stderr)


def test_a_planted_link_is_replaced_not_followed(installed, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    target = installed / "l2.py"
    target.unlink()
    target.symlink_to(victim)
    hi.install_helper()
    assert victim.read_text() == "keep"
    assert not target.is_symlink() and target.read_bytes() == (hi.HELPER_SRC / "l2.py").read_bytes()
