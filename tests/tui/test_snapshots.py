"""Snapshots of every screen and the main states, over the scripted cloud (fixed clock and
ids, animations off, no blinking cursor, workers done before the shot).
Update with: pytest tests/tui --snapshot-update (then look at each SVG before committing)."""
from __future__ import annotations

import tui_scenario as sc
from tui_helpers import SIZE, login, make_app, settle
from tui.fake_adapter import FakeAdapter, hypervisor


def shot(snap_compare, app, steps=None):
    async def run_before(pilot):
        await settle(pilot)
        if steps:
            await steps(pilot)
        await settle(pilot)
    return snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_login_screen(snap_compare, app):
    assert shot(snap_compare, app)


def test_login_wrong_password(snap_compare, app):
    async def steps(pilot):
        await login(pilot, password="nope")
    assert shot(snap_compare, app, steps)


def test_project_picker(snap_compare, app):
    async def steps(pilot):
        await login(pilot, project=None)
    assert shot(snap_compare, app, steps)


def test_instances_empty(snap_compare):
    app = make_app(FakeAdapter())

    async def steps(pilot):
        await login(pilot)
    assert shot(snap_compare, app, steps)


def test_instances_states(snap_compare, app):
    """active, building (shows its task), error (red), shutoff; ages from the fixed clock."""
    async def steps(pilot):
        await login(pilot)
    assert shot(snap_compare, app, steps)


def test_instances_filtered_sorted(snap_compare, app):
    async def steps(pilot):
        await login(pilot)
        await pilot.press("slash", *"compute", "enter", "A")
    assert shot(snap_compare, app, steps)


def test_help(snap_compare, app):
    async def steps(pilot):
        await login(pilot)
        await pilot.press("question_mark")
    assert shot(snap_compare, app, steps)


def test_command_palette(snap_compare, app):
    async def steps(pilot):
        await login(pilot)
        await pilot.press("colon")
    assert shot(snap_compare, app, steps)


def test_launch_form_invalid(snap_compare, app):
    async def steps(pilot):
        await login(pilot)
        await pilot.press("c")
        await settle(pilot)
        await pilot.press(*"-bad name", "tab")
        pilot.app.screen.query_one("#count").value = "0"
    assert shot(snap_compare, app, steps)


def _detail(tab: str, sid: str = sc.ACTIVE):
    async def steps(pilot):
        await login(pilot)
        table = pilot.app.screen.table
        table.move_cursor(row=table.get_row_index(sid))
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press(str(["overview", "trace", "scheduler", "events", "console"].index(tab) + 1))
    return steps


def test_detail_overview(snap_compare, app):
    assert shot(snap_compare, app, _detail("overview"))


def test_detail_error_with_fault(snap_compare, app):
    assert shot(snap_compare, app, _detail("overview", sc.FAILED))


def test_detail_trace(snap_compare, app):
    assert shot(snap_compare, app, _detail("trace"))


def test_detail_trace_running(snap_compare, app):
    assert shot(snap_compare, app, _detail("trace", sc.BUILDING))


def test_detail_scheduler(snap_compare, app):
    assert shot(snap_compare, app, _detail("scheduler"))


def test_detail_scheduler_no_valid_host(snap_compare, app):
    assert shot(snap_compare, app, _detail("scheduler", sc.FAILED))


def test_detail_events(snap_compare, app):
    assert shot(snap_compare, app, _detail("events"))


def test_detail_console(snap_compare, app):
    assert shot(snap_compare, app, _detail("console"))


def test_confirm_delete(snap_compare, app):
    async def steps(pilot):
        await login(pilot)
        await pilot.press("ctrl+d")
    assert shot(snap_compare, app, steps)


def test_hosts(snap_compare, fake):
    fake.hosts["compute-2"] = hypervisor("compute-2", vcpus_used=14, mem_used=3900, vms=9)
    app = make_app(fake)

    async def steps(pilot):
        await login(pilot)
        pilot.app.open_list("hosts")
    assert shot(snap_compare, app, steps)


def _resource(kind):
    async def steps(pilot):
        await login(pilot)
        pilot.app.open_list(kind)
    return steps


def test_images(snap_compare, app):
    assert shot(snap_compare, app, _resource("images"))


def test_flavors(snap_compare, app):
    assert shot(snap_compare, app, _resource("flavors"))


def test_networks(snap_compare, app):
    assert shot(snap_compare, app, _resource("networks"))


def test_volumes(snap_compare, fake):
    fake.f_create_volume(None, 2, name="data-1")
    assert shot(snap_compare, make_app(fake), _resource("volumes"))


def test_row_just_changed_is_highlighted(snap_compare, fake):
    """A pushed change: the row is highlighted for a moment (here: long enough to see)."""
    app = make_app(fake, highlight_seconds=600)

    async def steps(pilot):
        await login(pilot)
        s = dict(fake.servers[sc.BUILDING], status="ACTIVE", vm_state="active", task_state=None,
                 power_state=1, power_state_name="Running",
                 addresses={"private": [{"addr": "10.0.0.4", "mac": "fa:16:3e:00:00:04",
                                         "version": 4, "type": "fixed"}]})
        fake.emit({"type": "instance", "server": s})
    assert shot(snap_compare, app, steps)
