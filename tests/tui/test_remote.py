"""The app over the REST API (--url): RemoteAdapter against a real Cloud served on a real
socket by the HTTP server of `serve` (tests/servedhelp.py), all on the test's loop. The app
is pushed over the event stream, never polls: every request it makes is recorded."""
from __future__ import annotations

import asyncio

import orjson
from servedhelp import served
from textual.widgets import Static
from tui_helpers import SIZE, login, settle
from tui_real import HOSTS, text_of, wait_for

from backend.api.events import PATH as EVENTS
from backend.core.config import Config
from backend.facade import Cloud
from tui.app import PocketApp
from tui.remote import RemoteAdapter
from tui.screens.detail import DetailScreen
from tui.screens.instances import InstancesScreen


async def start_cloud(tmp_path, **kw) -> tuple[Cloud, str, str]:
    """A Cloud on two fake hosts with a public image; (cloud, admin token, image id)."""
    (tmp_path / "hosts.yaml").write_text(HOSTS)
    kw = {"heartbeat_interval": 0.2, "power_sync_interval": 0.2, "service_down_time": 1.5, **kw}
    cfg = Config(home=tmp_path / "home", hosts_path=tmp_path / "hosts.yaml", password_hash_rounds=4, **kw)
    Cloud.init(cfg, "secret")
    cloud = Cloud(cfg)
    await cloud.start()
    tok = (await cloud.login("admin", "secret", "admin"))["token"]
    img = await cloud.create_image(tok, "tiny", visibility="public")
    await cloud.upload_image(tok, img["id"], b"\0" * 4096)
    return cloud, tok, img["id"]


# no background events (power syncs, heartbeats): what arrives is what the test did
QUIET = {"heartbeat_interval": 60.0, "power_sync_interval": 600.0, "service_down_time": 600.0}


def as_sent(events: list[dict]) -> list[dict]:
    return [orjson.loads(orjson.dumps(e, default=str)) for e in events]


async def logged_in(pilot, srv):
    await login(pilot)
    app = pilot.app
    assert isinstance(app.screen, InstancesScreen)
    await wait_for(pilot, lambda: app.adapter.stream.connects == 1, what="the event stream")
    await settle(pilot)


async def test_remote_login_launch_detail_delete(tmp_path):
    cloud, tok, image = await start_cloud(tmp_path)
    try:
        async with served(cloud) as srv:
            adapter = RemoteAdapter(srv.url)
            app = PocketApp(adapter, highlight_seconds=0, console_follow=0)
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                await logged_in(pilot, srv)  # one project: no picker
                assert app.adapter.token["project"]["name"] == "admin"
                srv_ = (await cloud.create_server(tok, "far-1", image, "1"))[0]
                t = app.screen.table
                await wait_for(pilot, lambda: srv_["id"] in t.servers and t.servers[srv_["id"]]["status"] == "ACTIVE",
                               what="ACTIVE, pushed")
                row = t.get_row(srv_["id"])
                assert row[7].plain == "m1.nano" and row[8].plain == "tiny" and row[5].plain.startswith("fake-")
                await pilot.press("enter")
                await settle(pilot, 0.2)
                assert isinstance(app.screen, DetailScreen)
                await pilot.press("2")
                await settle(pilot, 0.1)
                assert "fetch image" in text_of(app.screen.query_one("#trace-body", Static))
                await pilot.press("escape", "ctrl+d")
                await settle(pilot)
                await pilot.press("y")
                await wait_for(pilot, lambda: srv_["id"] not in t.servers, what="deleted, pushed")
                # one stream for the whole session, and no list read twice: nothing polled
                assert len(srv.recorder.streams()) == 1
            await adapter.close()
    finally:
        await cloud.stop()


async def test_remote_app_is_pushed_never_polled_and_events_arrive_in_order(tmp_path):
    """A minute of changes: the app's only request is the stream it opened at log in."""
    cloud, tok, image = await start_cloud(tmp_path, **QUIET)
    try:
        async with served(cloud) as srv:
            adapter = RemoteAdapter(srv.url)
            received: list[dict] = []
            app = PocketApp(adapter, highlight_seconds=0, console_follow=0)
            async with app.run_test(size=SIZE) as pilot:
                adapter.subscribe(received.append)
                await logged_in(pilot, srv)
                t = app.screen.table
                before, k = len(srv.recorder.requests), len(received)
                in_process: list[dict] = []
                cloud.subscribe(in_process.append, token=adapter.token["token"])
                # a minute of changes made elsewhere (another client of the same cloud)
                loop, cycles = asyncio.get_running_loop(), 0
                minute = loop.time() + 60
                while loop.time() < minute:
                    made = await cloud.create_server(tok, f"burst-{cycles}", image, "1", min_count=3, max_count=3)
                    ids = [s["id"] for s in made]
                    await wait_for(pilot, lambda: all(t.servers.get(i, {}).get("status") == "ACTIVE" for i in ids),
                                   what="three ACTIVE")
                    await cloud.stop_server(tok, ids[0])
                    await wait_for(pilot, lambda: t.servers.get(ids[0], {}).get("status") == "SHUTOFF",
                                   what="stopped")
                    for sid in ids:
                        await cloud.delete_server(tok, sid)
                    await wait_for(pilot, lambda: not any(i in t.servers for i in ids), what="deleted")
                    cycles += 1
                await wait_for(pilot, lambda: len(received) - k == len(in_process), what="every event")
                # only the stream, opened at log in: not one request during the minute
                assert cycles >= 3 and srv.recorder.since(before) == []
                assert len(srv.recorder.streams()) == 1
                # the events the screens got over HTTP are the in-process feed, in its order
                assert received[k:] == as_sent(in_process)
            await adapter.close()
    finally:
        await cloud.stop()


