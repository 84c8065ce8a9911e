"""What just happened (`w`, anywhere): the last action as the `openstack` command line a
user would type and the REST calls it made; on an instance, that instance's last action from
this app and its actions list from any client (each with `openstack server event show`).
Plain, selectable text; `c` copies the command line."""
from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.format import plain
from tui.whathappened import Happening, Journal, event_show

IN_PROCESS = ("in-process: the app called the backend directly, no HTTP was sent. These are the "
              "REST requests the same action is over the API, with the status the API answers "
              "and the request id the backend recorded for the instance action.")


def selected_server(screen: Screen) -> str | None:
    """The instance the screen underneath is on: the detail's, or the table's cursor row."""
    from tui.screens.detail import DetailScreen
    from tui.screens.instances import InstancesScreen
    if isinstance(screen, DetailScreen):
        return screen.sid
    if isinstance(screen, InstancesScreen):
        return screen.table.current_key()
    return None


def render_happening(h: Happening | None, heading: str) -> Text:
    if h is None:
        return Text("Nothing done from this app yet: launch, stop, start, reboot or delete an "
                    "instance, or create a volume, then press w.", style="dim")
    head = Text()
    head.append(f"{heading}: ", style="bold")
    head.append(h.title, style="bold")  # names from the API: appended, never markup
    if h.error:
        head.append("  failed: ", style="bold red")
        head.append(h.error, style="red")
    where = Text(IN_PROCESS if h.in_process else
                 f"over {h.where.removeprefix('remote ')}: the HTTP requests the app sent, as the "
                 "server answered them.", style="dim")
    cli = Text()
    cli.append("openstack command line (c copies it)\n", style="bold underline")
    for line in h.commands or ["(no openstack equivalent)"]:
        cli.append("$ ", style="dim")
        cli.append(line + "\n", style="cyan")
    if h.note:
        cli.append(h.note + "\n", style="dim")
    rest = Text()
    rest.append("REST calls\n", style="bold underline")
    for c in h.calls:
        ok = c.status is not None and c.status < 400
        rest.append(f"{c.method} ", style="bold")
        rest.append(c.path)
        rest.append("  → ")
        rest.append("no answer" if c.status is None else str(c.status), style="green" if ok else "red")
        rest.append("  request id ")
        rest.append(c.request_id or "-", style="bold" if c.request_id else "dim")
        rest.append("\n")
        body = c.body_text()
        if body:
            rest.append(f"    {body}\n", style="dim")
        if c.error:
            rest.append(f"    {c.error}\n", style="red")
    if not h.calls:
        rest.append("(none)\n", style="dim")
    # one Text, not a Group: Textual selects text only in Text/Content
    return Text("\n").join([head, where, Text(""), cli, rest])


def render_instance_actions(actions: list[dict] | None, journal: Journal, sid: str) -> Text:
    """The instance's actions from any client (this app, the CLI, openstack, the SDK), as
    plain aligned text (selectable, unlike a table)."""
    if actions is None:
        return Text("")
    out = Text("This instance's actions, from any client (newest first)\n", style="bold underline")
    if not actions:
        out.append("none recorded", style="dim")
        return out
    cols = [("action", lambda a: a.get("action")), ("request id", lambda a: a.get("request_id")),
            ("user", lambda a: a.get("user_id")), ("start", lambda a: a.get("start_time")),
            ("finish", lambda a: a.get("finish_time") or "-")]
    cells = [[str(get(a) or "") for _, get in cols] for a in actions]
    widths = [max([len(title)] + [len(r[i]) for r in cells]) for i, (title, _) in enumerate(cols)]
    out.append("  ".join(t.ljust(w) for (t, _), w in zip(cols, widths)) + "  see it with\n", style="bold")
    for a, row in zip(actions, cells):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  ")
        out.append(event_show(journal, sid, a.get("request_id") or "") + "\n", style="cyan")
    out.rstrip()
    return out


class WhatHappenedScreen(ModalScreen[None]):
    # not the app's .dialog (64 columns): paths and command lines need the width
    DEFAULT_CSS = """
    WhatHappenedScreen > .what-happened {
        width: 90%; max-width: 160; height: auto; max-height: 90%;
        padding: 1 2; border: round $primary; background: $surface;
    }
    WhatHappenedScreen #wh-keys { margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape,q,w", "dismiss", "Close"),
        Binding("c", "copy", "Copy command line"),
        Binding("left_square_bracket", "step(-1)", "Earlier action", key_display="["),
        Binding("right_square_bracket", "step(1)", "Later action", key_display="]"),
    ]

    def __init__(self, server_id: str | None = None) -> None:
        super().__init__()
        self.sid = server_id
        self.happening: Happening | None = None
        self.heading = "What just happened"
        self.actions: list[dict] | None = None

    @property
    def journal(self) -> Journal:
        return self.app.adapter.journal

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="what-happened"):
            yield Static(id="wh-body")
            yield Static(id="wh-actions")
            yield Static(plain("c copy the command line · [ ] earlier / later action · "
                               "esc close · select text with the mouse"), id="wh-keys", classes="dim")

    def on_mount(self) -> None:
        mine = self.journal.last_for(self.sid) if self.sid else None
        self.happening = mine or self.journal.last
        if mine:
            self.heading = "Last action on this instance from this app"
        self.show()
        if self.sid:
            self.load_actions()

    def show(self) -> None:
        self.query_one("#wh-body", Static).update(render_happening(self.happening, self.heading))
        if self.sid:
            self.query_one("#wh-actions", Static).update(
                render_instance_actions(self.actions, self.journal, self.sid))

    @work(exclusive=True, group="what-happened", exit_on_error=False)
    async def load_actions(self) -> None:
        from tui.app import FAILED
        got = await self.app.guard(self.app.adapter.call("list_instance_actions", self.sid),
                                   "instance actions")
        self.actions = [] if got is FAILED else got
        self.show()

    def command_text(self) -> str:
        return "\n".join(self.happening.commands) if self.happening else ""

    def action_copy(self) -> None:
        text = self.command_text()
        if not text:
            self.notify("no command line to copy", severity="warning", timeout=2)
            return
        self.app.copy_to_clipboard(text)
        self.notify("copied the openstack command line", timeout=2)

    def action_step(self, step: int) -> None:
        if self.happening is None:
            return
        other = self.journal.previous(self.happening, step)
        if other is None:
            self.notify("no earlier action" if step < 0 else "no later action", timeout=2)
            return
        self.happening, self.heading = other, f"Action {other.seq} of this session"
        self.show()
