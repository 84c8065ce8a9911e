"""The network screen and the Overview's ports, on a real Cloud (fake driver, two hosts): per
network its VXLAN segment and the hosts its ports are bound on, each port's host, MAC, IP,
status and floating IP; the tables follow instance events (keyed rows, changed cells only);
a member sees '—' where neutron shows admins only."""
from __future__ import annotations

import time

from textual.app import App, ComposeResult
from textual.widgets import DataTable
from tui_helpers import SIZE, login, settle
from tui_real import text_of, wait_for

from tui.screens.networks import HIDDEN, NetworksScreen, sync_table
from tui import format as fmt


def until(real, cond, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def two_guests(real) -> list[dict]:
    """Two ACTIVE instances on 'private', one per host (nova's different_host hint)."""
    a = real.call("create_server", "alpha", real.ids["image"], "1")[0]
    until(real, lambda: real.call("get_server", a["id"])["status"] == "ACTIVE", "alpha ACTIVE")
    b = real.call("create_server", "beta", real.ids["image"], "1", scheduler_hints={"different_host": a["id"]})[0]
    until(real, lambda: real.call("get_server", b["id"])["status"] == "ACTIVE", "beta ACTIVE")
    return [real.call("get_server", s["id"]) for s in (a, b)]


def cells(table: DataTable, key: str) -> dict[str, str]:
    return {c.key.value: table.get_cell(key, c.key).plain for c in table.columns.values()}


def tables(app) -> tuple[DataTable, DataTable]:
    return app.screen.query_one("#resources", DataTable), app.screen.query_one("#network-ports", DataTable)


async def open_networks(pilot) -> NetworksScreen:
    await login(pilot)
    pilot.app.open_list("networks")
    await settle(pilot)
    assert isinstance(pilot.app.screen, NetworksScreen)
    return pilot.app.screen


async def test_segment_hosts_and_each_port_as_bound(real):
    guests = two_guests(real)
    private = real.call("list_networks", filters={"name": "private"})[0]
    ports = {p["device_id"]: p for p in real.call("list_ports", filters={"network_id": private["id"]})}
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_networks(pilot)
        nets, port_table = tables(app)
        row = cells(nets, private["id"])
        assert row["segment"] == f"vxlan {private['provider:segmentation_id']}"
        assert row["hosts"] == "fake-1, fake-2" == ", ".join(sorted(g["host"] for g in guests))
        assert row["ports"] == "2 (2 ACTIVE)"
        title = text_of(app.screen.query_one("#network-ports-title"))
        assert f"segment vxlan {private['provider:segmentation_id']}" in title and "spans fake-1, fake-2" in title
        for g in guests:
            p = ports[g["id"]]
            assert cells(port_table, p["id"]) == {
                "device": g["name"], "owner": "compute:nova", "host": g["host"], "mac": p["mac_address"],
                "ip": p["fixed_ips"][0]["ip_address"], "status": "ACTIVE", "floating": "-", "id": p["id"]}
            assert p["binding:host_id"] == g["host"]


async def test_ports_follow_instance_events_changed_cells_only(real):
    """A new instance's port appears and goes with the instance, without a reload key; the
    network's row is the same row (kept, updated in place), and only its changed cells are."""
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_networks(pilot)
        nets, port_table = tables(app)
        private = real.call("list_networks", filters={"name": "private"})[0]["id"]
        assert cells(nets, private)["ports"] == "0 (0 ACTIVE)" and cells(nets, private)["hosts"] == "-"
        updated: list[tuple] = []
        real_update = nets.update_cell
        nets.update_cell = lambda row, col, value, **kw: (updated.append((row, col)),  # noqa: E731
                                                          real_update(row, col, value, **kw))
        s = real.call("create_server", "gamma", real.ids["image"], "1")[0]
        await wait_for(pilot, lambda: port_table.row_count == 1 and
                       cells(port_table, port_table.coordinate_to_cell_key((0, 0)).row_key.value)["status"] == "ACTIVE",
                       what="gamma's port ACTIVE on screen")
        port = real.call("list_ports", filters={"device_id": s["id"]})[0]
        host = real.call("get_server", s["id"])["host"]
        assert cells(port_table, port["id"])["host"] == host and cells(port_table, port["id"])["device"] == "gamma"
        assert cells(nets, private)["ports"] == "1 (1 ACTIVE)" and cells(nets, private)["hosts"] == host
        assert nets.row_count == 1
        # the name, scope, status and subnets never changed: never updated (the segment is
        # allocated when the network's first port is bound)
        assert {c for _, c in updated} <= {"ports", "free", "hosts", "segment"}, updated
        real.call("delete_server", s["id"])
        await wait_for(pilot, lambda: port_table.row_count == 0, what="gamma's port gone from the screen")
        assert cells(nets, private)["ports"] == "0 (0 ACTIVE)"


async def test_a_member_sees_dashes_where_neutron_shows_admins_only(real):
    """A member of 'demo' sees its own port's MAC, IP and status, but neither the segment,
    nor the hosts, nor a port's host (neutron's policy: admin only)."""
    demo_tok = real.bt.call(real.cloud.scope, real.bt.call(real.cloud.login, "admin", "secret")["token"],
                            real.ids["demo"])["token"]
    s = real.bt.call(real.cloud.create_server, demo_tok, "mine", real.ids["image"], "1")[0]
    until(real, lambda: real.call("get_server", s["id"])["status"] == "ACTIVE", "mine ACTIVE")
    port = real.call("list_ports", filters={"device_id": s["id"]})[0]
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, project="demo")
        assert app.adapter.token["is_admin"] is False
        app.open_list("networks")
        await settle(pilot)
        nets, port_table = tables(app)
        private = real.call("list_networks", filters={"name": "private"})[0]["id"]
        row = cells(nets, private)
        assert row["segment"] == HIDDEN and row["hosts"] == HIDDEN
        assert cells(port_table, port["id"]) == {
            "device": "mine", "owner": "compute:nova", "host": HIDDEN, "mac": port["mac_address"],
            "ip": port["fixed_ips"][0]["ip_address"], "status": "ACTIVE", "floating": "-", "id": port["id"]}
        assert "spans " + HIDDEN in text_of(app.screen.query_one("#network-ports-title"))


