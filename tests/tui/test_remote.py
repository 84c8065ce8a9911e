"""The app over the REST API (--url): RemoteAdapter against a real Cloud behind the ASGI
app, on the test's loop. Events come from polling there."""
from __future__ import annotations

import httpx
from textual.widgets import Static
from tui_helpers import SIZE, login, settle
from tui_real import HOSTS, text_of, wait_for

from backend.api import create_app
from backend.core.config import Config
from backend.facade import Cloud
from tui.app import PocketApp
from tui.remote import RemoteAdapter
from tui.screens.detail import DetailScreen
from tui.screens.instances import InstancesScreen


async def test_remote_login_launch_detail_delete(tmp_path):
    (tmp_path / "hosts.yaml").write_text(HOSTS)
    cfg = Config(home=tmp_path / "home", hosts_path=tmp_path / "hosts.yaml", password_hash_rounds=4,
                 heartbeat_interval=0.2, power_sync_interval=0.2, service_down_time=1.5)
    Cloud.init(cfg, "secret")
    cloud = Cloud(cfg)
    await cloud.start()
    try:
        tok = await cloud.login("admin", "secret", "admin")
        img = await cloud.create_image(tok["token"], "tiny", visibility="public")
        await cloud.upload_image(tok["token"], img["id"], b"\0" * 4096)
        adapter = RemoteAdapter("http://pocketstack.test", server_poll=0.2, host_poll=0.4,
                                transport=httpx.ASGITransport(app=create_app(cloud)))
        app = PocketApp(adapter, highlight_seconds=0, console_follow=0)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await login(pilot)  # one project: no picker
            assert isinstance(app.screen, InstancesScreen)
            assert app.adapter.token["project"]["name"] == "admin"
            srv = (await cloud.create_server(tok["token"], "far-1", img["id"], "1"))[0]
            t = app.screen.table
            await wait_for(pilot, lambda: srv["id"] in t.servers and t.servers[srv["id"]]["status"] == "ACTIVE",
                           what="ACTIVE via polling")
            row = t.get_row(srv["id"])
            assert row[7].plain == "m1.nano" and row[8].plain == "tiny" and row[5].plain.startswith("fake-")
            await pilot.press("enter")
            await settle(pilot, 0.2)
            assert isinstance(app.screen, DetailScreen)
            await pilot.press("2")
            await settle(pilot, 0.1)
            assert "fetch image" in text_of(app.screen.query_one("#trace-body", Static))
            await pilot.press("escape", "ctrl+d")
            await settle(pilot)
            await pilot.press("y")
            await wait_for(pilot, lambda: srv["id"] not in t.servers, what="deleted via polling")
        await adapter.close()
    finally:
        await cloud.stop()


async def test_remote_errors_are_cloud_errors():
    adapter = RemoteAdapter("http://127.0.0.1:9")  # nothing listens there
    try:
        await adapter.login("admin", "secret")
    except Exception as e:
        assert type(e).__name__ == "CloudError" and "cannot reach" in e.message
    else:
        raise AssertionError("login to a dead server succeeded")
    finally:
        await adapter.close()
