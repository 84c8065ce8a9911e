"""Root's writes into the lab's host-side tree, safe against the lab user's links.

Every directory is opened with O_NOFOLLOW relative to its parent's fd, from / down; a link or
a file where a directory belongs is removed (never followed); a directory is made root-owned
0755 before anything is looked up inside it, so the lab user can no longer swap its entries.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def open_dir(parent_fd: int, name: str, owner: tuple[int, int], mode: int) -> int:
    """The directory `name` under parent_fd, never through a link: made if missing, a link or
    file in its place removed (not followed), then owned by `owner` with `mode`. Only ever
    called with a root-owned parent (0755), so nobody else can swap the entry meanwhile."""
    flags = _DIR_FLAGS | os.O_NOFOLLOW
    try:
        fd = os.open(name, flags, dir_fd=parent_fd)
    except FileNotFoundError:
        try:
            os.mkdir(name, mode, dir_fd=parent_fd)
        except FileExistsError:  # a concurrent `lab up` of another lab made it first
            pass
        fd = os.open(name, flags, dir_fd=parent_fd)
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        os.unlink(name, dir_fd=parent_fd)  # a symlink or a file: the entry goes, not its target
        os.mkdir(name, mode, dir_fd=parent_fd)
        fd = os.open(name, flags, dir_fd=parent_fd)
    os.fchown(fd, *owner)
    os.fchmod(fd, mode)
    return fd


def root_dir(path: Path, root: Path) -> int:
    """An fd of `path` (under root), every directory from root down made root-owned 0755 on
    the way (a lab of an earlier version had them the lab user's)."""
    if path != root and root not in path.parents:
        raise ValueError(f"{path} is not under {root}")
    fd = os.open("/", _DIR_FLAGS)
    try:
        here = Path("/")
        for part in path.parts[1:]:
            here = here / part
            if here in root.parents:  # /var, /var/lib: the system's, only walked
                nfd = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            else:
                nfd = open_dir(fd, part, (0, 0), 0o755)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise
