"""Helpers shared by the app tests: a deterministic app, settling, logging in."""
from __future__ import annotations

from textual.widgets import Input, Select

from tui.app import PocketApp
from tui.fake_adapter import fixed_clock

SIZE = (150, 40)


def make_app(adapter, **kw) -> PocketApp:
    opts = dict(clock=fixed_clock, highlight_seconds=0, console_follow=0)
    opts.update(kw)
    app = PocketApp(adapter, **opts)
    app.animation_level = "none"
    return app


async def settle(pilot, delay: float = 0.05) -> None:
    """Let workers and the event pump finish, stop every cursor blinking."""
    app = pilot.app
    for _ in range(3):
        await pilot.pause(delay)
        await app.workers.wait_for_complete()
        app.pump.flush()
    for screen in app.screen_stack:
        for inp in screen.query(Input):
            inp.cursor_blink = False
    await pilot.pause()


async def login(pilot, user: str = "admin", password: str = "secret", project: str | None = "admin"):
    """Type credentials; pick `project` if the picker shows."""
    from tui.screens.login import ProjectScreen
    app = pilot.app
    await settle(pilot)
    app.screen.query_one("#username", Input).value = user
    app.screen.query_one("#password", Input).value = password
    app.screen.submit()
    await settle(pilot)
    if isinstance(app.screen, ProjectScreen) and project:
        ol = app.screen.query_one("OptionList")
        idx = next(i for i in range(ol.option_count) if str(ol.get_option_at_index(i).prompt).split()[0] == project)
        ol.highlighted = idx
        await pilot.press("enter")
        await settle(pilot)


def status_of(app, sid: str) -> str:
    return app.screen.table.servers[sid]["status"]


async def launch(pilot, name: str, flavor: str = "1", count: int = 1,
                 image_name: str | None = None) -> list[str]:
    """Fill the launch form as a user would; returns the ids that appeared in the table."""
    app = pilot.app
    before = set(app.screen.table.servers)
    await pilot.press("c")
    await settle(pilot)
    form = app.screen
    assert type(form).__name__ == "LaunchScreen"
    await pilot.press(*name)
    form.query_one("#image", Select).value = next(
        i for i, img in form.images.items() if image_name in (None, img["name"]))
    form.query_one("#flavor", Select).value = flavor
    form.query_one("#count", Input).value = str(count)
    await pilot.pause()
    assert not form.query_one("#launch").disabled
    await pilot.press("ctrl+s")
    from tui_real import wait_for
    await wait_for(pilot, lambda: type(app.screen).__name__ == "InstancesScreen", what="form closed")
    return [k for k in app.screen.table.servers if k not in before]
