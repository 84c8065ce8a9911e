"""Confirmation modal (delete, hard reboot) and the `?` help listing every key."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static

from tui.format import plain


class ConfirmModal(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", confirm_label: str = "Yes"):
        super().__init__()
        self.question, self.detail, self.confirm_label = question, detail, confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog modal"):
            # the question names what is deleted, as the API spells it: plain text
            yield Static(plain(self.question), classes="dialog-title")
            if self.detail:
                yield Static(plain(self.detail), classes="dim")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    @on(Button.Pressed)
    def _pressed(self, ev: Button.Pressed) -> None:
        self.dismiss(ev.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def _key_label(app, binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    return ", ".join(app.get_key_display(Binding(k.strip(), "")) for k in binding.key.split(","))


class HelpScreen(ModalScreen[None]):
    """Every key of the screen underneath and of the app, generated from the bindings,
    so the list cannot drift from what the keys do."""
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    EXTRA = [  # keys the widgets themselves handle
        ("↑ ↓ PgUp PgDn Home End", "move in lists and tables"),
        ("← →", "pick a cell of the instances table; ? then explains its value"),
        ("enter", "open the selected row / confirm"),
        ("tab, shift+tab", "next / previous field or tab"),
    ]

    def __init__(self, under: Screen):
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog modal help"):
            yield Static("Keys", classes="dialog-title")
            yield Static(self._table())
            yield Static("esc / q / ? close this help", classes="dim")

    def _table(self) -> Table:
        t = Table(box=None, show_header=False, padding=(0, 2))
        t.add_column(style="bold cyan", no_wrap=True)
        t.add_column()
        seen: set[str] = set()
        groups = [(type(self.under).__name__.replace("Screen", "") or "screen", self.under.BINDINGS),
                  ("everywhere", self.app.BINDINGS)]
        for title, bindings in groups:
            t.add_row(Text(title, style="bold underline"), "")
            for b in bindings:
                if isinstance(b, tuple):
                    b = Binding(*b)
                label = _key_label(self.app, b)
                if label in seen:
                    continue
                seen.add(label)
                t.add_row(label, b.description or b.action)
            if title == "everywhere":
                t.add_row(":", "command palette: servers, hosts, images, flavors, networks, "
                               "volumes, glossary, switch project, log out")
        t.add_row(Text("widgets", style="bold underline"), "")
        for k, d in self.EXTRA:
            t.add_row(k, d)
        return t
