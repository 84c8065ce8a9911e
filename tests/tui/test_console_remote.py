"""The app's serial console over --url: RemoteAdapter asks nova's remote-consoles route for
a URL and carries the keys and the shell's answers over its WebSocket."""
from __future__ import annotations

from servedhelp import served
from textual.widgets import Static, TabbedContent
from tui_helpers import SIZE, login
from tui_real import text_of, wait_for

from test_remote import start_cloud
from tui.app import PocketApp
from tui.remote import RemoteAdapter
from tui.screens.console import ConsoleScreen
from tui.screens.detail import DetailScreen


async def test_remote_console_types_and_detaches(tmp_path):
    cloud, tok, image = await start_cloud(tmp_path)
    try:
        s = (await cloud.create_server(tok, "far-con", image, "1"))[0]
        async with served(cloud) as srv:
            adapter = RemoteAdapter(srv.url)
            app = PocketApp(adapter, highlight_seconds=0, console_follow=0)
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                await login(pilot)
                t = app.screen.table
                await wait_for(pilot, lambda: s["id"] in t.servers and t.servers[s["id"]]["status"] == "ACTIVE",
                               what="ACTIVE")
                t.move_cursor(row=t.get_row_index(s["id"]))
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail")
                await pilot.press("5")
                await wait_for(pilot, lambda: app.screen.query_one(TabbedContent).active == "console",
                               what="the Console tab")
                await pilot.press("c")
                await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen), what="the console")
                c = app.screen
                body = lambda: text_of(c.query_one("#console-screen", Static))  # noqa: E731
                await wait_for(pilot, lambda: "/ # " in body(), what="the prompt")
                await pilot.press(*"echo over the wire", "enter")
                await wait_for(pilot, lambda: "\nover the wire" in body(), what="the answer")
                await pilot.press("ctrl+right_square_bracket")
                await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detached")
                posts = [p for m, p in srv.recorder.since(0) if m == "POST" and p.endswith("/remote-consoles")]
                assert posts == [f"/compute/v2.1/servers/{s['id']}/remote-consoles"]
                # the console is free again once the WebSocket closed
                await wait_for(pilot, lambda: not cloud.rt.computes[t.servers[s["id"]]["host"]]._consoles,
                               what="the console released")
            await adapter.close()
    finally:
        await cloud.stop()
