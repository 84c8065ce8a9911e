"""The guest's serial console in the app, against a real Cloud on the fake driver: `c` on the
detail's Console tab attaches, keys go to the guest's shell and its answers are drawn as plain
text, ctrl-] detaches and frees the console; a second client is refused naming the holder."""
from __future__ import annotations

from textual.widgets import Static, TabbedContent
from tui_helpers import SIZE, login, settle, status_of
from tui_real import text_of, wait_for

from tui.screens.console import ConsoleScreen
from tui.screens.detail import DetailScreen


async def open_detail_console_tab(pilot, app, server):
    """enter on the instance, then 5 (the Console tab)."""
    table = app.screen.table
    table.move_cursor(row=table.get_row_index(server["id"]))
    await pilot.press("enter")
    await settle(pilot, 0.1)  # nothing attached yet: this ends
    assert isinstance(app.screen, DetailScreen)
    await pilot.press("5")
    await settle(pilot, 0.1)
    assert app.screen.query_one(TabbedContent).active == "console"


async def press_c(pilot, app):
    await pilot.press("c")
    # no settle() while attached: the session's reader is a worker that runs until detach
    await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen), what="the console screen")
    return app.screen


def screen_text(c: ConsoleScreen) -> str:
    return text_of(c.query_one("#console-screen", Static))


async def test_refused_while_held_then_attach_type_see_the_shell_answer_and_detach(real):
    srv = real.call("create_server", "[bold]con-1", real.ids["image"], "1")[0]
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        await wait_for(pilot, lambda: status_of(app, srv["id"]) == "ACTIVE", what="ACTIVE")
        await open_detail_console_tab(pilot, app, srv)
        # another client holds the console: refused, naming who
        held = real.call("attach_console", srv["id"])
        try:
            c = await press_c(pilot, app)
            await wait_for(pilot, lambda: c.ended == "not attached", what="refused")
            said = " ".join(str(n.message) for n in app._notifications)
            assert "in use by user admin" in said
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="back")
        finally:
            real.bt.call(held.close)
        # free: c attaches
        c = await press_c(pilot, app)
        await wait_for(pilot, lambda: "/ # " in screen_text(c), what="the prompt")
        assert "[bold]con-1" in text_of(c.query_one("#console-title", Static))  # plain, not markup
        await pilot.press(*"hostname", "enter")
        rt = real.cloud.rt
        host = next(cm.driver.guests[srv["id"]].spec.hostname for cm in rt.computes.values()
                    if srv["id"] in cm.driver.guests)
        await wait_for(pilot, lambda: screen_text(c).count("/ # ") >= 2, what="the answer")
        lines = screen_text(c).splitlines()
        assert any(line.rstrip() == "/ # hostname" for line in lines), lines
        answer = lines[lines.index(next(x for x in lines if x.rstrip() == "/ # hostname")) + 1]
        assert answer.strip() == host
        await pilot.press(*"echo [red]x[/red]", "enter")
        await wait_for(pilot, lambda: "\n[red]x[/red]" in screen_text(c), what="echo, literally")
        await pilot.press(*"frob", "backspace", "enter")
        await wait_for(pilot, lambda: "sh: fro: not found" in screen_text(c), what="unknown command")
        # q goes to the guest while attached; ctrl-] detaches
        await pilot.press("q", "ctrl+right_square_bracket")
        # waits that end: settle() would wait for the session's worker for ever were it not to end
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detached")
        await wait_for(pilot, lambda: c.session is None and c.ended, what="the session ended")
        # detached: the console is free for the next client, and the log has the session
        again = real.call("create_remote_console", srv["id"])
        assert again["token"]
        log = real.call("get_console_output", srv["id"])
        assert "sh: fro: not found" in log
