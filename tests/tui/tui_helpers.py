"""Helpers shared by the app tests: a deterministic app, settling, logging in."""
from __future__ import annotations

from textual.widgets import Input

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
        idx = next(i for i in range(ol.option_count) if ol.get_option_at_index(i).prompt.split()[0] == project)
        ol.highlighted = idx
        await pilot.press("enter")
        await settle(pilot)
