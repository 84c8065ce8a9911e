"""The instances table keeps what a tick costs to the rows it changes: ages move on the rows
on screen only (and a row scrolled into view shows its age now), sorting by age follows
creation time, counts follow changes, views are kept compactly, rendered rows are bounded."""
from __future__ import annotations

import gc
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

from textual.app import App, ComposeResult

from tui.fake_adapter import NOW, iso, server
from tui.widgets import live_table
from tui.widgets.server_table import AGE, SETTLE_AT, YOUNG, ServerTable


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class TableApp(App):
    def __init__(self, clock, highlight_seconds: float = 0) -> None:
        super().__init__()
        self.clock, self.highlight_seconds = clock, highlight_seconds

    def compose(self) -> ComposeResult:
        yield ServerTable(self.clock, highlight_seconds=self.highlight_seconds)


def drawn(table: ServerTable, key: str) -> str:
    """The text of the screen line that shows `key` (what the compositor draws there)."""
    y = table.get_row_index(key) - int(table.scroll_y) + 1
    assert 1 <= y < table.size.height, f"{key} is not on screen"
    return table.render_line(y).text


async def test_ages_move_on_screen_rows_only_and_are_current_when_scrolled_into_view():
    clock = Clock()
    app = TableApp(clock)
    async with app.run_test(size=(140, 12)) as pilot:
        table = app.query_one(ServerTable)
        table.load([server(i, age_s=30) for i in range(200)])
        await pilot.pause()
        on_screen, far = table.visible_keys(), table.keys()[150]
        assert 0 < len(on_screen) < 20 and far not in on_screen
        assert drawn(table, on_screen[0]).rstrip().endswith("30s")

        clock.now = NOW + timedelta(minutes=5)
        written = table.cells_written
        table.refresh_ages()
        # the second's tick rewrote the age cells on screen, not the 200 rows
        assert table.cells_written - written == len(on_screen)
        await pilot.pause()
        assert drawn(table, on_screen[0]).rstrip().endswith("5m")

        table.move_cursor(150)
        await pilot.pause()
        assert drawn(table, far).rstrip().endswith("5m")
        assert table.get_row(far)[AGE].plain == "5m"
        # and a row read off screen is up to date too
        clock.now = NOW + timedelta(hours=3)
        assert table.get_row(table.keys()[0])[AGE].plain == "3h"


async def test_sort_by_age_follows_creation_time_as_the_clock_moves():
    clock = Clock()
    app = TableApp(clock)
    async with app.run_test(size=(140, 20)) as pilot:
        table = app.query_one(ServerTable)
        table.load([server(i, age_s=age) for i, age in enumerate((10, 30, 20))])
        table.sort_by("age")
        await pilot.pause()
        assert [table.get_row(k)[AGE].plain for k in table.keys()] == ["10s", "20s", "30s"]

        clock.now = NOW + timedelta(seconds=40)
        # made 15 s before the first three were listed: its age now sorts between them
        late = dict(server(7), id="late", created=iso(NOW - timedelta(seconds=15)))
        table.apply({"late": late})
        await pilot.pause()
        assert [table.get_row(k)[AGE].plain for k in table.keys()] == ["50s", "55s", "1m", "1m"]
        assert table.keys().index("late") == 1
        table.sort_by("age")  # again: oldest first
        assert table.keys()[0] == server(1)["id"] and table.keys().index("late") == 2


async def test_status_counts_follow_every_change():
    app = TableApp(Clock())
    async with app.run_test() as pilot:
        table = app.query_one(ServerTable)
        rnd = random.Random(5)
        views = {s["id"]: s for s in (server(i, rnd.choice(["ACTIVE", "SHUTOFF", "ERROR"]))
                                      for i in range(60))}
        table.load(views.values())
        for _ in range(20):
            batch = {}
            for sid in rnd.sample(sorted(views), 8):
                kind = rnd.random()
                if kind < 0.2:
                    batch[sid] = None
                elif kind < 0.3:
                    batch[sid] = dict(views[sid], vm_state="deleted", status="DELETED")
                else:
                    batch[sid] = dict(views[sid], status=rnd.choice(["ACTIVE", "BUILD", "SHUTOFF"]))
            new = dict(server(100 + _), id=f"new-{_}")
            batch[new["id"]] = new
            table.apply(batch)
            for sid, s in batch.items():
                if s is None or s["status"] == "DELETED":
                    views.pop(sid, None)
                else:
                    views[sid] = s
            assert table.status_counts == Counter(s["status"] for s in views.values())
            assert sorted(table.servers) == sorted(views) == sorted(table.keys())
        await pilot.pause()


async def test_views_are_kept_exactly_and_read_as_copies():
    app = TableApp(Clock())
    async with app.run_test() as pilot:
        table = app.query_one(ServerTable)
        odd = dict(server(1), metadata={"t": (1, 2)}, launched_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
        table.load([odd])
        got = table.servers[odd["id"]]
        assert got == odd and type(got["metadata"]["t"]) is tuple
        got["status"] = "changed by a reader"
        assert table.servers[odd["id"]]["status"] == "ACTIVE"
        await pilot.pause()


async def test_many_rows_removed_in_one_tick_keep_order_and_index():
    app = TableApp(Clock())
    async with app.run_test() as pilot:
        table = app.query_one(ServerTable)
        table.load([server(i) for i in range(50)])
        keys = table.keys()
        gone = keys[3:40:3]
        table.apply({**{k: None for k in gone}, keys[1]: dict(server(1), status="SHUTOFF")})
        want = [k for k in keys if k not in gone]
        assert table.keys() == want
        assert [table.get_row_index(k) for k in want] == list(range(len(want)))
        await pilot.pause()


async def test_rendered_rows_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(live_table, "MAX_STRIPS", 40)
    app = TableApp(Clock())
    async with app.run_test(size=(140, 12)) as pilot:
        table = app.query_one(ServerTable)
        table.load([server(i) for i in range(300)])
        for row in range(0, 300, 8):  # scroll through every row
            table.move_cursor(row)
            await pilot.pause()
        table.move_cursor(299)
        await pilot.pause()
        assert table.rows_rendered >= 300 and len(table._strips) <= 40
        assert drawn(table, table.keys()[-1]).startswith("vm-0299")


async def test_a_big_load_freezes_the_long_lived_heap():
    app = TableApp(Clock())
    threshold = gc.get_threshold()
    try:
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)
        async with app.run_test() as pilot:
            table = app.query_one(ServerTable)
            table.load([server(i) for i in range(SETTLE_AT - 1)])
            assert gc.get_freeze_count() == 0  # a small one does not pay for a collection
            assert gc.get_threshold() == (700, 10, 10)
            table.load([server(i) for i in range(SETTLE_AT)])
            # what the load left alive is out of the collector's later walks
            assert gc.get_freeze_count() > SETTLE_AT
            # and a frame's short-lived objects die young instead of growing the old generation
            assert gc.get_threshold() == (YOUNG, 10, 10)
            await pilot.pause()
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
