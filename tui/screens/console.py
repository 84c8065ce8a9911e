"""A guest's serial console, attached (`c` on the detail's Console tab): every key goes to the
guest's shell, ctrl-] detaches, as `virsh console` (F10 too, for terminals that do not send
ctrl-]). One client at a time per guest: the cloud refuses a second, naming who holds it.
The read-only log stays in the Console tab."""
from __future__ import annotations

from textual import events, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from tui.format import plain
from tui.widgets.session_bar import SessionBar
from tui.widgets.terminal import TermBuffer

DETACH_KEYS = ("ctrl+right_square_bracket", "f10")
# keys that are not characters, as a terminal sends them to the guest
KEY_BYTES = {"enter": b"\r", "backspace": b"\x7f", "tab": b"\t", "escape": b"\x1b",
             "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
             "home": b"\x1b[H", "end": b"\x1b[F", "delete": b"\x1b[3~"}


class ConsoleScreen(Screen):
    DEFAULT_CSS = """
    ConsoleScreen #console-title { background: $boost; padding: 0 1; }
    ConsoleScreen #console-screen { padding: 0 1; }
    """

    def __init__(self, server: dict):
        super().__init__()
        self.server = server
        self.sid = server["id"]
        self.term = TermBuffer()
        self.session = None
        self.ended: str | None = None

    def compose(self) -> ComposeResult:
        yield SessionBar()
        yield Static(id="console-title")
        with VerticalScroll(id="console-scroll"):
            yield Static(id="console-screen")

    def on_mount(self) -> None:
        self._title("attaching…")
        self.attach()

    def _title(self, state: str) -> None:
        title = plain(f"Serial console of {self.server.get('name') or self.sid}  ·  {state}  ·  "
                      "ctrl-] (or F10) detaches")
        self.query_one("#console-title", Static).update(title)

    def _draw(self) -> None:
        self.query_one("#console-screen", Static).update(plain(self.term.text))
        self.query_one("#console-scroll", VerticalScroll).scroll_end(animate=False)

    @work(group="console-session", exclusive=True, exit_on_error=False)
    async def attach(self) -> None:
        from tui.app import FAILED
        got = await self.app.guard(self.app.adapter.open_console(self.sid), "console")
        if got is FAILED:
            self.ended = "not attached"
            self._title("not attached (esc to go back)")
            return
        self.session = got
        self._title("attached")
        while True:
            data = await self.session.read()
            if not data:
                break
            self.term.feed(data)
            if self.is_attached:
                self._draw()
        self.session = None
        self.ended = getattr(got, "ended", None) or "the console ended"
        if self.is_attached:
            self._title(f"{self.ended} (esc to go back)")

    async def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if event.key in DETACH_KEYS or (self.session is None and event.key in ("escape", "q")):
            await self.detach()
            return
        if self.session is None:
            return
        data = KEY_BYTES.get(event.key)
        if data is None and event.key.startswith("ctrl+") and len(event.key) == 6:
            data = bytes([ord(event.key[-1]) & 0x1F])  # ctrl+c -> ^C, as a tty sends it
        if data is None and event.character and event.is_printable:
            data = event.character.encode()
        if data:
            await self.session.write(data)

    async def on_unmount(self) -> None:
        # the screen went away without a detach (the app closing): the console is let go
        session, self.session = self.session, None
        if session is not None:
            try:
                await session.close()
            except Exception:
                pass

    async def detach(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            try:
                await session.close()
            except Exception:
                pass
        self.app.pop_screen()
