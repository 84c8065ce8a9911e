"""The pure parts: event coalescing, the table's diffing and highlight, launch validation,
free addresses, the trace's spans."""
from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

from tui.events import EventPump
from tui.fake_adapter import FLAVORS, IMAGES, NOW, iso, server
from tui.screens.launch import validate
from tui.screens.resources import free_addresses
from tui.widgets.trace import build_spans, lane_of


async def test_pump_coalesces_per_instance_and_flushes_once_per_tick():
    got = []
    pump = EventPump(got.append, tick=0.05)
    pump.bind(asyncio.get_running_loop())
    s = server(1, "BUILD", task="scheduling")

    def backend():  # the facade calls back on another thread
        for task in ("scheduling", "networking", "block_device_mapping", "spawning"):
            pump.push({"type": "instance", "server": dict(s, task_state=task)})
        pump.push({"type": "trace", "trace": {"id": 1}})
        pump.push({"type": "trace", "trace": {"id": 2}})
    t = threading.Thread(target=backend)
    t.start()
    t.join()
    async with asyncio.timeout(10):  # bounded wait for the first tick's flush
        while not got:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.15)  # three more ticks: nothing is left to flush a second time
    assert len(got) == 1
    batch = got[0]
    assert batch.events == 6
    assert batch.servers[s["id"]]["task_state"] == "spawning"   # latest wins
    assert [r["id"] for r in batch.traces] == [1, 2]           # a log keeps all


def test_launch_validation():
    flavors = {f["id"]: f for f in FLAVORS}
    images = {i["id"]: i for i in IMAGES}
    good = {"name": "web-1", "image": "img-0001", "flavor": "1", "volume_size": "", "az": "",
            "count": "1", "network": "auto"}
    assert validate(good, flavors, images) == {}
    assert set(validate(dict(good, name=""), flavors, images)) == {"name"}
    assert set(validate(dict(good, name="-x"), flavors, images)) == {"name"}
    assert set(validate(dict(good, count="0"), flavors, images)) == {"count"}
    assert set(validate(dict(good, volume_size="big"), flavors, images)) == {"volume_size"}
    assert set(validate(dict(good, image="", flavor=""), flavors, images)) == {"image", "flavor"}
    assert validate(dict(good, az="nova"), flavors, images, {"nova"}) == {}
    assert "there is nova" in validate(dict(good, az="mars"), flavors, images, {"nova"})["az"]
    small = {"1": dict(FLAVORS[0], ram=64)}  # the image needs 96 MB
    assert "96 MB" in validate(good, small, images)["flavor"]


def test_free_addresses_counts_pool_minus_ports():
    subnet = {"id": "s", "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.11"}]}
    ports = [{"fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.2"}]},
             {"fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.1"}]},   # gateway: not in pool
             {"fixed_ips": [{"subnet_id": "other", "ip_address": "10.0.0.3"}]}]
    assert free_addresses(subnet, ports) == 9


def test_trace_spans_pair_steps_and_calls_and_mark_running():
    t = lambda ms: (NOW + timedelta(milliseconds=ms)).timestamp()  # noqa: E731  epoch, as the backend sends
    recs = [
        {"id": 1, "ts": t(0), "service": "compute-api", "kind": "step", "step": "create", "phase": "start"},
        {"id": 2, "ts": t(5), "service": "queue", "kind": "call", "topic": "scheduler", "method": "select"},
        {"id": 3, "ts": t(9), "service": "queue", "kind": "reply", "topic": "scheduler", "method": "select"},
        {"id": 4, "ts": t(10), "service": "compute-api", "kind": "step", "step": "create", "phase": "end"},
        {"id": 5, "ts": t(11), "service": "hypervisor", "kind": "step", "step": "spawn", "phase": "start"},
    ]
    spans = build_spans(recs, NOW + timedelta(milliseconds=50))
    by = {s["label"]: s for s in spans}
    assert (by["create"]["end"] - by["create"]["start"]).total_seconds() == 0.01
    assert not by["call scheduler.select"]["running"]
    assert by["spawn"]["running"] and by["spawn"]["end"] == NOW + timedelta(milliseconds=50)
    assert lane_of(recs[0]) == "compute API" and lane_of(recs[1]) == "queue"


async def test_table_writes_only_changed_rows_and_highlights_briefly():
    from textual.app import App, ComposeResult
    from tui.widgets.server_table import HOT_STYLE, ServerTable

    class T(App):
        def compose(self) -> ComposeResult:
            yield ServerTable(lambda: NOW, highlight_seconds=0.2)

    app = T()
    async with app.run_test() as pilot:
        table = app.query_one(ServerTable)
        table.load([server(i) for i in range(50)])
        await pilot.pause()
        written = table.cells_written
        s = server(7)
        table.apply({s["id"]: dict(s, status="SHUTOFF", vm_state="stopped")})
        # one row, and in it only the status and vm_state cells; the highlight is a row style
        assert table.cells_written - written == 2
        assert str(table.row_style(s["id"])) == HOT_STYLE
        table.apply({s["id"]: dict(s, status="SHUTOFF", vm_state="stopped")})  # same again
        await pilot.pause(0.35)
        assert table.row_style(s["id"]) is None
        table.apply({s["id"]: None})
        assert s["id"] not in table.keys() and table.row_count == 49
        created = iso(NOW - timedelta(seconds=5))
        table.apply({"new": dict(server(99), id="new", created=created, status="ERROR")})
        assert "red" in str(table.get_row("new")[0].style) and table.get_row("new")[9].plain == "5s"


async def test_hard_reboot_asks_first_soft_reboot_does_not(fake):
    from tui_helpers import login, make_app, settle
    from tui.screens.modals import ConfirmModal
    app = make_app(fake)
    async with app.run_test(size=(150, 40)) as pilot:
        await login(pilot)
        sid = app.screen.table.current_key()
        await pilot.press("r")
        await settle(pilot)
        # the action, then the read of its request id for what-just-happened
        assert fake.calls[-2:] == [("reboot_server", ("tok-p-admin", sid)),
                                   ("list_instance_actions", ("tok-p-admin", sid))]
        assert fake.servers[sid]["task_state"] == "rebooting"
        # the soft reboot ends (a hard one while it runs would be refused, as the API does)
        fake.servers[sid]["task_state"] = None
        fake.emit({"type": "instance", "server": dict(fake.servers[sid])})
        await settle(pilot)
        n = len(fake.calls)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal) and len(fake.calls) == n
        await pilot.press("y")
        await settle(pilot)
        assert fake.servers[sid]["task_state"] == "rebooting_hard"
