"""The live instances table: keyed rows (row key = instance id), only changed cells are
written, all of one tick inside one batch. Filter and sort live here too, so the screen
only feeds it server views.

A tick costs the rows it changes, never all of them (20,000 rows, hundreds changed a tick):
- a row is kept as a tuple of (text, style) per column, made into Text only when drawn,
  and a view as its pickle: tuples of str and bytes are left alone by the garbage collector,
  200,000 Text cells and 20,000 nested views were not (each full collection walked them:
  most of a second on a loaded machine, the screen frozen meanwhile);
- ages move with the clock on the rows on screen only; a row scrolled into view is brought
  up to date as it is drawn; sorting by age sorts by creation time, which the clock never
  reorders;
- after a big load, what is alive is long-lived: collected once and frozen out of the
  collector's walks (settle_heap);
- the status line's counts are kept as rows change, not recounted;
- a highlight ends with one timer for the oldest, not a scan of every row."""
from __future__ import annotations

import gc
import pickle
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import datetime

from rich.cells import cell_len
from rich.control import strip_control_codes
from rich.text import Text

from tui import format as fmt
from tui.adapter import parse_ts
from tui.widgets.live_table import LiveTable

COLUMNS = [
    ("name", "Name"), ("status", "Status"), ("vm_state", "VM state"), ("task_state", "Task"),
    ("power_state", "Power"), ("host", "Host"), ("ips", "IPs"), ("flavor", "Flavor"),
    ("image", "Image"), ("age", "Age"),
]
AGE = len(COLUMNS) - 1
HOT_STYLE = "on #2d4a2d"  # the background of a row that just changed (the whole row)
SETTLE_AT = 1000  # a load of this many views settles the heap
YOUNG = 5000  # the young generation's threshold from then on (settle_heap)

Row = tuple  # ((text, style), ...) one pair per column, as drawn


def is_gone(server: dict | None) -> bool:
    return server is None or server.get("vm_state") == "deleted" or server.get("status") == "DELETED"


def _widths(row: Row) -> list[int]:
    return [cell_len(text) for text, _ in row]