def l3(real, server_id: str) -> tuple[dict, dict]:
    """A router from 'private' to an external network, a floating IP on the server's port."""
    ext = real.call("create_network", "public", external=True)
    real.call("create_subnet", ext["id"], "172.24.4.0/24")
    router = real.call("create_router", "edge", gateway={"network_id": ext["id"]})
    private = real.call("list_networks", filters={"name": "private"})[0]
    real.call("add_router_interface", router["id"], subnet_id=private["subnets"][0])
    port = real.call("list_ports", filters={"device_id": server_id})[0]
    return router, real.call("create_floatingip", ext["id"], port_id=port["id"])


async def test_router_legs_and_a_floating_ip_on_the_screen_and_the_overview(real):
    s = real.call("create_server", "web", real.ids["image"], "1")[0]
    until(real, lambda: real.call("get_server", s["id"])["status"] == "ACTIVE", "web ACTIVE")
    router, fip = l3(real, s["id"])
    private = real.call("list_networks", filters={"name": "private"})[0]["id"]
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_networks(pilot)
        nets, port_table = tables(app)
        assert cells(nets, private)["routers"] == "edge"
        assert cells(port_table, fip["port_id"])["floating"] == fip["floating_ip_address"]
        leg = next(k.value for k in port_table.rows if cells(port_table, k.value)["owner"] == "network:router_interface")
        assert cells(port_table, leg)["device"] == "edge" and cells(port_table, leg)["ip"] == "10.0.0.1"
        # no network node on the fake driver: the router's leg is bound nowhere
        assert cells(port_table, leg)["host"] == "-"
        await pilot.press("escape")
        await settle(pilot)
        table = app.screen.table
        table.move_cursor(row=table.get_row_index(s["id"]))
        app.screen.action_detail()
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        overview = text_of(app.screen.query_one("#overview-body"))
        port = real.call("list_ports", filters={"device_id": s["id"]})[0]
        ip = port["fixed_ips"][0]["ip_address"]
        assert f"ports                private: {ip}  {port['mac_address']}  ACTIVE  floating " \
               f"{fip['floating_ip_address']}" in overview, overview
        assert f"{fip['floating_ip_address']} ({port['mac_address']}) floating" in overview


async def test_overview_port_status_follows_the_instance(real):
    """The Overview reads the ports again on the instance's events: ACTIVE once wired, and
    none once the instance is deleted."""
    s = real.call("create_server", "late", real.ids["image"], "1")[0]
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        table = app.screen.table
        await wait_for(pilot, lambda: s["id"] in table.servers, what="late listed")
        table.move_cursor(row=table.get_row_index(s["id"]))
        app.screen.action_detail()
        await pilot.press("1")
        detail = app.screen
        await wait_for(pilot, lambda: bool(detail.ports) and detail.ports[0]["status"] == "ACTIVE"
                       and "ACTIVE  floating -" in text_of(detail.query_one("#overview-body")),
                       what="the port ACTIVE in the Overview")
        real.call("delete_server", s["id"])
        await wait_for(pilot, lambda: detail.ports == [], what="the port gone from the Overview")
        assert "ports                -" in text_of(detail.query_one("#overview-body"))
        await settle(pilot)


async def test_sync_table_touches_only_what_changed():
    class One(App):
        def compose(self) -> ComposeResult:
            yield DataTable()

    cols = [("a", "A"), ("b", "B")]
    app = One()
    async with app.run_test() as pilot:
        t = app.query_one(DataTable)
        for k, label in cols:
            t.add_column(label, key=k)
        shown: dict = {}
        row = lambda *v: [fmt.plain(x) for x in v]  # noqa: E731
        sync_table(t, cols, [("r1", row("x", "1")), ("r2", row("y", "2"))], shown)
        calls: list = []
        t.update_cell = lambda r, c, v, **kw: calls.append((r, c, v.plain))  # noqa: E731
        sync_table(t, cols, [("r1", row("x", "1")), ("r2", row("y", "3"))], shown)
        assert calls == [("r2", "b", "3")]
        sync_table(t, cols, [("r2", row("y", "3")), ("r3", row("z", "4"))], shown)
        await pilot.pause()
        assert [k.value for k in t.rows] == ["r2", "r3"] and calls == [("r2", "b", "3")]
