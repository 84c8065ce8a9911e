"""The Flow tab and the states diagram against a real Cloud on the fake driver: an instance
launched from the app is followed live, step by step, pushed (the app polls nothing here:
console_follow=0); its messages unfold with a key; the diagram moves with the instance."""
from __future__ import annotations

from textual.widgets import Static, TabbedContent
from tui_helpers import SIZE, launch, login, settle
from tui_real import text_of, wait_for

from backend.virt.fake import FakeBehaviour, FakeDriver
from tui.screens.detail import DetailScreen
from tui.screens.states import StatesScreen
from tui.widgets.flow import FlowTree


def statuses(tree: FlowTree) -> list[str]:
    return [st["status"] for st in (tree.flow or {}).get("steps", [])]


def label(tree: FlowTree, n: int) -> str:
    return tree.root.children[n].label.plain


async def test_a_launch_from_the_app_is_followed_live_in_the_flow_tab(real):
    for h in ("fake-1", "fake-2"):  # time to see the spawn run
        FakeDriver.behaviours[h] = FakeBehaviour(spawn_latency=1.0)
    app = real.app(console_follow=0)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        (sid,) = await launch(pilot, "flow-1")
        table = app.screen.table
        table.move_cursor(row=table.get_row_index(sid))
        await pilot.press("enter")
        await settle(pilot)
        d = app.screen
        assert isinstance(d, DetailScreen) and d.query_one(TabbedContent).active == "flow"
        tree = d.query_one(FlowTree)
        await wait_for(pilot, lambda: statuses(tree) == ["done"] * 5 + ["running"], what="step 6 running")
        assert "▶ 6  boot (hypervisor)  running" in label(tree, 6)
        assert tree.flow["token"]["user"] == "admin"
        await wait_for(pilot, lambda: statuses(tree) == ["done"] * 6, timeout=15, what="all six done")
        assert all(label(tree, n).startswith(f"✓ {n}  ") for n in range(1, 7))
        # step 3's bus messages are folded until a key unfolds them
        step3 = tree.root.children[3]
        msgs = next(c for c in step3.children if c.data == "messages")
        assert not msgs.is_expanded
        tree.focus()
        tree.move_cursor(msgs)
        await pilot.press("space")
        assert msgs.is_expanded
        assert any("network.allocate_for_instance" in c.label.plain for c in msgs.children)
        # it stays unfolded while updates arrive
        d.run_worker(d.load_flow(), group="detail-flow", exclusive=True)
        await settle(pilot)
        assert next(c for c in tree.root.children[3].children if c.data == "messages").is_expanded


async def test_the_states_diagram_moves_with_the_instance(real):
    for h in ("fake-1", "fake-2"):
        FakeDriver.behaviours[h] = FakeBehaviour(spawn_latency=2.0)
    app = real.app(console_follow=0)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        (sid,) = await launch(pilot, "flow-2")
        table = app.screen.table
        table.move_cursor(row=table.get_row_index(sid))
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        states = app.screen
        assert isinstance(states, StatesScreen)

        def now_line() -> str:
            body = text_of(states.query_one("#states-body", Static))
            return next(line for line in body.splitlines() if "◀ now" in line)
        assert "[ building / " in now_line()  # opened while it builds (a spawn takes 2 s here)
        await wait_for(pilot, lambda: "active / None" in now_line(), timeout=15, what="active marked")
        await pilot.press("escape")
        assert isinstance(app.screen, DetailScreen)
