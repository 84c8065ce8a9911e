"""The real suite: a lab of real sshd hosts on this machine, real qemu guests (TCG here)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from backend.lab import lab
from backend.lab.guestimage import build_tiny, file_sha256
from backend.core.hosts import load_hosts
from backend.virt.driver import ImageFile
from backend.virt.qemu.driver import QemuDriver
from realguard import require_real

def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/real/" in str(item.fspath):
            item.add_marker(pytest.mark.real)


@pytest.fixture(scope="session")
def lab_home():
    # a skip here fails the run when POCKETSTACK_REQUIRE_REAL=1 (tests/realguard.py)
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces, useradd, sshd)")
    for tool in ("qemu-system-x86_64", "qemu-img", "genisoimage", lab.SSHD):
        assert shutil.which(tool), f"{tool} missing: run scripts/setup.sh"
    home = Path(tempfile.mkdtemp(prefix="pocketstack-real-"))
    try:
        said = []
        lab.up(home, hosts=2, log=said.append)
        if require_real() and any(h.get("netns") is None for h in lab.status(home)):
            pytest.fail("the lab fell back to loopback ports (no network namespaces): "
                        + "; ".join(said))
        yield home
    finally:
        lab.down(home, purge=True, log=lambda m: None)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def hosts(lab_home):
    return {h.name: h for h in load_hosts(lab.hosts_file(lab_home))}


@pytest.fixture(scope="session")
def tiny_build():
    """The tiny image's files; cached across runs (the build downloads the kernel package)."""
    cache = os.environ.get("POCKETSTACK_TINY_CACHE") or str(
        Path.home() / ".cache/pocketstack-tests/tiny")
    return build_tiny(cache)


@pytest.fixture(scope="session")
def tiny(tiny_build):
    img = tiny_build

    def imf(path, fmt):
        return ImageFile(id=Path(path).name, path=path, sha256=file_sha256(path),
                         size=os.path.getsize(path), disk_format=fmt)
    return {"kernel": imf(img.kernel, "aki"), "ramdisk": imf(img.ramdisk, "ari"),
            "disk": imf(img.disk, "raw"), "cmdline": img.cmdline}


@pytest.fixture
async def drivers(hosts):
    made = []

    def make(name: str) -> QemuDriver:
        d = QemuDriver(hosts[name], None)
        made.append(d)
        return d
    yield make
    for d in made:
        await d.close()
