"""`?` over a cell, the glossary screen, and a disabled action that says why (scripted cloud)."""
from __future__ import annotations

import tui_scenario as sc
from textual.widgets import Static
from tui_helpers import SIZE, login, make_app, settle
from tui_real import text_of

from backend.core import glossary
from tui.screens.detail import DetailScreen
from tui.screens.glossary import GlossaryEntryModal, GlossaryScreen
from tui.screens.modals import HelpScreen


def modal_text(screen) -> str:
    return " ".join(text_of(w) for w in screen.query(Static))


async def _to_cell(pilot, sid: str, column: str) -> None:
    table = pilot.app.screen.table
    table.move_cursor(row=table.get_row_index(sid))
    await pilot.press("right")  # the first press picks the first column
    for _ in range(table.col_index[column]):
        await pilot.press("right")
    assert table.current_column() == column


async def test_question_mark_on_a_state_cell_explains_the_state(app):
    """A state cell opens the states diagram, which says what the state means."""
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await _to_cell(pilot, sc.BUILDING, "task_state")
        await pilot.press("question_mark")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)
        text = " ".join(modal_text(app.screen).split())
        assert glossary.TASK_STATES["spawning"][:40] in text


async def test_question_mark_on_the_image_cell_explains_images(app):
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await _to_cell(pilot, sc.ACTIVE, "image")
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, GlossaryEntryModal)
        text = " ".join(modal_text(app.screen).split())
        assert "Image: " in text and glossary.TERMS["image"][:40] in text


async def test_question_mark_on_power_and_flavor_cells(app):
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await _to_cell(pilot, sc.STOPPED, "power_state")
        await pilot.press("question_mark")
        await settle(pilot)
        text = " ".join(modal_text(app.screen).split())
        assert glossary.POWER_STATES["Shutdown"][1][:30] in text
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("right", "right", "right")  # Host, IPs, Flavor
        assert app.screen.table.current_column() == "flavor"
        await pilot.press("question_mark")
        await settle(pilot)
        assert glossary.TERMS["flavor"][:30] in " ".join(modal_text(app.screen).split())


async def test_question_mark_without_a_cell_is_the_key_help(app):
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)


async def test_question_mark_on_the_detail_explains_the_fault_kind(app):
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        table = app.screen.table
        table.move_cursor(row=table.get_row_index(sc.FAILED))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("question_mark")
        await settle(pilot)
        text = " ".join(modal_text(app.screen).split())
        assert "fault kind No valid host" in text and "vm_state error" in text
        await pilot.press("g")  # from one entry to the whole glossary
        await settle(pilot)
        assert isinstance(app.screen, GlossaryScreen)


async def test_glossary_screen_filters_as_you_type_and_escape_clears_then_leaves(app):
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await pilot.press("colon", *"glossary")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, GlossaryScreen)
        assert len(screen.shown()) == len(glossary.entries())
        await pilot.press(*"weighs down")
        await settle(pilot)
        body = text_of(screen.query_one("#glossary-body", Static))
        assert [e["term"] for e in screen.shown()] == ["BuildFailureWeigher"]
        assert "BuildFailureWeigher" in body and "RamFilter" not in body
        await pilot.press("escape")
        assert len(screen.shown()) == len(glossary.entries())
        await pilot.press("escape")
        assert not isinstance(app.screen, GlossaryScreen)


async def test_a_refused_action_says_why_and_asks_nothing(fake):
    app = make_app(fake)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        table = app.screen.table
        for sid, key, reason in ((sc.STOPPED, "s", "already SHUTOFF"),
                                 (sc.BUILDING, "s", "task 'spawning' in progress"),
                                 (sc.ACTIVE, "u", "already ACTIVE"),
                                 (sc.FAILED, "r", "cannot reboot while ERROR (vm_state error)")):
            table.move_cursor(row=table.get_row_index(sid))
            await pilot.press(key)
            await settle(pilot)
            assert any(reason in n.message for n in app._notifications), reason
        assert not [c for c in fake.calls if c[0] in ("stop_server", "start_server", "reboot_server")]


async def test_a_reader_is_told_their_role_cannot_change_anything(fake):
    fake.user = dict(fake.user, name="watcher")
    orig = fake._token

    def reader_token(project):
        tok = orig(project)
        if project:
            tok.update(roles=[{"id": "r-reader", "name": "reader"}], is_admin=False)
        return tok
    fake._token = reader_token
    app = make_app(fake)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert any("your role 'reader' cannot change anything" in n.message for n in app._notifications)
        assert not [c for c in fake.calls if c[0] == "delete_server"]


async def test_a_hostile_flavor_name_in_the_explained_cell_is_literal(fake):
    evil = "[@click=app.quit]m1[/]"
    for s in fake.servers.values():
        s["flavor"] = dict(s["flavor"], name=evil)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot)
        await _to_cell(pilot, sc.ACTIVE, "flavor")
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, GlossaryEntryModal)
        title = app.screen.query(Static).first()
        assert text_of(title).strip().startswith(f"Flavor: {evil} (")
        await pilot.click(title)  # a click on the name is no button
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, GlossaryEntryModal)
