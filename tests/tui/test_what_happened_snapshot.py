"""Snapshot of the what-just-happened panel over the scripted cloud (fixed clock and ids):
a stop of the selected instance, its command line, REST call and actions from any client.
Update with: pytest tests/tui/test_what_happened_snapshot.py --snapshot-update (then read the SVG)."""
from __future__ import annotations

from datetime import timedelta

import tui_scenario as sc
from tui_helpers import SIZE, login, make_app, settle
from tui.fake_adapter import NOW, iso


def test_what_happened_after_stop(snap_compare):
    fake = sc.build()
    # the request id the backend records for the stop (the fake records no actions itself)
    fake.actions[sc.ACTIVE].insert(0, {
        "action": "stop", "instance_uuid": sc.ACTIVE, "request_id": "req-0002", "user_id": "u-admin",
        "project_id": "p-admin", "start_time": iso(NOW - timedelta(seconds=5)), "finish_time": None,
        "message": None})
    app = make_app(fake)

    async def run_before(pilot):
        await login(pilot)
        table = pilot.app.screen.table
        table.move_cursor(row=table.get_row_index(sc.ACTIVE))
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
