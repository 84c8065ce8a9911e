"""The pocketstack app: screens over an Adapter, fed by pushed events.

Entry point: `run_app(argv)` (what `pocketstack` with no arguments calls)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from textual.app import App
from textual.binding import Binding

from backend.core.errors import CloudError, Unauthorized
from tui.adapter import CloudAdapter, parse_ts
from tui.commands import ResourceCommands
from tui.events import Batch, EventPump

FAILED = object()  # what guard() returns when the call raised (None is a valid result)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class PocketApp(App):
    TITLE = "pocketstack"
    CSS_PATH = "app.tcss"
    COMMANDS = {ResourceCommands}
    COMMAND_PALETTE_BINDING = "colon"
    COMMAND_PALETTE_DISPLAY = ":"
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("w", "what_happened", "What happened", show=False),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(self, adapter: CloudAdapter, *, clock: Callable[[], datetime] = utcnow,
                 highlight_seconds: float = 1.5, tick: float = 0.05,
                 renew_margin: float = 300.0, console_follow: float = 1.0,
                 auto_login: tuple[str, str] | None = None, prefill_user: str | None = None) -> None:
        super().__init__()
        self.adapter = adapter
        self.clock = clock
        self.highlight_seconds = highlight_seconds
        self.renew_margin = renew_margin
        self.console_follow = console_follow
        self.auto_login = auto_login
        self.prefill_user = prefill_user
        self.pump = EventPump(self.on_batch, tick)
        self._unsubscribe: Callable[[], None] | None = None
        self.last_batch_events = 0
        # id -> [action, name, `updated` when asked] for actions whose outcome is still untold
        self.pending: dict[str, list] = {}

    # ---- life cycle ---------------------------------------------------------------------
    def on_mount(self) -> None:
        from tui.screens.login import LoginScreen
        self.pump.bind(asyncio.get_running_loop())
        try:
            self._unsubscribe = self.adapter.subscribe(self.pump.push)
        except CloudError as e:
            self.notify(e.message, title="no live updates", severity="error")
        self.set_interval(15, self.check_token)
        self.push_screen(LoginScreen())

    async def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    def notify(self, message: str, *, title: str = "", severity="information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Toasts carry names and error texts from the API: never markup, whoever asks
        (Widget.notify passes markup=True explicitly)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    @property
    def token(self) -> dict | None:
        return self.adapter.token

    def start_session(self) -> None:
        """After scoping: the instances screen becomes the only screen."""
        from tui.screens.instances import InstancesScreen
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(InstancesScreen())

    async def logout(self) -> None:
        from tui.screens.login import LoginScreen
        await self.adapter.logout()
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(LoginScreen())

    def switch_project(self) -> None:
        from tui.screens.login import ProjectScreen
        self.push_screen(ProjectScreen())

    # ---- calls --------------------------------------------------------------------------
    async def guard(self, call: Awaitable[Any], what: str = "") -> Any:
        """Await a backend call; a failure becomes a toast and FAILED, never a crash."""
        try:
            return await call
        except Unauthorized as e:
            if self.token:  # expired or revoked behind our back: log in again
                self.notify(e.message, title="session ended: log in again", severity="error",
                            timeout=8)
                self.run_worker(self.logout(), group="session", exclusive=True)
            else:
                self.notify(e.message, title="not logged in", severity="error")
            return FAILED
        except CloudError as e:
            self.notify(e.message, title=f"{what} failed ({e.code})".strip(), severity="error",
                        timeout=8)
            return FAILED
        except Exception as e:  # the backend is down or broke: say so and keep going
            self.notify(str(e) or type(e).__name__, title=f"{what} failed".strip(),
                        severity="error", timeout=8)
            return FAILED

    async def check_token(self) -> None:
        """Renew the token shortly before it expires."""
        tok = self.token
        if not tok:
            return
        expires = parse_ts(tok.get("expires_at"))
        if expires and (expires - self.clock()).total_seconds() <= self.renew_margin:
            if await self.guard(self.adapter.renew(), "token renewal") is not FAILED:
                self.notify("token renewed", timeout=2)
                self.refresh_session_bar()

    def refresh_session_bar(self) -> None:
        from tui.widgets.session_bar import SessionBar
        for screen in self.screen_stack:
            for bar in screen.query(SessionBar):
                bar.refresh_text()

    # ---- pushed events ------------------------------------------------------------------
    def on_batch(self, batch: Batch) -> None:
        """One tick's coalesced events, handed to every screen that shows them."""
        self.last_batch_events = batch.events
        pid = self.adapter.project_id
        batch.all_servers = batch.servers
        if pid:
            batch.servers = {k: v for k, v in batch.servers.items() if v.get("project_id") == pid}
        self.report_outcomes(batch)
        with self.batch_update():
            for screen in list(self.screen_stack):
                handler = getattr(screen, "on_batch", None)
                if handler:
                    try:
                        handler(batch)
                    except Exception as e:  # one broken view must not stop the others
                        self.log.error(f"{type(screen).__name__}.on_batch: {e!r}")

    def report_outcomes(self, batch: Batch) -> None:
        """An action is done when its instance has no task left: say how it ended."""
        for sid in [k for k in self.pending if k in batch.all_servers]:
            s = batch.all_servers[sid]
            action, name, asked_at = self.pending[sid]
            # a tick may coalesce the whole action: a newer `updated` says it happened
            busy = s.get("updated") != asked_at
            if s.get("vm_state") == "deleted" or s.get("status") == "DELETED":
                self.notify(f"{name} is deleted", title=f"{action}: done", timeout=4)
            elif s.get("status") == "ERROR":
                fault = (s.get("fault") or {}).get("message") or "no fault recorded"
                self.notify(f"{name} is in ERROR: {fault}", title=f"{action}: failed",
                            severity="error", timeout=10)
            elif s.get("task_state") is None and busy:
                self.notify(f"{name} is {s.get('status')}", title=f"{action}: done", timeout=4)
            else:
                continue
            del self.pending[sid]

    def action_help(self) -> None:
        from tui.screens.modals import HelpScreen
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_what_happened(self) -> None:
        """The last action as `openstack` and REST calls (the selected instance's, if any)."""
        from tui.screens.what_happened import WhatHappenedScreen, selected_server
        if not isinstance(self.screen, WhatHappenedScreen):
            self.push_screen(WhatHappenedScreen(selected_server(self.screen)))

    def open_list(self, kind: str) -> None:
        """Command palette target: servers, hosts, images, flavors, networks, volumes."""
        from tui.screens.instances import InstancesScreen
        if not self.token:
            self.notify("log in first", severity="warning")
            return
        while len(self.screen_stack) > 2 and not isinstance(self.screen, InstancesScreen):
            self.pop_screen()
        if kind == "servers":
            return
        if kind == "hosts":
            from tui.screens.hosts import HostsScreen
            self.push_screen(HostsScreen())
        else:
            from tui.screens.resources import SCREENS
            self.push_screen(SCREENS[kind]())


def run_app(argv: list[str] | None = None, asgi_factory=None, server_factory=None) -> int:
    """`pocketstack` with no arguments (options: see tui.main.parse). asgi_factory(cloud)
    -> ASGI app (backend.api.create_app) serves the REST API next to the app; without it
    the app runs alone. server_factory(app, log_level=) -> uvicorn.Server serves it (the
    CLI passes the guarded one of `serve`). Returns the exit status."""
    from tui.main import main
    return main(argv, asgi_factory=asgi_factory, server_factory=server_factory)
