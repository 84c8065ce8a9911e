"""The live instances table: keyed rows (row key = instance id), only changed cells are
written, all of one tick inside one batch. Filter and sort live here too, so the screen
only feeds it server views."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime

from rich.text import Text

from tui import format as fmt
from tui.widgets.live_table import LiveTable

COLUMNS = [
    ("name", "Name"), ("status", "Status"), ("vm_state", "VM state"), ("task_state", "Task"),
    ("power_state", "Power"), ("host", "Host"), ("ips", "IPs"), ("flavor", "Flavor"),
    ("image", "Image"), ("age", "Age"),
]
HOT_STYLE = "on #2d4a2d"  # the background of a row that just changed (the whole row)


class Cell(Text):
    """Text that also carries the value to sort by (age sorts by seconds, not by '12m')."""
    __slots__ = ("sort",)


def _cell(text: str, style: str, sort=None) -> Cell:
    c = Cell(text, style=style, no_wrap=True, overflow="ellipsis")
    c.sort = text.lower() if sort is None else sort
    return c


def is_gone(server: dict | None) -> bool:
    return server is None or server.get("vm_state") == "deleted" or server.get("status") == "DELETED"


class ServerTable(LiveTable):
    DEFAULT_CSS = "ServerTable { height: 1fr; }"

    def __init__(self, clock: Callable[[], datetime], highlight_seconds: float = 1.5, **kw):
        super().__init__(COLUMNS, **kw)
        self.clock = clock
        self.highlight_seconds = highlight_seconds
        self.servers: dict[str, dict] = {}          # every server of the project
        self._shown: dict[str, tuple] = {}          # id -> ((plain, style) per column, hot)
        self._hot: dict[str, float] = {}            # id -> monotonic deadline of its highlight
        self.filter_text = ""
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.cells_written = 0                      # for the bench and tests

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh_ages)

    # ---- cells --------------------------------------------------------------------------
    def render_cells(self, s: dict) -> list[Cell]:
        now = self.clock()
        base = fmt.row_style(s)
        status_style = fmt.STATUS_STYLE.get(s.get("status") or "", "")
        flavor = (s.get("flavor") or {}).get("name", "")
        image = (s.get("image") or {}).get("name", "") if s.get("image") else "(volume)"
        return [
            _cell(s.get("name") or "", base),
            _cell(fmt.status_text(s), f"{base} {status_style}".strip()),
            _cell(s.get("vm_state") or "", base),
            _cell(s.get("task_state") or "", base),
            _cell(s.get("power_state_name") or "", base),
            _cell(s.get("host") or "", base),
            _cell(fmt.ips(s), base),
            _cell(flavor, base),
            _cell(image or "", base),
            _cell(fmt.age(s.get("created"), now), base, sort=fmt.age_seconds(s.get("created"), now)),
        ]

    @staticmethod
    def _sig(cells: list[Cell]) -> tuple:
        return tuple((c.plain, str(c.style)) for c in cells)

    def matches(self, s: dict) -> bool:
        if not self.filter_text:
            return True
        needle = self.filter_text.lower()
        hay = " ".join([s.get("id", ""), s.get("name") or "", s.get("status") or "",
                        s.get("task_state") or "", s.get("host") or "", fmt.ips(s),
                        (s.get("flavor") or {}).get("name", ""),
                        (s.get("image") or {}).get("name", "") if s.get("image") else ""])
        return needle in hay.lower()

    # ---- updates ------------------------------------------------------------------------
    def load(self, servers: Iterable[dict]) -> None:
        """Replace everything (log in, project switch, filter change): not per tick."""
        self.servers = {s["id"]: s for s in servers if not is_gone(s)}
        self._rebuild()

    def _rebuild(self) -> None:
        cursor_key = self.current_key()
        self.clear()
        self._shown.clear()
        rows = []
        for sid, s in self.servers.items():
            if self.matches(s):
                cells = self.render_cells(s)
                self._shown[sid] = (self._sig(cells), False)
                rows.append((sid, cells))
        self.add_rows(rows)
        self.cells_written += len(rows) * len(COLUMNS)
        self._resort(cursor_key)

    def _add(self, sid: str, s: dict, hot: bool) -> None:
        cells = self.render_cells(s)
        self.add_row(*cells, key=sid, style=HOT_STYLE if hot else None)
        self._shown[sid] = (self._sig(cells), hot)
        self.cells_written += len(cells)

    def _write(self, sid: str, s: dict, hot: bool) -> bool:
        """Write only the cells whose text or style changed; True if any did."""
        cells = self.render_cells(s)
        sig = self._sig(cells)
        old, was_hot = self._shown.get(sid, (None, False))
        changed = False
        n = sum(1 for i in range(len(COLUMNS)) if old is None or old[i] != sig[i])
        if n or was_hot != hot:  # the row's strip is rebuilt once, however many cells changed
            self.set_row(sid, cells, style=HOT_STYLE if hot else None)
            self.cells_written += n
            changed = True
        self._shown[sid] = (sig, hot)
        return changed

    def apply(self, updates: dict[str, dict | None]) -> None:
        """One tick of pushed changes: id -> latest view (None or deleted removes it)."""
        now = time.monotonic()
        resort = False
        sort_idx = next((i for i, (k, _) in enumerate(COLUMNS) if k == self.sort_column), None)
        for sid, s in updates.items():
            if is_gone(s):
                self.servers.pop(sid, None)
                self._hot.pop(sid, None)
                if sid in self._shown:
                    self._remove(sid)
                continue
            self.servers[sid] = s
            hot = self.highlight_seconds > 0
            if hot:
                self._hot[sid] = now + self.highlight_seconds
            visible = self.matches(s)
            if sid in self._shown:
                if not visible:
                    self._remove(sid)
                    continue
                before = self._shown[sid][0]
                self._write(sid, s, hot)
                if sort_idx is not None and before[sort_idx] != self._shown[sid][0][sort_idx]:
                    resort = True
            elif visible:
                self._add(sid, s, hot)
                resort = resort or self.sort_column is not None
        if resort:
            self._resort(self.current_key())
        if self._hot:
            self.set_timer(self.highlight_seconds + 0.05, self.cool)

    def _remove(self, sid: str) -> None:
        if self._shown.pop(sid, None) is not None:
            self.remove_row(sid)

    def cool(self) -> None:
        """Drop the highlight of rows whose moment has passed."""
        now = time.monotonic()
        for sid in [k for k, t in self._hot.items() if t <= now]:
            del self._hot[sid]
            if sid in self._shown and sid in self.servers:
                self._write(sid, self.servers[sid], hot=False)

    def refresh_ages(self) -> None:
        """Ages move with the clock; rewrite only the age cells whose text changed."""
        now = self.clock()
        idx = len(COLUMNS) - 1
        for sid, (sig, _) in list(self._shown.items()):
            s = self.servers.get(sid)
            if s and fmt.age(s.get("created"), now) != sig[idx][0]:
                self._write(sid, s, hot=sid in self._hot)

    # ---- filter and sort ----------------------------------------------------------------
    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._rebuild()

    def sort_by(self, column: str) -> None:
        """Same column again reverses, as k9s does."""
        if self.sort_column == column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        self._resort(self.current_key())

    def _resort(self, keep: str | None) -> None:
        if self.sort_column and self.row_count:
            i = self.col_index[self.sort_column]
            self.sort_rows(key=lambda cells: cells[i].sort, reverse=self.sort_reverse)
        if keep and keep in self._shown:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def visible_ids(self) -> list[str]:
        """Row keys in display order."""
        return self.keys()
