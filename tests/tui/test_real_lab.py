"""End to end on the local lab (real sshd hosts, real qemu): from the app, launch the tiny
image, see the real guest ACTIVE in the table, its launch trace and its console."""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import SIZE, launch, login, settle, status_of
from tui_real import text_of, wait_for

from backend.core.config import Config
from backend.facade import BackendThread, Cloud
from tui.adapter import LocalAdapter
from tui.app import PocketApp
from tui.screens.detail import DetailScreen

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def lab_cloud():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces, useradd, sshd)")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu is not installed: run scripts/setup.sh")
    from backend.lab import lab
    from backend.cli.tiny import register_with_cloud
    from backend.lab.guestimage import build_tiny
    home = Path(tempfile.mkdtemp(prefix="pocketstack-tui-real-"))
    lab.up(home / "lab", hosts=1, log=lambda m: None)
    bt = None
    try:
        cache = os.environ.get("POCKETSTACK_TINY_CACHE") or str(Path.home() / ".cache/pocketstack-tests/tiny")
        tiny = build_tiny(cache)
        cfg = Config(home=home / "home", hosts_path=lab.hosts_file(home / "lab"), password_hash_rounds=4,
                     heartbeat_interval=0.5, power_sync_interval=1.0, service_down_time=5.0)
        Cloud.init(cfg, "secret")
        bt = BackendThread(Cloud(cfg))
        bt.start()
        tok = bt.call(bt.cloud.login, "admin", "secret", "admin")["token"]
        asyncio.run_coroutine_threadsafe(register_with_cloud(bt.cloud, tok, tiny), bt.loop).result(300)
        yield bt
    finally:
        if bt:
            bt.stop()
        lab.down(home / "lab", purge=True, log=lambda m: None)
        shutil.rmtree(home, ignore_errors=True)


async def test_launch_a_real_guest_from_the_app(lab_cloud):
    from backend.lab.guestimage import MARKER
    app = PocketApp(LocalAdapter(lab_cloud), highlight_seconds=0.5, console_follow=0.5)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        flavor = next(f["id"] for f in await app.adapter.call("list_flavors") if f["ram"] >= 128)
        (sid,) = await launch(pilot, "real-1", flavor=flavor, image_name="tiny")
        assert status_of(app, sid) == "BUILD"
        await pilot.press("enter")
        await settle(pilot)
        d = app.screen
        assert isinstance(d, DetailScreen)
        await pilot.press("2")
        steps_seen = set()
        for _ in range(1200):  # the trace fills in step by step while the build runs
            await pilot.pause(0.1)
            trace = text_of(d.query_one("#trace-body", Static))
            steps_seen |= {s for s in ("select_destinations", "allocate ports", "fetch image", "spawn")
                           if s in trace}
            if d.server.get("status") == "ACTIVE":
                break
            assert d.server.get("status") != "ERROR", d.server.get("fault")
        assert d.server["status"] == "ACTIVE"
        await settle(pilot, 0.2)
        trace = text_of(d.query_one("#trace-body", Static))
        assert {"fetch image", "spawn", "allocate ports"} <= steps_seen | {
            s for s in ("fetch image", "spawn", "allocate ports") if s in trace}
        assert re.search(r"^\s*hypervisor\s+spawn", trace, re.M) and "▶" not in trace
        await pilot.press("5")
        await wait_for(pilot, lambda: MARKER in "\n".join(d.query_one("#console-body").lines),
                       timeout=120, what="the guest's boot marker on the console")
        await pilot.press("escape")
        assert status_of(app, sid) == "ACTIVE"
