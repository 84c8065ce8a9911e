"""The network screen on the real lab (2 sshd hosts, real qemu on taps, DHCP on the network
node): two guests on 'private', one per host; the screen shows the network's segment, the
hosts it spans (both lab hosts and the network node, where its DHCP server is) and each port
bound and ACTIVE on its host."""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from textual.widgets import DataTable
from tui_helpers import SIZE, login, settle
from tui_real import wait_for

from backend.core.config import Config
from backend.facade import BackendThread, Cloud
from tui.adapter import LocalAdapter
from tui.app import PocketApp

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def lab_cloud():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces, useradd, sshd)")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu is not installed: run scripts/setup.sh")
    from backend.cli.tiny import register_with_cloud
    from backend.lab import lab
    from backend.lab.guestimage import build_tiny
    home = Path(tempfile.mkdtemp(prefix="pocketstack-tui-net-"))
    lab.up(home / "lab", hosts=2, log=lambda m: None)
    bt = None
    try:
        cache = os.environ.get("POCKETSTACK_TINY_CACHE") or str(Path.home() / ".cache/pocketstack-tests/tiny")
        tiny = build_tiny(cache)
        cfg = Config(home=home / "home", hosts_path=lab.hosts_file(home / "lab"), password_hash_rounds=4,
                     heartbeat_interval=0.5, power_sync_interval=1.0, service_down_time=5.0,
                     vif_plugging_timeout=30)
        Cloud.init(cfg, "secret")
        bt = BackendThread(Cloud(cfg))
        bt.start()
        tok = bt.call(bt.cloud.login, "admin", "secret", "admin")["token"]
        asyncio.run_coroutine_threadsafe(register_with_cloud(bt.cloud, tok, tiny), bt.loop).result(300)
        yield bt, tok
    finally:
        if bt:
            for s in bt.call(bt.cloud.list_servers, tok, all_projects=True):
                bt.call(bt.cloud.delete_server, tok, s["id"])
            bt.stop()
        lab.down(home / "lab", purge=True, log=lambda m: None)
        shutil.rmtree(home, ignore_errors=True)


async def test_two_guests_across_the_lab_on_the_network_screen(lab_cloud):
    bt, tok = lab_cloud
    call = lambda m, *a, **k: bt.call(getattr(bt.cloud, m), tok, *a, **k)  # noqa: E731
    image = next(i for i in call("list_images") if i["name"] == "tiny")["id"]
    flavor = min(call("list_flavors"), key=lambda f: f["ram"])["id"]
    app = PocketApp(LocalAdapter(bt), highlight_seconds=0, console_follow=0)
    app.animation_level = "none"
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        one = call("create_server", "net-a", image, flavor)[0]
        await wait_for(pilot, lambda: call("get_server", one["id"])["status"] == "ACTIVE", 120, "net-a ACTIVE")
        two = call("create_server", "net-b", image, flavor, scheduler_hints={"different_host": one["id"]})[0]
        await wait_for(pilot, lambda: call("get_server", two["id"])["status"] == "ACTIVE", 120, "net-b ACTIVE")
        guests = [call("get_server", s["id"]) for s in (one, two)]
        app.open_list("networks")
        await settle(pilot)
        private = call("list_networks", filters={"name": "private"})[0]
        dhcp = call("list_ports", filters={"network_id": private["id"], "device_owner": "network:dhcp"})
        assert len(dhcp) == 1 and dhcp[0]["binding:host_id"], dhcp   # DHCP on the network node
        node = dhcp[0]["binding:host_id"]
        nets = app.screen.query_one("#resources", DataTable)
        ports = app.screen.query_one("#network-ports", DataTable)
        want_hosts = ", ".join(sorted({g["host"] for g in guests} | {node}))
        await wait_for(pilot, lambda: nets.get_cell(private["id"], "hosts").plain == want_hosts, 30,
                       f"hosts {want_hosts}")
        assert len({g["host"] for g in guests}) == 2
        assert nets.get_cell(private["id"], "segment").plain == f"vxlan {private['provider:segmentation_id']}"
        for g in guests:
            p = call("list_ports", filters={"device_id": g["id"]})[0]
            assert [c.plain for c in ports.get_row(p["id"])][:6] == [
                g["name"], "compute:nova", g["host"], p["mac_address"], p["fixed_ips"][0]["ip_address"], "ACTIVE"]
        assert [c.plain for c in ports.get_row(dhcp[0]["id"])][:3] == ["DHCP", "network:dhcp", node]
