"""The states diagram of one instance (`d` in its detail, `?` on a state cell of the
instances table): the "Create Instance States" diagram with where the instance is now,
moving live; the state asked about marked, and what it means from the glossary."""
from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.events import Batch
from tui.format import plain
from tui.widgets.session_bar import SessionBar
from tui.widgets.states_diagram import FOCUS_KEYS, render_states


class StatesScreen(Screen):
    BINDINGS = [Binding("escape,q,d", "back", "Back")]

    def __init__(self, server: dict, focus: str | None = None):
        super().__init__()
        self.server = server
        self.column = focus if focus in FOCUS_KEYS else None
        # the value asked about stays marked while the instance moves on
        self.focus = (self.column, server.get(self.column)) if self.column else None
        self.meaning: list[dict] = []

    def compose(self) -> ComposeResult:
        yield SessionBar()
        with VerticalScroll():
            yield Static(id="states-body")
        yield Footer()

    def on_mount(self) -> None:
        self.show()
        if self.column:
            self.run_worker(self.load_meaning(), group="states-glossary", exclusive=True, exit_on_error=False)

    async def load_meaning(self) -> None:
        """What the asked-about value means, in the glossary's words."""
        from tui.screens.glossary import cell_terms, find, load_glossary
        entries = await load_glossary(self.app)
        if entries:
            self.meaning = [e for kind, term in cell_terms(self.column, self.server)
                            if (e := find(entries, kind, term))]
            self.show()

    def show(self) -> None:
        parts = [render_states(self.server, self.focus)]
        if self.meaning:
            parts.append(Text(""))
            for e in self.meaning:
                parts.append(Text.assemble((f"{e['kind']} ", "dim"), plain(e["term"], style="bold cyan"),
                                           ("  ", ""), plain(e["text"])))
        self.query_one("#states-body", Static).update(Group(*parts))

    def on_batch(self, batch: Batch) -> None:
        s = batch.servers.get(self.server["id"])
        if s is not None:
            self.server = s
            self.show()

    def action_back(self) -> None:
        self.app.pop_screen()
