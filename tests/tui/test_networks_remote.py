"""The network wiring over --url: the remote adapter builds, from neutron's API of a served
Cloud (provider:segmentation_id, binding:host_id, status, floating IPs, routers), the very view
the facade gives in-process, for an admin and for a member (who is shown no segment, hosts or
port hosts); the app's network screen follows the event stream."""
from __future__ import annotations

import asyncio

from servedhelp import served
from test_remote import logged_in, start_cloud
from textual.widgets import DataTable
from tui_helpers import SIZE, settle
from tui_real import wait_for

from tui.app import PocketApp
from tui.remote import RemoteAdapter
from tui.screens.networks import NetworksScreen


async def active(cloud, tok, sid) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while (await cloud.get_server(tok, sid))["status"] != "ACTIVE":
        assert loop.time() < end, f"{sid} did not become ACTIVE"
        await asyncio.sleep(0.05)


async def test_remote_wiring_is_the_facades_for_admin_and_member(tmp_path):
    cloud, tok, image = await start_cloud(tmp_path)
    try:
        a = (await cloud.create_server(tok, "a", image, "1"))[0]
        await active(cloud, tok, a["id"])
        b = (await cloud.create_server(tok, "b", image, "1", scheduler_hints={"different_host": a["id"]}))[0]
        await active(cloud, tok, b["id"])
        ext = await cloud.create_network(tok, "public", external=True)
        await cloud.create_subnet(tok, ext["id"], "172.24.4.0/24")
        router = await cloud.create_router(tok, "edge", gateway={"network_id": ext["id"]})
        private = (await cloud.list_networks(tok, {"name": "private"}))[0]
        await cloud.add_router_interface(tok, router["id"], subnet_id=private["subnets"][0])
        port_a = (await cloud.list_ports(tok, {"device_id": a["id"]}))[0]
        fip = await cloud.create_floatingip(tok, ext["id"], port_id=port_a["id"])
        demo = await cloud.create_project(tok, "demo")
        user = await cloud.create_user(tok, "carol", "carol-secret")
        await cloud.grant_role(tok, demo["id"], user["id"], "member")
        carol = (await cloud.login("carol", "carol-secret", demo["id"]))["token"]
        mine = (await cloud.create_server(carol, "mine", image, "1"))[0]
        await active(cloud, tok, mine["id"])
        async with served(cloud) as srv:
            for who, password, project, local_tok in (("admin", "secret", "admin", tok),
                                                      ("carol", "carol-secret", demo["id"], carol)):
                adapter = RemoteAdapter(srv.url)
                try:
                    await adapter.login(who, password)
                    await adapter.scope(next(p["id"] for p in await adapter.projects()
                                             if project in (p["id"], p["name"])))
                    remote = await adapter.network_wiring()
                    local = await cloud.list_network_wiring(local_tok)
                    assert remote == local, who
                    net = next(n for n in remote if n["id"] == private["id"])
                    if who == "admin":
                        assert net["segmentation_id"] == private["provider:segmentation_id"] is not None
                        assert net["hosts"] == ["fake-1", "fake-2"] and net["routers"][0]["name"] == "edge"
                        p = next(p for p in net["ports"] if p["id"] == port_a["id"])
                        assert p["floating_ip"] == fip["floating_ip_address"] and p["status"] == "ACTIVE"
                        assert p["host"] == (await cloud.get_server(tok, a["id"]))["host"]
                        # the port list filtered by device, as the Overview reads it
                        got = await adapter.call("list_ports", filters={"device_id": a["id"]})
                        assert [x["id"] for x in got] == [port_a["id"]] and got[0]["status"] == "ACTIVE"
                        assert ("GET", "/network/v2.0/ports") in srv.recorder.since(0)
                    else:
                        assert net["segmentation_id"] is None and net["hosts"] is None
                        assert [p["device_id"] for p in net["ports"]] == [mine["id"]]
                        assert net["ports"][0]["host"] is None and net["ports"][0]["status"] == "ACTIVE"
                finally:
                    await adapter.close()
    finally:
        await cloud.stop()


async def test_remote_network_screen_follows_the_event_stream(tmp_path):
    cloud, tok, image = await start_cloud(tmp_path)
    try:
        async with served(cloud) as srv:
            app = PocketApp(RemoteAdapter(srv.url), highlight_seconds=0, console_follow=0)
            app.animation_level = "none"
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                await logged_in(pilot, srv)
                app.open_list("networks")
                await settle(pilot)
                assert isinstance(app.screen, NetworksScreen)
                ports = app.screen.query_one("#network-ports", DataTable)
                assert ports.row_count == 0
                s = (await cloud.create_server(tok, "streamed", image, "1"))[0]
                await wait_for(pilot, lambda: ports.row_count == 1 and
                               ports.get_row_at(0)[5].plain == "ACTIVE", what="the port ACTIVE over the stream")
                row = ports.get_row_at(0)
                assert row[0].plain == "streamed" and row[2].plain == (await cloud.get_server(tok, s["id"]))["host"]
                nets = app.screen.query_one("#resources", DataTable)
                private = (await cloud.list_networks(tok, {"name": "private"}))[0]
                assert nets.get_cell(private["id"], "segment").plain == f"vxlan {private['provider:segmentation_id']}"
                await app.adapter.close()
    finally:
        await cloud.stop()
