"""`lab up` installs the privileged network helper as a real host would have it (see
docs/real-compute.md): the modules of backend/privileged in HELPER_DIR (root's directories
0755 and files 0644, written without following links, as the lab's other root writes), a
sudoers rule letting the lab user run exactly `sudo -n /usr/bin/python3 -I HELPER_DIR <args>`,
and /dev/net/tun 0666 (Debian's udev default; some containers have 0600) so qemu, running as
the lab user, can open the tap made for that user."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from backend.lab.labfs import root_dir
from backend.privileged import INSTALL_DIR

LAB_USER = "pocketstack"
# the privileged network helper (backend/privileged) as hosts run it: root's files, and a
# sudoers rule that lets the lab user run exactly `python3 -I <dir> <args>` and nothing else
HELPER_DIR = Path(INSTALL_DIR)
HELPER_ROOT = HELPER_DIR.parent
HELPER_SRC = Path(__file__).resolve().parent.parent / "privileged"
SUDOERS = Path("/etc/sudoers.d/pocketstack-lab")
TUN = Path("/dev/net/tun")


class InstallError(RuntimeError):
    pass


def _write_root_file(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """name in a root-owned directory: a temporary name made O_EXCL|O_NOFOLLOW, then renamed."""
    tmp = f".{name}.{os.getpid()}"
    try:
        os.unlink(tmp, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        os.fchown(fd, 0, 0)
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def sudoers_rule(user: str = LAB_USER) -> str:
    return (f"# Written by `pocketstack lab up`: {user} may run the privileged network helper, nothing else.\n"
            f"{user} ALL=(root) NOPASSWD: /usr/bin/python3 -I {HELPER_DIR} *\n")


def install_helper(user: str = LAB_USER) -> None:
    """The helper's modules to HELPER_DIR (root's dirs 0755, files 0644, written without
    following links), its sudoers rule (0440, checked by visudo before it is put in place),
    and /dev/net/tun 0666 (Debian's udev default) so qemu, as the lab user, can open the tap
    made for that user."""
    fd = root_dir(HELPER_DIR, HELPER_ROOT)
    try:
        want = {f.name: f.read_bytes() for f in sorted(HELPER_SRC.glob("*.py"))}
        for name, data in want.items():
            _write_root_file(fd, name, data, 0o644)
        for name in os.listdir(fd):  # a module an earlier version had
            if name.endswith(".py") and name not in want:
                os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)
    sfd = os.open(SUDOERS.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        tmp = f".{SUDOERS.name}.new"  # sudo skips names with a dot while it is checked
        _write_root_file(sfd, tmp, sudoers_rule(user).encode(), 0o440)
        check = subprocess.run(["visudo", "-c", "-q", "-f", f"{SUDOERS.parent}/{tmp}"],
                               capture_output=True, text=True)
        if check.returncode != 0:
            os.unlink(tmp, dir_fd=sfd)
            raise InstallError(f"the sudoers rule for the helper does not check: {check.stderr.strip()}")
        os.rename(tmp, SUDOERS.name, src_dir_fd=sfd, dst_dir_fd=sfd)
    finally:
        os.close(sfd)
    if TUN.exists():
        os.chmod(TUN, 0o666)
