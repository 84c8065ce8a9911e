"""The first minutes: the login screen says where the admin password is; the launch form
preselects the only image and the smallest flavor that fits, and says when a flavor fits no
host (its arithmetic checked against the real scheduler)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from textual.widgets import Button, Select, Static
from tui_helpers import SIZE, login, make_app, settle
from tui_real import text_of, wait_for

from tui.fake_adapter import FakeAdapter, hypervisor
from tui.screens.launch import LaunchScreen, fits_somewhere
from tui.screens.login import password_hint

ROOT = Path(__file__).resolve().parents[2]


# ---- where the admin password is ------------------------------------------------------------

def _run_sh(tmp_path, env_extra: dict) -> tuple[Path, dict]:
    """scripts/run.sh as `make run` runs it, with a stand-in pocketstack that records the
    environment the app gets; returns (state dir, that environment)."""
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "run.sh", tree / "scripts" / "run.sh")
    bindir = tree / ".venv" / "bin"
    bindir.mkdir(parents=True)
    seen = tmp_path / "env.txt"
    (bindir / "pocketstack").write_text(f"#!/bin/sh\nenv > {seen}\n")
    (bindir / "pocketstack").chmod(0o755)
    home = tmp_path / "home"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "POCKETSTACK_HOME": str(home), **env_extra}
    r = subprocess.run(["bash", str(tree / "scripts" / "run.sh")], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    app_env = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    return home, app_env


def test_make_run_without_os_password_points_at_the_file_it_made(tmp_path):
    home, env = _run_sh(tmp_path, {})
    pwfile = home / "admin-password"
    password = pwfile.read_text().strip()
    assert pwfile.stat().st_mode & 0o077 == 0   # only its owner can read it
    hint = password_hint(home, env)
    assert str(pwfile) in hint
    assert password not in hint


def test_make_run_with_os_password_never_shows_it(tmp_path):
    home, env = _run_sh(tmp_path, {"OS_PASSWORD": "s3cret-pw"})
    hint = password_hint(home, env)
    assert "$OS_PASSWORD" in hint and "s3cret-pw" not in hint
    assert not (home / "admin-password").exists()


def test_a_password_file_others_can_read_is_not_offered(tmp_path):
    (tmp_path / "admin-password").write_text("pw\n")
    os.chmod(tmp_path / "admin-password", 0o644)
    assert "admin-password" not in password_hint(tmp_path, {})
    assert "pocketstack init" in password_hint(tmp_path, {})


async def test_the_login_screen_shows_the_hint(tmp_path):
    app = make_app(FakeAdapter())
    app.login_hint = "admin password: in /x/admin-password (made by make run; only you can read it)"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "in /x/admin-password" in text_of(app.screen.query_one("#login-hint", Static))


# ---- the launch form ------------------------------------------------------------------------

def _tight_cloud() -> FakeAdapter:
    """Two hosts up: c-1 with 2 vCPUs and no RAM free, c-2 with 1 vCPU and 512 MB free (4 vCPU
    × 4.0; 4096 MB − 512 reserved); c-3 down with plenty."""
    a = FakeAdapter()
    a.hosts = {h["name"]: h for h in (hypervisor("c-1", vcpus_used=14, mem_used=3584),
                                      hypervisor("c-2", vcpus_used=15, mem_used=3072),
                                      hypervisor("c-3", state="down"))}
    a.images[0]["min_ram"] = 200  # m1.tiny (128 MB) is too small for the only image
    return a


async def _open_form(pilot) -> LaunchScreen:
    await login(pilot)
    await pilot.press("c")
    await settle(pilot)
    assert isinstance(pilot.app.screen, LaunchScreen)
    return pilot.app.screen


async def test_the_form_preselects_the_only_image_and_the_smallest_flavor_that_fits():
    app = make_app(_tight_cloud())
    async with app.run_test(size=SIZE) as pilot:
        form = await _open_form(pilot)
        assert form.query_one("#image", Select).value == "img-0001"
        # m1.tiny is under the image's min_ram; m1.small (1 vCPU, 256 MB) fits c-2
        assert form.query_one("#flavor", Select).value == "2"
        await pilot.press(*"web-1")
        await settle(pilot)
        assert not form.query_one("#launch", Button).disabled


async def test_a_flavor_that_fits_no_host_says_so_and_cannot_be_launched():
    app = make_app(_tight_cloud())
    async with app.run_test(size=SIZE) as pilot:
        form = await _open_form(pilot)
        await pilot.press(*"web-1")
        form.query_one("#flavor", Select).value = "3"   # m1.medium: 2 vCPU, 512 MB
        await settle(pilot)
        msg = text_of(form.query_one("#flavor-err", Static)).strip()
        # each largest on another host: c-1's 2 vCPUs, c-2's 512 MB
        assert msg == "fits no host: largest free is 2 vCPU / 512 MB / 40 GB"
        assert form.query_one("#launch", Button).disabled


def test_fits_somewhere_as_the_scheduler_counts():
    up = hypervisor("h", vcpus_used=0, mem_used=0)       # 4 vCPU × 4.0, 4096 − 512 reserved
    assert fits_somewhere({"vcpus": 4, "ram": 3584, "disk": 40}, [up]) is None
    assert fits_somewhere({"vcpus": 1, "ram": 3585, "disk": 1}, [up]).startswith("fits no host")
    # more vCPUs than the host has: no overcommit against itself, whatever the ratio
    assert fits_somewhere({"vcpus": 5, "ram": 128, "disk": 1}, [up]).startswith("fits no host")
    # boot from volume asks for no local disk
    assert fits_somewhere({"vcpus": 1, "ram": 128, "disk": 41}, [up], local_disk=False) is None
    assert fits_somewhere({"vcpus": 1, "ram": 128, "disk": 1}, [hypervisor("d", state="down")]) == \
        "fits no host: no compute host is up"
    assert fits_somewhere({"vcpus": 99, "ram": 1, "disk": 1}, None) is None  # nothing known


async def test_the_hint_agrees_with_the_real_scheduler(real):
    """A flavor the form says fits no host ends in 'No valid host'; the largest that the form
    accepts goes ACTIVE."""
    too_big = real.call("create_flavor", "too-big", 1, 3585, 1)
    just_fits = real.call("create_flavor", "just-fits", 1, 3584, 1)
    hosts = real.call("list_hypervisors")
    assert fits_somewhere(too_big, hosts) == "fits no host: largest free is 16 vCPU / 3584 MB / 40 GB"
    assert fits_somewhere(just_fits, hosts) is None
    app = real.app()
    async with app.run_test(size=SIZE) as pilot:
        form = await _open_form(pilot)
        form.query_one("#flavor", Select).value = too_big["id"]
        await settle(pilot)
        assert text_of(form.query_one("#flavor-err", Static)).startswith("fits no host")
    bad = real.call("create_server", "no-room", real.ids["image"], too_big["id"])[0]
    good = real.call("create_server", "room", real.ids["image"], just_fits["id"])[0]

    def status(sid):
        return real.call("get_server", sid)["status"]
    import asyncio
    for _ in range(200):
        if status(bad["id"]) != "BUILD" and status(good["id"]) != "BUILD":
            break
        await asyncio.sleep(0.05)
    assert status(bad["id"]) == "ERROR"
    assert real.call("get_server", bad["id"])["fault"]["message"].startswith("No valid host")
    assert status(good["id"]) == "ACTIVE"
