"""Snapshots of the Flow tab at each step of a create and at a failed schedule, and of the
states diagram at two states, over the scripted cloud of flow_scenario (fixed clock and ids;
its records are checked against a real cloud's by test_fake_drift.py). Update with
--snapshot-update, then read each SVG's text before committing."""
from __future__ import annotations

import flow_scenario as fs
import pytest
from tui_helpers import SIZE, login, make_app, settle

from tui.screens.detail import DetailScreen
from tui.screens.states import StatesScreen
from tui.widgets.flow import FlowTree


def shot(snap_compare, app, steps):
    async def run_before(pilot):
        await settle(pilot)
        await steps(pilot)
        await settle(pilot)
    return snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def open_detail(pilot) -> None:
    await login(pilot)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, DetailScreen)


async def unfold_messages(pilot, step: int) -> None:
    """As a user would: focus the tree, move to the step's messages, space."""
    tree = pilot.app.screen.query_one(FlowTree)
    tree.focus()
    node = next(c for c in tree.root.children[step].children if c.data == "messages")
    tree.move_cursor(node)
    await pilot.press("space")
    assert node.is_expanded


@pytest.mark.parametrize("moment", ["schedule", "network", "image", "storage", "boot", "done"])
def test_flow_at_each_step(snap_compare, moment):
    """Steps 2, 3, 5, 4, 6 running in the order the backend runs them (the image comes before
    the block devices), then all done with step 3's bus messages unfolded."""
    async def steps(pilot):
        await open_detail(pilot)
        if moment == "done":
            await unfold_messages(pilot, 3)
    assert shot(snap_compare, make_app(fs.adapter(moment)), steps)


def test_flow_failed_schedule(snap_compare):
    assert shot(snap_compare, make_app(fs.adapter("done", failed=True)), open_detail)


def test_states_diagram_from_the_detail_while_networking(snap_compare):
    async def steps(pilot):
        await open_detail(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(pilot.app.screen, StatesScreen)
    assert shot(snap_compare, make_app(fs.adapter("network")), steps)


def test_states_diagram_from_a_vm_state_cell(snap_compare):
    """`?` on the vm_state cell of an active instance: the diagram, that state marked and
    explained."""
    async def steps(pilot):
        await login(pilot)
        table = pilot.app.screen.table
        await pilot.press("right")
        for _ in range(table.col_index["vm_state"]):
            await pilot.press("right")
        assert table.current_column() == "vm_state"
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(pilot.app.screen, StatesScreen)
    assert shot(snap_compare, make_app(fs.adapter("done")), steps)
