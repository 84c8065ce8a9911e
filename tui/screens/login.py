"""Log in (password -> unscoped token), then pick a project (skipped when there is one)."""
from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from backend.core.errors import CloudError
from tui.format import plain
from tui.widgets.session_bar import SessionBar


def password_hint(home: Path, env: Mapping[str, str]) -> str:
    """Where the admin password is, never the password itself. `make run` (scripts/run.sh)
    makes one into <home>/admin-password, readable by its owner only, when OS_PASSWORD is
    unset; init keeps the password of its first run."""
    pwfile = Path(home) / "admin-password"
    try:
        st = pwfile.stat()
        private = stat.S_ISREG(st.st_mode) and st.st_size > 0 and not st.st_mode & 0o077 \
            and st.st_uid == os.getuid()
    except OSError:
        private = False
    if private:
        return f"admin password: in {pwfile} (made by make run; only you can read it)"
    if env.get("OS_PASSWORD"):
        return "admin password: the value of $OS_PASSWORD when pocketstack init first ran"
    return "admin password: the one given to pocketstack init ($OS_PASSWORD or its prompt)"


class LoginScreen(Screen):
    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield SessionBar()
        with Vertical(id="login-box", classes="dialog"):
            yield Static("Log in to pocketstack", classes="dialog-title")
            yield Label("Username")
            yield Input(placeholder="admin", id="username")
            yield Label("Password")
            yield Input(placeholder="password", password=True, id="password")
            yield Static("", id="login-error", classes="error")
            hint = getattr(self.app, "login_hint", None)
            if hint:  # a path and where it came from: plain text
                yield Static(plain(hint), id="login-hint", classes="dim")
            yield Button("Log in", variant="primary", id="login")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#username", Input).focus()
        if self.app.prefill_user:
            self.query_one("#username", Input).value = self.app.prefill_user
            self.query_one("#password", Input).focus()
        if self.app.auto_login:
            user, pw = self.app.auto_login
            self.query_one("#username", Input).value = user
            self.query_one("#password", Input).value = pw
            self.submit()

    @on(Input.Submitted, "#username")
    def _next(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#password")
    @on(Button.Pressed, "#login")
    def submit(self) -> None:
        user = self.query_one("#username", Input).value.strip()
        pw = self.query_one("#password", Input).value
        err = self.query_one("#login-error", Static)
        if not user or not pw:
            err.update("username and password are both needed")
            return
        err.update("logging in…")
        self.do_login(user, pw)

    @work(exclusive=True, group="login", exit_on_error=False)
    async def do_login(self, user: str, pw: str) -> None:
        err = self.query_one("#login-error", Static)
        adapter = self.app.adapter
        try:
            await adapter.login(user, pw)
            projects = await adapter.projects()
        except CloudError as e:
            err.update(plain(e.message))
            self.query_one("#password", Input).value = ""
            self.query_one("#password", Input).focus()
            return
        except Exception as e:  # the server is down or unreachable
            err.update(plain(f"cannot reach the cloud: {e or type(e).__name__}"))
            return
        err.update("")
        if not projects:
            err.update("this user has no role on any project")
            return
        if len(projects) == 1:
            await scope_to(self.app, projects[0]["id"])
        else:
            self.app.push_screen(ProjectScreen(projects))


async def scope_to(app, project_id: str) -> bool:
    from tui.app import FAILED
    if await app.guard(app.adapter.scope(project_id), "scope") is FAILED:
        return False
    app.start_session()
    return True


class ProjectScreen(Screen):
    """The projects the unscoped token may scope to (Keystone's GET /v3/auth/projects)."""
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, projects: list[dict] | None = None):
        super().__init__()
        self.projects = projects

    def compose(self) -> ComposeResult:
        yield SessionBar()
        with Vertical(id="project-box", classes="dialog"):
            yield Static("Choose a project", classes="dialog-title")
            yield OptionList(id="projects")
            yield Static("", id="project-error", classes="error")
        yield Footer()

    async def on_mount(self) -> None:
        if self.projects is None:
            from tui.app import FAILED
            got = await self.app.guard(self.app.adapter.projects(), "list projects")
            self.projects = [] if got is FAILED else got
        ol = self.query_one(OptionList)
        current = self.app.adapter.project_id
        for p in sorted(self.projects, key=lambda p: p["name"]):
            mark = "  (current)" if p["id"] == current else ""
            ol.add_option(Option(plain(f"{p['name']}{mark}"), id=p["id"]))
        ol.highlighted = 0 if self.projects else None
        ol.focus()

    @on(OptionList.OptionSelected)
    async def _chosen(self, ev: OptionList.OptionSelected) -> None:
        if not await scope_to(self.app, ev.option.id):
            self.query_one("#project-error", Static).update("could not scope to that project")

    def action_back(self) -> None:
        self.app.pop_screen()
