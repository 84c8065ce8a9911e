"""Each flow of the app, driven by the Pilot, against a real Cloud on the fake driver."""
from __future__ import annotations

import re

from backend.virt.fake import FakeDriver, FakeBehaviour
from textual.widgets import Input, OptionList, Static, TabbedContent
from tui_helpers import SIZE, launch, login, settle, status_of
from tui_real import text_of, wait_for

from tui.screens.detail import DetailScreen
from tui.screens.hosts import HostsScreen
from tui.screens.instances import InstancesScreen
from tui.screens.login import LoginScreen, ProjectScreen
from tui.screens.modals import ConfirmModal


async def test_wrong_password_shows_inline_error(real):
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, password="wrong")
        assert isinstance(app.screen, LoginScreen)
        assert "authentication" in text_of(app.screen.query_one("#login-error", Static)).lower() \
            or text_of(app.screen.query_one("#login-error", Static)).strip()
        assert app.screen.query_one("#password", Input).value == ""


async def test_login_pick_project_launch_to_active(real):
    FakeDriver.behaviours["fake-1"] = FakeBehaviour(spawn_latency=0.6)
    FakeDriver.behaviours["fake-2"] = FakeBehaviour(spawn_latency=0.6)
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, project=None)
        assert isinstance(app.screen, ProjectScreen)  # admin may scope to admin and demo
        names = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
        assert [n.split()[0] for n in names] == ["admin", "demo"]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InstancesScreen)
        assert app.adapter.token["project"]["name"] == "admin"
        bar = text_of(app.screen.query_one("SessionBar"))
        assert "admin" in bar and "token expires" in bar and "roles" in bar

        (sid,) = await launch(pilot, "web-1")
        # in the table at once, in BUILD, before any event
        assert status_of(app, sid) == "BUILD"
        await wait_for(pilot, lambda: status_of(app, sid) == "ACTIVE", what="ACTIVE")
        row = app.screen.table.get_row(sid)
        assert row[0].plain == "web-1" and row[5].plain in ("fake-1", "fake-2")
        assert row[6].plain.startswith("10.0.0.")
        # count 2: both rows at once, named as nova names them
        two = await launch(pilot, "pair", count=2)
        assert sorted(app.screen.table.servers[k]["name"] for k in two) == ["pair-1", "pair-2"]
        await wait_for(pilot, lambda: all(status_of(app, k) == "ACTIVE" for k in two), what="pair ACTIVE")


async def test_detail_tabs_show_trace_scheduler_events_console(real):
    srv = real.call("create_server", "db-1", real.ids["image"], "1")[0]
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        await wait_for(pilot, lambda: status_of(app, srv["id"]) == "ACTIVE", what="ACTIVE")
        await pilot.press("enter")
        await settle(pilot, 0.1)
        d = app.screen
        assert isinstance(d, DetailScreen)
        overview = text_of(d.query_one("#overview-body", Static))
        assert srv["id"] in overview and "launched_at" in overview
        for n, tab in enumerate(["trace", "scheduler", "events", "console"], start=2):
            await pilot.press(str(n))
            await settle(pilot, 0.1)
            assert d.query_one(TabbedContent).active == tab
        # the build's last trace records land just after ACTIVE: wait for them, pushed
        await wait_for(pilot, lambda: "▶" not in text_of(d.query_one("#trace-body", Static)),
                       what="every step finished")
        trace = text_of(d.query_one("#trace-body", Static))
        for lane in ("compute API", "queue", "scheduler", "conductor", "compute", "network", "image"):
            assert re.search(rf"^\s*{lane}\s", trace, re.M), lane
        assert "fetch image" in trace
        sched = text_of(d.query_one("#scheduler-body", Static))
        assert "RamFilter" in sched and f"chosen: {app.screen.server['host']}" in sched
        events = text_of(d.query_one("#events-body", Static))
        assert "create" in events and "compute_allocate_network" in events
        await wait_for(pilot, lambda: "booted" in "\n".join(d.query_one("#console-body").lines),
                       what="console output")


async def test_delete_asks_first(real):
    srv = real.call("create_server", "doomed", real.ids["image"], "1")[0]
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        await wait_for(pilot, lambda: srv["id"] in app.screen.table.servers, what="row")
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot)
        assert srv["id"] in app.screen.table.servers
        await pilot.press("ctrl+d")
        await settle(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: srv["id"] not in app.screen.table.servers, what="row gone")
        # the outcome arrives as a toast once the instance is gone
        await wait_for(pilot, lambda: any(n.message == "doomed is deleted" for n in app._notifications),
                       what="outcome toast")


async def test_filter_and_sort(real):
    for name in ("bravo", "alpha", "charlie"):
        real.call("create_server", name, real.ids["image"], "1")
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        t = app.screen.table
        await wait_for(pilot, lambda: t.row_count == 3, what="3 rows")
        await pilot.press("N")
        names = lambda: [t.servers[k]["name"] for k in t.visible_ids()]  # noqa: E731
        assert names() == ["alpha", "bravo", "charlie"]
        await pilot.press("N")
        assert names() == ["charlie", "bravo", "alpha"]
        await pilot.press("slash", *"rav")
        await pilot.pause()
        assert names() == ["bravo"]
        await pilot.press("enter", "escape")
        assert len(names()) == 3


