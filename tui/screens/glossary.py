"""The glossary: `?` over a cell explains its value; the searchable glossary screen (`:`
glossary) lists every state, fault kind, scheduler filter and weigher and the main terms.
The words come from the backend (facade `glossary`), fetched once per app."""
from __future__ import annotations

import re

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Static

from tui.format import plain
from tui.widgets.session_bar import SessionBar

KIND_TITLES = {"status": "API status", "vm_state": "vm_state", "task_state": "task_state",
               "power_state": "power_state", "fault": "fault kind", "filter": "scheduler filter",
               "weigher": "scheduler weigher", "term": "term"}
STATE_KINDS = ("status", "vm_state", "task_state", "power_state")


async def load_glossary(app) -> list[dict] | None:
    """Every entry, fetched once and kept on the app (None: the call failed, a toast said why)."""
    from tui.app import FAILED
    cached = getattr(app, "glossary_entries", None)
    if cached is not None:
        return cached
    got = await app.guard(app.adapter.call("glossary"), "glossary")
    if got is FAILED:
        return None
    app.glossary_entries = got
    return got


def find(entries: list[dict], kind: str, term: str | None) -> dict | None:
    """The entry of kind and term; for a fault, term is the message and its kind is found
    by the patterns the backend gives."""
    for e in entries:
        if e["kind"] != kind:
            continue
        if kind == "fault" and e.get("pattern") and term and re.match(e["pattern"], term):
            return e
        if e["term"] == term:
            return e
    return None


def cell_terms(column: str, server: dict) -> list[tuple[str, str]]:
    """(kind, term) pairs that explain one cell of an instance: its value's entry first, then
    the column's own term."""
    s = server
    if column == "status":
        return [("status", s.get("status") or ""), ("term", "status")]
    if column in ("vm_state", "task_state"):
        value = s.get(column)
        return ([(column, value)] if value else []) + [("term", column)]
    if column in ("power_state", "power_state_name"):
        return [("power_state", s.get("power_state_name") or ""), ("term", "power_state")]
    if column == "fault":
        return [("fault", (s.get("fault") or {}).get("message") or ""), ("term", "fault")]
    return [("term", {"host": "hypervisor", "ips": "port", "addresses": "port", "flavor": "flavor",
                      "image": "image", "availability_zone": "availability zone"}.get(column, "instance"))]


def entry_text(e: dict) -> Text:
    t = Text()
    t.append(f"{KIND_TITLES.get(e['kind'], e['kind'])} ", style="dim")
    t.append(e["term"], style="bold cyan")
    if e.get("code") is not None:
        t.append(f" ({e['code']})", style="dim")
    t.append("\n")
    t.append(e["text"])
    return t


class GlossaryEntryModal(ModalScreen[None]):
    """One cell explained: the entry of its value and of its column."""
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close"),
                Binding("g", "open_glossary", "Whole glossary")]

    def __init__(self, title: str, found: list[dict], search: str = ""):
        super().__init__()
        self.title_text, self.found, self.search = title, found, search

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog modal glossary-entry"):
            yield Static(plain(self.title_text), classes="dialog-title")
            for e in self.found:
                yield Static(entry_text(e), classes="glossary-item")
            if not self.found:
                yield Static("no glossary entry for this value", classes="dim")
            yield Static("g the whole glossary · esc close", classes="dim")

    def action_open_glossary(self) -> None:
        self.dismiss(None)
        self.app.push_screen(GlossaryScreen(self.search))


def explain_cell(app, column: str, server: dict, label: str | None = None) -> None:
    """`?` over a cell of an instance: its glossary entries in a modal."""

    async def go() -> None:
        entries = await load_glossary(app)
        if entries is None:
            return
        found = [e for kind, term in cell_terms(column, server) if (e := find(entries, kind, term))]
        value = shown_value(column, server)
        head = f"{label or column}: {value}" if value else (label or column)
        app.push_screen(GlossaryEntryModal(head, found, found[0]["term"] if found else ""))
    app.run_worker(go(), group="glossary", exclusive=True, exit_on_error=False)


