"""A keyed table for thousands of live rows. DataTable invalidates every cached row on any
cell update (its caches are keyed on a global update counter), so a tick of 100 changes
re-renders every visible cell through Rich (~200 ms for 45 lines here). This widget caches
one rendered Strip per row and drops only the rows that changed: a tick costs the changed
rows, and only when they are on screen.

Rows are stored as given and turned into Text only when drawn (`row_texts`), so a subclass
can keep a compact row (tuples of str, which the garbage collector does not walk: 20,000
rows of Text objects made every full collection a pause of most of a second)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

GAP = 2  # spaces between columns
MAX_WIDTH = 48
MAX_STRIPS = 1000  # rendered rows kept: scrolling through 20,000 rows must not keep them all


_STYLES: dict[str, Style] = {}
_CELL_CURSOR = Style(reverse=True)


def _style(style: str | Style) -> Style | None:
    if isinstance(style, Style):
        return style
    if not style:
        return None
    if style not in _STYLES:
        _STYLES[style] = Style.parse(style)
    return _STYLES[style]


class LiveTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    LiveTable > .live-table--header { text-style: bold; background: $panel; }
    LiveTable > .live-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
    LiveTable:blur > .live-table--cursor { background: $block-cursor-blurred-background; text-style: none; }
    """
    COMPONENT_CLASSES = {"live-table--header", "live-table--cursor"}
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "Top", show=False),
        Binding("end,G", "jump(-1)", "Bottom", show=False),
        Binding("enter", "select", "Open", show=False),
        Binding("left", "column(-1)", "Column left", show=False),
        Binding("right", "column(1)", "Column right", show=False),
    ]
    cursor_row: reactive[int] = reactive(0, always_update=False, init=False)
    # a cell cursor inside the row cursor, once ← → or a click picks a column (for `?`)
    cursor_column: reactive[int | None] = reactive(None, always_update=False, init=False)

    class RowHighlighted(Message):
        def __init__(self, table: LiveTable, key: str | None) -> None:
            super().__init__()
            self.table, self.key = table, key

    class RowSelected(Message):
        def __init__(self, table: LiveTable, key: str) -> None:
            super().__init__()
            self.table, self.key = table, key

    def __init__(self, columns: list[tuple[str, str]], **kw: Any) -> None:
        super().__init__(**kw)
        self.columns = columns
        self.col_index = {k: i for i, (k, _) in enumerate(columns)}
        self.widths = [len(label) for _, label in columns]
        self._keys: list[str] = []                 # display order
        self._index: dict[str, int] = {}
        self._cells: dict[str, Any] = {}           # row data: list[Text] here (see row_texts)
        self._strips: dict[str, Strip] = {}        # rendered rows, without the cursor
        self._row_styles: dict[str, Style] = {}    # whole-row background (e.g. just changed)
        self.rows_rendered = 0                     # for the bench: strips built
        self._height = 0                           # self.size.height, kept by on_resize
        self.cursor_painted: tuple[int, float] = (-1, 0.0)  # for the bench: key -> screen

    # ---- data ---------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._keys)

    def row_texts(self, key: str) -> list[Text]:
        """A row's cells as Text, to draw it (a subclass storing compact rows builds them)."""
        return self._cells[key]

    def _grow(self, cells: list[Text]) -> None:
        self.grow_widths([c.cell_len for c in cells])

    def grow_widths(self, widths: list[int]) -> None:
        grew = False
        for i, w in enumerate(widths):
            w = min(MAX_WIDTH, w)
            if w > self.widths[i]:
                self.widths[i], grew = w, True
        if grew:  # rare: widths only grow, so columns do not jitter
            self._strips.clear()
            self.refresh()

    def add_row(self, *cells: Text, key: str, style: str | Style | None = None,
                row: Any = None, widths: list[int] | None = None) -> None:
        """A row at the end: Text cells, or a compact `row` with its cell widths."""
        cells = list(cells) if row is None else row
        self._set_style(key, style)
        self.grow_widths(widths if widths is not None else [c.cell_len for c in cells])
        self._index[key] = len(self._keys)
        self._keys.append(key)
        self._cells[key] = cells
        self._resize()
        self._refresh_key(key)

    def add_rows(self, rows: list[tuple[str, Any]], widths: Callable[[Any], list[int]] | None = None) -> None:
        """Many rows at once (a load): one resize and one refresh, not one per row.
        widths(row) gives a compact row's cell widths (default: the cells are Text)."""
        for key, cells in rows:
            self.grow_widths(widths(cells) if widths else [c.cell_len for c in cells])
            self._index[key] = len(self._keys)
            self._keys.append(key)
            self._cells[key] = cells
        self._resize()
        self.refresh()

    def _set_style(self, key: str, style: str | Style | None) -> None:
        st = _style(style) if style else None
        if st:
            self._row_styles[key] = st
        else:
            self._row_styles.pop(key, None)

    def row_style(self, key: str) -> Style | None:
        return self._row_styles.get(key)

    def set_row(self, key: str, cells: Any, style: str | Style | None = None,
                widths: list[int] | None = None) -> None:
        """Replace a row's cells (and its row style): its cached strip is dropped. A compact
        row comes with its cell widths."""
        self._set_style(key, style)
        self._cells[key] = cells
        self._strips.pop(key, None)
        self.grow_widths(widths if widths is not None else [c.cell_len for c in cells])
        self._refresh_key(key)

    def set_row_style(self, key: str, style: str | Style | None) -> None:
        """Only the row's style (a highlight on or off): its cells stay as they are."""
        self._set_style(key, style)
        self._strips.pop(key, None)
        self._refresh_key(key)

    def update_cell(self, key: str, column: str, cell: Text) -> None:
        row = self._cells[key]
        row[self.col_index[column]] = cell
        self._strips.pop(key, None)
        self._grow([cell if i == self.col_index[column] else Text("") for i in range(len(row))])
        self._refresh_key(key)

    def remove_row(self, key: str) -> None:
        self.remove_rows([key])

    def remove_rows(self, keys: list[str]) -> None:
        """Many rows at once: the order and index are rebuilt once, not once per row."""
        gone = {k for k in keys if k in self._index}
        if not gone:
            return
        if len(gone) == 1:
            i = self._index.pop(next(iter(gone)))
            del self._keys[i]
            for k in self._keys[i:]:
                self._index[k] -= 1
        else:
            self._keys = [k for k in self._keys if k not in gone]
            self._index = {k: i for i, k in enumerate(self._keys)}
        for k in gone:
            self._cells.pop(k, None)
            self._strips.pop(k, None)
            self._row_styles.pop(k, None)
        self._resize()
        self.cursor_row = min(self.cursor_row, max(0, self.row_count - 1))
        self.refresh()

    def clear(self) -> None:
        self._keys.clear()
        self._index.clear()
        self._cells.clear()
        self._strips.clear()
        self._row_styles.clear()
        self.cursor_row = 0
        self._resize()
        self.refresh()

    def sort_rows(self, key: Callable[[Any], Any], reverse: bool = False) -> None:
        """key(row data); a row's position is its key's (use sort_keys for other data)."""
        self.sort_keys(lambda k: key(self._cells[k]), reverse)

    def sort_keys(self, key: Callable[[str], Any], reverse: bool = False) -> None:
        """Sort by a function of the row key."""
        self._keys.sort(key=key, reverse=reverse)
        self._index = {k: i for i, k in enumerate(self._keys)}
        self.refresh()

    def get_row(self, key: str) -> list[Text]:
        return self.row_texts(key)

    def visible_keys(self) -> list[str]:
        """The keys of the rows on screen now (at most the body's height)."""
        top = int(self.scroll_y)
        return self._keys[top:top + max(0, self.size.height - 1)]

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def keys(self) -> list[str]:
        return list(self._keys)

    def current_key(self) -> str | None:
        return self._keys[self.cursor_row] if 0 <= self.cursor_row < len(self._keys) else None

    # ---- cursor -------------------------------------------------------------------------
    def move_cursor(self, row: int, animate: bool = False) -> None:
        self.cursor_row = max(0, min(row, self.row_count - 1))

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_index(old)
        self._refresh_index(new)
        body = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + body:
            self.scroll_to(y=new - body + 1, animate=False)
        self.post_message(self.RowHighlighted(self, self.current_key()))

    def current_column(self) -> str | None:
        c = self.cursor_column
        return self.columns[c][0] if c is not None and 0 <= c < len(self.columns) else None

    def _column_x(self, c: int) -> int:
        return sum(self.widths[:c]) + GAP * c

    def action_column(self, delta: int) -> None:
        c = 0 if self.cursor_column is None else self.cursor_column + delta
        self.cursor_column = max(0, min(c, len(self.columns) - 1))

    def watch_cursor_column(self, old: int | None, new: int | None) -> None:
        if new is not None:  # keep the cell in view (the table scrolls sideways under it)
            x0, x1 = self._column_x(new), self._column_x(new) + self.widths[new]
            sx, width = int(self.scroll_x), self.size.width
            if x0 < sx:
                self.scroll_to(x=x0, animate=False)
            elif x1 > sx + width:
                self.scroll_to(x=x1 - width, animate=False)
        self._refresh_index(self.cursor_row)

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        self.move_cursor(0 if where == 0 else self.row_count - 1)

    def action_select(self) -> None:
        key = self.current_key()
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event) -> None:
        idx = int(self.scroll_y) + event.y - 1
        x = int(self.scroll_x) + event.x
        col = next((c for c in range(len(self.columns))
                    if self._column_x(c) <= x < self._column_x(c) + self.widths[c] + GAP), None)
        if col is not None and event.y >= 1:
            self.cursor_column = col
        if event.y >= 1 and 0 <= idx < self.row_count:
            if idx == self.cursor_row or event.chain > 1:
                self.action_select()
            self.move_cursor(idx)

    # ---- rendering ----------------------------------------------------------------------
    def _resize(self) -> None:
        self.virtual_size = Size(sum(self.widths) + GAP * len(self.widths), self.row_count + 1)

    def _refresh_key(self, key: str) -> None:
        i = self._index.get(key)
        if i is not None:
            self._refresh_index(i)

    def _refresh_index(self, i: int) -> None:
        y = i - int(self.scroll_y) + 1
        if 1 <= y < self._height:  # not self.size: that is computed on every read
            self.refresh_line(i + 1)  # ScrollView.refresh_line takes the virtual line

    def _render_cells(self, cells: list[Text], base: Style | None = None,
                      over: Style | None = None) -> Strip:
        segs: list[Segment] = []
        for w, cell in zip(self.widths, cells):
            t = cell.copy() if cell.cell_len > w else cell
            if t.cell_len > w:
                t.truncate(w, overflow="ellipsis")
            # Text.render leaves the Text's own style out (its __rich_console__ adds it)
            base_style = _style(t.style)
            for seg in Segment.apply_style(t.render(self.app.console), base_style):
                if seg.text != "\n":
                    segs.append(seg)
            segs.append(Segment(" " * (w - t.cell_len + GAP)))
        self.rows_rendered += 1
        if over:  # a row style covers the gaps between cells too, over the cells' colours
            segs = list(Segment.apply_style(segs, post_style=over))
        return Strip(segs).apply_style(base) if base else Strip(segs)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        sx = int(self.scroll_x)
        if y == 0:
            header = self.get_component_rich_style("live-table--header")
            strip = self._render_cells([Text(label) for _, label in self.columns], header)
            return strip.crop(sx, sx + width).extend_cell_length(width, header)
        idx = int(self.scroll_y) + y - 1
        if idx >= len(self._keys):
            return Strip.blank(width, self.rich_style)
        key = self._keys[idx]
        strip = self.row_strip(key)
        strip = strip.crop(sx, sx + width).extend_cell_length(width, self._row_styles.get(key))
        if idx == self.cursor_row:  # the cursor's colours win over the cell's
            self.cursor_painted = (idx, time.perf_counter())
            cursor = self.get_component_rich_style("live-table--cursor")
            strip = Strip(Segment.apply_style(list(strip), post_style=cursor), width)
            c = self.cursor_column
            if c is not None and 0 <= c < len(self.widths):  # the cell cursor: reversed
                x0 = self._column_x(c) - sx
                x1 = x0 + self.widths[c]
                if x1 > 0 and x0 < width:
                    a, b = max(0, x0), min(width, x1)
                    left, mid, right = strip.divide([a, b, width])
                    strip = Strip.join([left, mid.apply_style(_CELL_CURSOR), right])
        return strip.apply_style(self.rich_style)

    def row_strip(self, key: str) -> Strip:
        """The row drawn (cached until the row changes); called only for rows on screen."""
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) >= MAX_STRIPS:
                self._strips = {k: self._strips[k] for k in self.visible_keys() if k in self._strips}
            strip = self._strips[key] = self._render_cells(self.row_texts(key),
                                                           over=self._row_styles.get(key))
        return strip

    def on_resize(self) -> None:
        self._height = self.size.height
        self._resize()