def settle_heap() -> None:
    """After a big load everything alive (the app, the cloud's objects in-process, the
    modules) stays alive, and a full collection walks all of it: 100-300 ms with 20,000
    instances on a loaded machine, one every few seconds under a stream of changes, the
    screen frozen meanwhile. Collect once now (a load is a wait anyway) and freeze what is
    left out of later walks. A frozen object that dies is still freed by its reference
    count; a cycle among them waits for the next big load (unfreeze, collect). The young
    generation is made larger (700 -> 5,000): a frame's short-lived objects then die young
    instead of reaching the old generation, whose growth is what starts a full collection
    (bench/tui_tick.py over --url, load 10: 4-5 full collections of up to 180 ms -> none)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(max(gc.get_threshold()[0], YOUNG), *gc.get_threshold()[1:])


class Views(MutableMapping):
    """id -> server view, each kept pickled (exact types back; a fresh copy per read)."""

    def __init__(self, views: Iterable[dict] = ()) -> None:
        self._b: dict[str, bytes] = {v["id"]: pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for v in views}

    def __getitem__(self, sid: str) -> dict:
        return pickle.loads(self._b[sid])

    def __setitem__(self, sid: str, view: dict) -> None:
        self._b[sid] = pickle.dumps(view, pickle.HIGHEST_PROTOCOL)

    def __delitem__(self, sid: str) -> None:
        del self._b[sid]

    def __contains__(self, sid: object) -> bool:
        return sid in self._b

    def __iter__(self) -> Iterator[str]:
        return iter(self._b)

    def __len__(self) -> int:
        return len(self._b)


class ServerTable(LiveTable):
    DEFAULT_CSS = "ServerTable { height: 1fr; }"

    def __init__(self, clock: Callable[[], datetime], highlight_seconds: float = 1.5, **kw):
        super().__init__(COLUMNS, **kw)
        self.clock = clock
        self.highlight_seconds = highlight_seconds
        self.servers = Views()                      # every server of the project
        self.status_counts: Counter[str] = Counter()  # of self.servers, kept as they change
        self._status: dict[str, str] = {}           # id -> status, for the counts
        self._created: dict[str, datetime | None] = {}  # shown rows: the age's origin
        self._hot: dict[str, float] = {}            # id -> monotonic deadline, oldest first
        self._sort_values: dict[str, object] = {}   # shown rows: value in the sort column
        self._sort_for: str | None = None           # the column _sort_values are of
        self._cool_timer = None
        self.filter_text = ""
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.cells_written = 0                      # for the bench and tests

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh_ages)

    # ---- cells --------------------------------------------------------------------------
    def render_cells(self, s: dict) -> Row:
        return self._row(s, parse_ts(s.get("created")))

    def _row(self, s: dict, created: datetime | None) -> Row:
        base = fmt.row_style(s)
        status_style = fmt.STATUS_STYLE.get(s.get("status") or "", "")
        flavor = (s.get("flavor") or {}).get("name", "")
        image = (s.get("image") or {}).get("name", "") if s.get("image") else "(volume)"
        texts = (s.get("name") or "", fmt.status_text(s), s.get("vm_state") or "",
                 s.get("task_state") or "", s.get("power_state_name") or "", s.get("host") or "",
                 fmt.ips(s), flavor, image or "",
                 "" if created is None else fmt.age_since(created, self.clock()))
        styles = (base, f"{base} {status_style}".strip()) + (base,) * (len(COLUMNS) - 2)
        # control codes out, as Text does: the row compares and measures what is drawn
        return tuple(zip([t if t.isprintable() else strip_control_codes(t) for t in texts], styles))

    def row_texts(self, key: str) -> list[Text]:
        self._fresh_age(key)
        return [Text(t, style=st, no_wrap=True, overflow="ellipsis") for t, st in self._cells[key]]

    def row_strip(self, key: str):
        self._fresh_age(key)  # a row scrolled into view shows its age now, not when written
        return super().row_strip(key)

    def _fresh_age(self, key: str) -> bool:
        """Bring a row's age cell up to the clock; True if its text changed."""
        created = self._created.get(key)
        row = self._cells[key]
        text = "" if created is None else fmt.age_since(created, self.clock())
        if text == row[AGE][0]:
            return False
        self._cells[key] = row[:AGE] + ((text, row[AGE][1]),)
        self._strips.pop(key, None)
        self.grow_widths([0] * AGE + [cell_len(text)])
        self.cells_written += 1
        return True

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
        views = {s["id"]: s for s in servers if not is_gone(s)}
        self.servers = Views(views.values())
        self._status = {sid: s.get("status") or "?" for sid, s in views.items()}
        self.status_counts = Counter(self._status.values())
        self._rebuild(views)
        if len(views) >= SETTLE_AT:
            del views
            settle_heap()

    def _count(self, sid: str, status: str | None) -> None:
        """The counts follow a server's status (None: it is gone)."""
        old = self._status.pop(sid, None)
        if old is not None:
            self.status_counts[old] -= 1
            if self.status_counts[old] <= 0:
                del self.status_counts[old]
        if status is not None:
            self._status[sid] = status
            self.status_counts[status] += 1

    def _rebuild(self, views: dict[str, dict] | None = None) -> None:
        cursor_key = self.current_key()
        self.clear()
        self._created.clear()
        self._sort_for = None
        rows = []
        for sid, s in (views if views is not None else self.servers).items():
            if self.matches(s):
                created = self._created[sid] = parse_ts(s.get("created"))
                rows.append((sid, self._row(s, created)))
        self.add_rows(rows, widths=_widths)
        self.cells_written += len(rows) * len(COLUMNS)
        self._resort(cursor_key)

    def _add(self, sid: str, s: dict, hot: bool) -> None:
        created = self._created[sid] = parse_ts(s.get("created"))
        row = self._row(s, created)
        self.add_row(key=sid, row=row, widths=_widths(row), style=HOT_STYLE if hot else None)
        self.cells_written += len(row)

    def _write(self, sid: str, s: dict, hot: bool) -> bool:
        """Write only the cells whose text or style changed; True if any did."""
        created = self._created[sid] = parse_ts(s.get("created"))
        row = self._row(s, created)
        old = self._cells.get(sid)
        changed = [a != b for a, b in zip(old, row)] if old else [True] * len(row)
        n = sum(changed)
        if n or (sid in self._row_styles) != hot:  # the strip is rebuilt once per row
            widths = [cell_len(t) if c else 0 for (t, _), c in zip(row, changed)]
            self.set_row(sid, row, style=HOT_STYLE if hot else None, widths=widths)
            self.cells_written += n
            return True
        return False

    def _sort_value(self, sid: str, i: int):
        if i == AGE:  # oldest last: by creation time, which does not move with the clock
            created = self._created.get(sid)
            return float("-inf") if created is None else -created.timestamp()
        return self._cells[sid][i][0].lower()

    def apply(self, updates: dict[str, dict | None]) -> None:
        """One tick of pushed changes: id -> latest view (None or deleted removes it)."""
        now = time.monotonic()
        resort = False
        gone: list[str] = []
        sort_i = self.col_index[self.sort_column] if self.sort_column else None
        for sid, s in updates.items():
            if is_gone(s):
                self._count(sid, None)
                if sid in self.servers:
                    del self.servers[sid]
                self._hot.pop(sid, None)
                if sid in self._index:
                    gone.append(sid)
                continue
            self._count(sid, s.get("status") or "?")
            self.servers[sid] = s
            hot = self.highlight_seconds > 0
            if hot:  # re-inserted: the dict stays in deadline order
                self._hot.pop(sid, None)
                self._hot[sid] = now + self.highlight_seconds
            visible = self.matches(s)
            if sid in self._index:
                if not visible:
                    gone.append(sid)
                    continue
                self._write(sid, s, hot)
                if sort_i is not None and self._sort_for == self.sort_column:
                    value = self._sort_value(sid, sort_i)
                    if value != self._sort_values.get(sid):
                        self._sort_values[sid] = value
                        resort = True
            elif visible:
                self._add(sid, s, hot)
                if sort_i is not None:
                    self._sort_values[sid] = self._sort_value(sid, sort_i)
                    resort = True
        if gone:
            self._remove(gone)
        if resort:
            self._resort(self.current_key())
        self._arm_cool()

    def _remove(self, sids: list[str]) -> None:
        for sid in sids:
            self._created.pop(sid, None)
            self._sort_values.pop(sid, None)
        self.remove_rows(sids)

    def _arm_cool(self) -> None:
        if self._hot and self._cool_timer is None:
            first = next(iter(self._hot.values()))
            self._cool_timer = self.set_timer(max(0.0, first - time.monotonic()) + 0.05, self.cool)

    def cool(self) -> None:
        """Drop the highlight of rows whose moment has passed."""
        self._cool_timer = None
        now = time.monotonic()
        while self._hot:
            sid, deadline = next(iter(self._hot.items()))
            if deadline > now:
                break
            del self._hot[sid]
            if sid in self._row_styles:
                self.set_row_style(sid, None)
        self._arm_cool()

    def refresh_ages(self) -> None:
        """Ages move with the clock: the rows on screen are redrawn when their age's text
        changes (the others are brought up to date when drawn)."""
        for key in self.visible_keys():
            if self._fresh_age(key):
                self._refresh_key(key)

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
            if self._sort_for != self.sort_column:  # a new column or a reload: every row
                i = self.col_index[self.sort_column]
                self._sort_values = {sid: self._sort_value(sid, i) for sid in self._keys}
                self._sort_for = self.sort_column
            # per tick only the changed rows' values were computed; the sort itself is C
            # over a nearly sorted list
            self.sort_keys(key=self._sort_values.__getitem__, reverse=self.sort_reverse)
        if keep and keep in self._index:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def visible_ids(self) -> list[str]:
        """Row keys in display order."""
        return self.keys()
