"""The main screen: every instance of the project, live."""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tui import format as fmt
from tui.events import Batch
from tui.widgets.server_table import ServerTable
from tui.widgets.session_bar import SessionBar

SORT_KEYS = {"N": "name", "T": "status", "H": "host", "A": "age", "F": "flavor", "I": "image"}


class InstancesScreen(Screen):
    BINDINGS = [
        Binding("c", "launch", "Launch"),
        Binding("enter", "detail", "Detail", show=False),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("s", "stop", "Stop"),
        Binding("u", "start", "Start"),
        Binding("r", "reboot", "Reboot"),
        Binding("R", "reboot_hard", "Hard reboot", show=False),
        Binding("ctrl+d", "delete", "Delete"),
        Binding("t", "detail('trace')", "Trace", show=False),
        Binding("l", "detail('console')", "Console", show=False),
        Binding("ctrl+r", "reload", "Reload", show=False),
        Binding("question_mark", "explain", "Explain", key_display="?",
                tooltip="explain the picked cell (← → pick one), else the key help"),
        *[Binding(k, f"sort('{col}')", f"Sort by {col}", show=False) for k, col in SORT_KEYS.items()],
    ]

    def compose(self) -> ComposeResult:
        yield SessionBar()
        yield Input(placeholder="filter: name, status, host, IP, flavor, image…", id="filter",
                    classes="hidden")
        yield ServerTable(self.app.clock, self.app.highlight_seconds, id="servers")
        yield Static("", id="status-line")
        yield Footer()

    @property
    def table(self) -> ServerTable:
        return self.query_one(ServerTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.reload()

    @work(exclusive=True, group="reload", exit_on_error=False)
    async def reload(self) -> None:
        from tui.app import FAILED
        got = await self.app.guard(self.app.adapter.call("list_servers"), "list servers")
        if got is not FAILED:
            # events that raced the listing are newer than it: apply them after
            self.table.load(got)
            self.update_status()

    def action_reload(self) -> None:
        self.reload()

    def on_batch(self, batch: Batch) -> None:
        if batch.servers:
            self.table.apply(batch.servers)
            self.update_status()

    def update_status(self) -> None:
        t = self.table
        total = len(t.servers)
        counts = t.status_counts  # kept by the table as rows change: no scan per tick
        parts = [f"{total} instances"] + [f"{k} {v}" for k, v in sorted(counts.items())]
        if not total:
            parts = ["no instances in this project yet: press c to launch one, ? for every key"]
        if t.filter_text:
            parts.append(f"filter '{t.filter_text}': {t.row_count} shown")
        if t.sort_column:
            parts.append(f"sorted by {t.sort_column}{' ↓' if t.sort_reverse else ' ↑'}")
        # statuses come from the API and the filter from the keyboard: plain text; one line
        # of fixed height, so no layout of the screen on every tick
        self.query_one("#status-line", Static).update(fmt.plain(" · ".join(parts)), layout=False)

    # ---- filter and sort ----------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("hidden")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, ev: Input.Changed) -> None:
        self.table.set_filter(ev.value)
        self.update_status()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.add_class("hidden")
        self.table.set_filter("")
        self.table.focus()
        self.update_status()

    def action_sort(self, column: str) -> None:
        self.table.sort_by(column)
        self.update_status()

    # ---- instance actions ---------------------------------------------------------------
    def selected(self) -> dict | None:
        key = self.table.current_key()
        s = self.table.servers.get(key) if key else None
        if s is None:
            self.notify("no instance selected", severity="warning", timeout=2)
        return s

    def action_explain(self) -> None:
        """`?` over a cell explains its value; anywhere else it is the key help."""
        t = self.table
        column, key = t.current_column(), t.current_key()
        if self.focused is t and column in ("status", "vm_state", "task_state", "power_state") \
                and key in t.servers:  # a state: the states diagram, that state marked and explained
            from tui.screens.states import StatesScreen
            self.app.push_screen(StatesScreen(t.servers[key], focus=column))
        elif self.focused is t and column and key in t.servers:
            from tui.screens.glossary import explain_cell
            explain_cell(self.app, column, t.servers[key], dict(t.columns)[column])
        else:
            self.app.action_help()

    def action_launch(self) -> None:
        from tui.screens.launch import LaunchScreen
        self.app.push_screen(LaunchScreen(), self._launched)

    def _launched(self, servers: list[dict] | None) -> None:
        if servers:  # shown at once, in BUILD, before any event arrives
            self.table.apply({s["id"]: s for s in servers})
            self.table.move_cursor(row=self.table.get_row_index(servers[0]["id"]))
            self.update_status()

    def action_detail(self, tab: str = "flow") -> None:
        from tui.screens.detail import DetailScreen
        s = self.selected()
        if s:
            self.app.push_screen(DetailScreen(s, tab=tab))

    def on_live_table_row_selected(self, ev) -> None:
        self.action_detail()

    def action_stop(self) -> None:
        run_action(self.app, self.selected(), "stop")

    def action_start(self) -> None:
        run_action(self.app, self.selected(), "start")

    def action_reboot(self) -> None:
        run_action(self.app, self.selected(), "reboot")

    def action_reboot_hard(self) -> None:
        run_action(self.app, self.selected(), "reboot_hard")

    def action_delete(self) -> None:
        run_action(self.app, self.selected(), "delete")


ACTIONS = {
    # name: (facade method, kwargs, needs confirmation, past tense)
    "stop": ("stop_server", {}, False, "stopping"),
    "start": ("start_server", {}, False, "starting"),
    "reboot": ("reboot_server", {"hard": False}, False, "rebooting"),
    "reboot_hard": ("reboot_server", {"hard": True}, True, "hard rebooting"),
    "delete": ("delete_server", {}, True, "deleting"),
}


def refusal_for(app, server: dict, action: str) -> str | None:
    """Why the backend would refuse this action now (its own rule), or None."""
    from backend.core.actions import refusal
    tok = app.token or {}
    roles = [r["name"] for r in tok.get("roles") or []]
    # the host is hidden from non-admins' views: unknown, not absent
    has_host = bool(server.get("host")) if tok.get("is_admin") else None
    return refusal(action, server.get("vm_state"), server.get("task_state"), roles, has_host)


def run_action(app, server: dict | None, action: str) -> None:
    """Stop/start/reboot/delete one instance; delete and hard reboot ask first."""
    if not server:
        return
    method, kwargs, confirm, doing = ACTIONS[action]
    name = server.get("name") or server["id"]
    why = refusal_for(app, server, action)
    if why:  # the backend would refuse: say why instead of asking it
        app.notify(f"{name}: {why}", title=f"cannot {action.replace('_', ' ')}", severity="warning",
                   timeout=4)
        return

    async def go() -> None:
        from tui.app import FAILED
        # registered first: the outcome's event can beat the call's own return
        app.pending[server["id"]] = [action.replace("_", " "), name, server.get("updated")]
        got = await app.guard(app.adapter.call(method, server["id"], **kwargs),
                              f"{action.replace('_', ' ')} {name}")
        if got is FAILED:
            app.pending.pop(server["id"], None)
        else:
            app.notify(f"{doing} {name}\nw: the openstack command and REST calls",
                       title=action.replace("_", " "), timeout=3)

    def answered(yes: bool | None) -> None:
        if yes:
            app.run_worker(go(), group="actions", exit_on_error=False)

    if confirm:
        from tui.screens.modals import ConfirmModal
        verb = "Delete" if action == "delete" else "Hard reboot"
        app.push_screen(ConfirmModal(f"{verb} instance {name}?",
                                     f"id {server['id']}\nstatus {server.get('status')}",
                                     confirm_label=verb), answered)
    else:
        answered(True)