def shown_value(column: str, server: dict) -> str:
    """A cell's value as a person reads it (a flavor with its sizes, not a dict)."""
    from tui import format as fmt
    v = server.get(column)
    if column == "flavor" and isinstance(v, dict):
        return f"{v.get('name')} ({v.get('vcpus')} vCPU, {v.get('ram')} MB, {v.get('disk')} GB)"
    if column == "image":
        return (v or {}).get("name") or "" if v else "(boot volume)"
    if column == "ips":
        return fmt.ips(server)
    if column == "power_state":
        return f"{server.get('power_state_name')} ({v})"
    if column == "age":
        return server.get("created") or ""
    return "" if v is None or isinstance(v, (dict, list)) else str(v)


def explain_server(app, server: dict) -> None:
    """`?` over the detail's overview: every state value of the instance (and its fault's
    kind) explained at once."""

    async def go() -> None:
        entries = await load_glossary(app)
        if entries is None:
            return
        columns = ["status", "vm_state", "task_state", "power_state"] + (["fault"] if server.get("fault") else [])
        found = [e for c in columns for kind, term in cell_terms(c, server)[:1] if (e := find(entries, kind, term))]
        app.push_screen(GlossaryEntryModal(f"{server.get('name') or server['id']}: what its state means",
                                           found, ""))
    app.run_worker(go(), group="glossary", exclusive=True, exit_on_error=False)


def matches(e: dict, query: str) -> bool:
    """Every word of the query in the entry's kind, term or text (case-insensitive)."""
    hay = f"{KIND_TITLES.get(e['kind'], e['kind'])} {e['kind']} {e['term']} {e['text']}".lower()
    return all(w in hay for w in query.lower().split())


def render_entries(entries: list[dict]) -> Table | Text:
    if not entries:
        return Text("nothing matches", style="dim")
    t = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    t.add_column(no_wrap=True, style="dim", width=18)
    t.add_column(no_wrap=True, style="bold cyan")
    t.add_column(ratio=1)
    for e in entries:
        term = e["term"] + (f" ({e['code']})" if e.get("code") is not None else "")
        t.add_row(plain(KIND_TITLES.get(e["kind"], e["kind"])), plain(term), plain(e["text"]))
    return t


class GlossaryScreen(Screen):
    """Every entry, filtered as you type (each word must appear)."""
    BINDINGS = [
        Binding("escape", "back", "Clear / back"),
        Binding("down", "scroll(1)", "Scroll", show=False),
        Binding("up", "scroll(-1)", "Scroll", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
    ]

    def __init__(self, query: str = ""):
        super().__init__()
        self.query_text = query
        self.entries: list[dict] = []

    def compose(self) -> ComposeResult:
        yield SessionBar()
        yield Static("Glossary: states, faults, scheduler filters and weighers, terms", classes="screen-title")
        yield Input(value=self.query_text, placeholder="search: type words (spawning, RAM, fault…)",
                    id="glossary-filter")
        with VerticalScroll(id="glossary-scroll"):
            yield Static(id="glossary-body")
        yield Static("", id="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#glossary-filter", Input).focus()
        self.load()

    @work(exclusive=True, group="glossary-load", exit_on_error=False)
    async def load(self) -> None:
        got = await load_glossary(self.app)
        self.entries = got or []
        self.show()

    def shown(self) -> list[dict]:
        q = self.query_one("#glossary-filter", Input).value
        return [e for e in self.entries if matches(e, q)]

    def show(self) -> None:
        rows = self.shown()
        self.query_one("#glossary-body", Static).update(render_entries(rows))
        q = self.query_one("#glossary-filter", Input).value.strip()
        line = f"{len(rows)} of {len(self.entries)} entries" + (f" match '{q}'" if q else "")
        self.query_one("#status-line", Static).update(plain(line + " · ↑↓ PgUp PgDn scroll · esc clear / back"))

    @on(Input.Changed, "#glossary-filter")
    def _changed(self) -> None:
        self.show()
        self.query_one("#glossary-scroll", VerticalScroll).scroll_home(animate=False)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#glossary-scroll", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_page(self, direction: int) -> None:
        box = self.query_one("#glossary-scroll", VerticalScroll)
        box.scroll_relative(y=direction * max(1, box.size.height - 1), animate=False)

    def action_back(self) -> None:
        box = self.query_one("#glossary-filter", Input)
        if box.value:
            box.value = ""
        else:
            self.app.pop_screen()