async def test_switch_project_from_palette(real):
    real.call("create_server", "in-admin", real.ids["image"], "1")
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        await wait_for(pilot, lambda: app.screen.table.row_count == 1, what="admin's server")
        await pilot.press("colon", *"switch", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ProjectScreen)
        ol = app.screen.query_one(OptionList)
        ol.highlighted = 1
        await pilot.press("enter")
        await settle(pilot)
        assert app.adapter.token["project"]["name"] == "demo"
        assert isinstance(app.screen, InstancesScreen) and app.screen.table.row_count == 0


async def test_hosts_list_their_instances_and_a_host_going_down(real):
    srv = real.call("create_server", "placed", real.ids["image"], "1")[0]
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        await wait_for(pilot, lambda: status_of(app, srv["id"]) == "ACTIVE", what="ACTIVE")
        host = app.screen.table.servers[srv["id"]]["host"]
        app.open_list("hosts")
        await settle(pilot)
        hs = app.screen
        assert isinstance(hs, HostsScreen)
        table = hs.query_one("#hosts")
        table.move_cursor(row=table.get_row_index(host))
        await settle(pilot)
        listed = hs.query_one("#host-servers")
        assert listed.keys() == [srv["id"]]
        assert table.get_row(host)[8].plain == "1"      # running VMs
        assert "1/16" in table.get_row(host)[5].plain   # vCPU used / 4 cores x ratio 4.0
        assert table.get_row("fake-2")[1].plain == "up"
        FakeDriver.behaviours.setdefault("fake-2", FakeBehaviour()).unreachable = True
        await wait_for(pilot, lambda: table.get_row("fake-2")[1].plain.startswith("down"),
                       timeout=10, what="fake-2 down")


async def test_failed_build_is_red_with_fault(real):
    for h in ("fake-1", "fake-2"):
        FakeDriver.behaviours[h] = FakeBehaviour(fail_always=True, fail_message="disk on fire")
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        (sid,) = await launch(pilot, "unlucky")
        await wait_for(pilot, lambda: status_of(app, sid) == "ERROR", what="ERROR")
        assert "red" in str(app.screen.table.get_row(sid)[0].style)
        await pilot.press("enter")
        await settle(pilot, 0.1)
        overview = text_of(app.screen.query_one("#overview-body", Static))
        assert "fault" in overview and app.screen.server["fault"]["message"][:30] in overview


async def test_backend_error_is_a_toast_not_a_crash(real):
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        await app.guard(app.adapter.call("get_server", "no-such-id"), "get server")
        await pilot.pause()
        assert app.is_running
        titles = [n.title for n in app._notifications]
        assert any("get server failed (404)" in (t or "") for t in titles), titles


async def test_token_is_renewed_before_expiry(real):
    app = real.app(renew_margin=10_000)  # always "about to expire"
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        old = app.adapter.token["token"]
        await app.check_token()
        assert app.adapter.token["token"] != old
        assert app.adapter.token["project"]["name"] == "admin"


async def test_volumes_create_and_delete_and_networks_count_addresses(real):
    from textual.widgets import DataTable
    from tui.screens.resources import FormModal, NetworksScreen, VolumesScreen
    real.call("create_server", "holder", real.ids["image"], "1")
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        await wait_for(pilot, lambda: any(s["status"] == "ACTIVE" for s in app.screen.table.servers.values()),
                       what="ACTIVE")
        app.open_list("volumes")
        await settle(pilot)
        assert isinstance(app.screen, VolumesScreen)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, FormModal)
        app.screen.query_one("#f-name", Input).value = "data-1"
        app.screen.query_one("#f-size", Input).value = "1"
        await pilot.press("enter")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="volume listed")
        assert str(table.get_row_at(0)[0]) == "data-1"
        await pilot.press("ctrl+d")
        await settle(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 0, what="volume deleted")

        app.open_list("networks")
        await settle(pilot)
        assert isinstance(app.screen, NetworksScreen)
        row = app.screen.query_one(DataTable).get_row_at(0)
        assert row[0].plain == "private" and row[3].plain == "10.0.0.0/24"
        assert row[4].plain.startswith("1 ")    # the holder's port
        assert str(row[5]) == str(253 - 1)     # .2-.254 pool less that port


async def test_stop_then_start_report_their_outcome(real):
    srv = real.call("create_server", "sleepy", real.ids["image"], "1")[0]
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        await wait_for(pilot, lambda: status_of(app, srv["id"]) == "ACTIVE", what="ACTIVE")
        messages = lambda: [n.message for n in app._notifications]  # noqa: E731
        await pilot.press("s")
        await wait_for(pilot, lambda: "sleepy is SHUTOFF" in messages(), what="stop outcome")
        assert status_of(app, srv["id"]) == "SHUTOFF"
        await pilot.press("u")
        await wait_for(pilot, lambda: "sleepy is ACTIVE" in messages(), what="start outcome")


async def test_log_out_from_the_palette_revokes_the_token(real):
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        token = app.adapter.token["token"]
        await pilot.press("colon", *"log out", "enter")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.adapter.token is None
        try:
            real.bt.call(real.cloud.validate_token, real.token, token)
        except Exception as e:
            assert getattr(e, "code", 0) in (401, 404), e
        else:
            raise AssertionError("the token still validates after log out")
