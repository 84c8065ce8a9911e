"""Snapshots of the glossary (deterministic: the backend's own entries over the scripted
cloud, fixed clock): the whole list, a search, and one cell explained."""
from __future__ import annotations

import tui_scenario as sc
from test_snapshots import shot
from tui_helpers import login


def _glossary(query: str = ""):
    async def steps(pilot):
        await login(pilot)
        await pilot.press("colon", *"glossary", "enter")
        if query:
            await pilot.press(*query)
    return steps


def test_glossary_screen(snap_compare, app):
    assert shot(snap_compare, app, _glossary())


def test_glossary_search(snap_compare, app):
    assert shot(snap_compare, app, _glossary("ram"))


def test_glossary_cell_explained(snap_compare, app):
    async def steps(pilot):
        await login(pilot)
        table = pilot.app.screen.table
        table.move_cursor(row=table.get_row_index(sc.BUILDING))
        await pilot.press(*["right"] * 8, "question_mark")  # the Flavor cell
    assert shot(snap_compare, app, steps)