async def test_remote_resumes_after_the_server_drops_the_stream(tmp_path):
    cloud, tok, image = await start_cloud(tmp_path, **QUIET)
    try:
        async with served(cloud) as srv:
            adapter = RemoteAdapter(srv.url, backoff=(0.05, 0.2))
            received: list[dict] = []
            app = PocketApp(adapter, highlight_seconds=0, console_follow=0)
            async with app.run_test(size=SIZE) as pilot:
                adapter.subscribe(received.append)
                await logged_in(pilot, srv)
                t = app.screen.table
                a = (await cloud.create_server(tok, "a", image, "1"))[0]
                await wait_for(pilot, lambda: t.servers.get(a["id"], {}).get("status") == "ACTIVE", what="a")
                await wait_for(pilot, lambda: adapter.stream.last_id is not None, what="an id")
                last_seen, k, before = adapter.stream.last_id, len(received), len(srv.recorder.requests)
                in_process: list[dict] = []
                cloud.subscribe(in_process.append, token=adapter.token["token"])
                # the server drops the stream and refuses it for a while: changes meanwhile
                srv.recorder.refuse_streams = True
                srv.recorder.drop_streams()
                b = (await cloud.create_server(tok, "b", image, "1"))[0]
                await cloud.stop_server(tok, a["id"])
                await wait_for(pilot, lambda: len(srv.recorder.streams()) >= 3, what="refused reconnects")
                srv.recorder.refuse_streams = False
                await wait_for(pilot, lambda: adapter.stream.connects == 2, what="the stream again")
                await wait_for(pilot, lambda: t.servers.get(b["id"], {}).get("status") == "ACTIVE"
                               and t.servers.get(a["id"], {}).get("status") == "SHUTOFF", what="missed changes")
                # every attempt asked for the events after the last one seen
                assert {h.get("last-event-id") for h in srv.recorder.streams()[1:]} == {last_seen}
                await wait_for(pilot, lambda: len(received) - k >= len(in_process), what="every event")
                # exactly once: what was missed, replayed, nothing seen twice, in order
                assert received[k:] == as_sent(in_process)
                # no list reloaded: the replay was enough
                assert {p for _, p in srv.recorder.since(before)} == {EVENTS}
            await adapter.close()
    finally:
        await cloud.stop()


async def test_remote_reloads_the_lists_when_what_it_missed_is_too_old(tmp_path):
    cloud, tok, image = await start_cloud(tmp_path, event_replay=30, **QUIET)
    try:
        async with served(cloud) as srv:
            adapter = RemoteAdapter(srv.url, backoff=(0.05, 0.2))
            app = PocketApp(adapter, highlight_seconds=0, console_follow=0)
            async with app.run_test(size=SIZE) as pilot:
                await logged_in(pilot, srv)
                t = app.screen.table
                old = (await cloud.create_server(tok, "old", image, "1"))[0]
                await wait_for(pilot, lambda: t.servers.get(old["id"], {}).get("status") == "ACTIVE", what="old")
                before = len(srv.recorder.requests)
                srv.recorder.refuse_streams = True
                srv.recorder.drop_streams()
                await cloud.delete_server(tok, old["id"])            # far more than 30 events
                made = await cloud.create_server(tok, "new", image, "1", min_count=3, max_count=3)
                await wait_for(pilot, lambda: len(srv.recorder.streams()) >= 3, what="refused reconnects")
                for s in made:
                    await wait_for(pilot, lambda s=s: cloud.rt.store.get(s["id"])["vm_state"] == "active",
                                   what="built")
                srv.recorder.refuse_streams = False
                await wait_for(pilot, lambda: old["id"] not in t.servers
                               and all(t.servers.get(s["id"], {}).get("status") == "ACTIVE" for s in made),
                               what="the lists reloaded")
                paths = [p for _, p in srv.recorder.since(before) if p != EVENTS]
                # the reset's reload, once: the servers (with the flavor and image names they
                # need) and, for an admin, the hosts
                assert paths.count("/compute/v2.1/servers/detail") == 1
                assert paths.count("/compute/v2.1/os-pocketstack-hypervisors") == 1
                assert set(paths) <= {"/compute/v2.1/servers/detail", "/compute/v2.1/os-pocketstack-hypervisors",
                                      "/compute/v2.1/flavors/detail", "/image/v2/images"}
            await adapter.close()
    finally:
        await cloud.stop()


async def test_remote_errors_are_cloud_errors():
    adapter = RemoteAdapter("http://127.0.0.1:9")  # nothing listens there
    try:
        await adapter.login("admin", "secret")
    except Exception as e:
        assert type(e).__name__ == "CloudError" and "cannot reach" in e.message
    else:
        raise AssertionError("login to a dead server succeeded")
    finally:
        await adapter.close()
