"""What just happened (`w`): for each action of the app, the exact `openstack` command line and
the REST calls (method, path, status, request id), secrets masked; in-process over a real Cloud
on the fake driver, and over --url through the REST API (the remote adapter's real requests)."""
from __future__ import annotations

import time

import httpx
from textual.widgets import Input, Select, Static
from tui_helpers import SIZE, login, settle
from tui_real import HOSTS, text_of, wait_for

from backend.api import create_app
from backend.core.config import Config
from backend.facade import Cloud
from tui.app import PocketApp
from tui.remote import RemoteAdapter
from tui.screens.instances import InstancesScreen
from tui.screens.what_happened import WhatHappenedScreen

PASSWORD = "secret"
NOVA = "/compute/v2.1"


async def panel(pilot) -> str:
    """Open the panel, read it as plain text, close it."""
    app = pilot.app
    await pilot.press("w")
    await settle(pilot)
    assert isinstance(app.screen, WhatHappenedScreen)
    text = text_of(app.screen.query_one("#wh-body", Static), 400) + \
        text_of(app.screen.query_one("#wh-actions", Static), 400)
    await pilot.press("escape")
    await settle(pilot)
    return text


def calls_of(app) -> list[tuple[str, str, int | None]]:
    return [(c.method, c.path, c.status) for c in app.adapter.journal.last.calls]


async def launch_with_options(pilot, name: str, network_id: str) -> str:
    app = pilot.app
    before = set(app.screen.table.servers)
    await pilot.press("c")
    await settle(pilot)
    form = app.screen
    await pilot.press(*name)
    form.query_one("#image", Select).value = next(i for i, img in form.images.items() if img["name"] == "tiny")
    form.query_one("#flavor", Select).value = "1"
    form.query_one("#network", Select).value = network_id
    form.query_one("#az", Input).value = "nova"
    await pilot.pause()
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(app.screen, InstancesScreen), what="form closed")
    return next(k for k in app.screen.table.servers if k not in before)


async def server_actions(pilot, sid: str, status: str, actions, state) -> None:
    """stop, start, reboot, hard reboot and delete from the instances list, each checked.
    state(sid) -> the backend's view: the test waits on it (bounded), then reloads the list
    (ctrl+r), so it does not depend on how the adapter gets its events."""
    app = pilot.app
    t = app.screen.table

    async def settled(want: str) -> None:
        end = time.monotonic() + 20
        while True:
            s = await state(sid)
            if s["status"] == want and not s["task_state"]:
                break
            assert time.monotonic() < end, f"{sid} is {s['status']}/{s['task_state']}, not {want}"
            await pilot.pause(0.05)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: sid in t.servers and t.servers[sid]["status"] == want
                       and not t.servers[sid].get("task_state"), what=want)
        t.move_cursor(row=t.get_row_index(sid))

    async def rid(action: str) -> str:
        got = [a for a in await actions(sid) if a["action"] == action]
        return max(got, key=lambda a: str(a["start_time"]))["request_id"]

    await settled("ACTIVE")
    steps = [("s", "openstack server stop 'web 1'", {"os-stop": None}, "stop", "SHUTOFF"),
             ("u", "openstack server start 'web 1'", {"os-start": None}, "start", "ACTIVE"),
             ("r", "openstack server reboot 'web 1'", {"reboot": {"type": "SOFT"}}, "reboot", "ACTIVE"),
             ("R", "openstack server reboot --hard 'web 1'", {"reboot": {"type": "HARD"}}, "reboot",
              "ACTIVE")]
    for key, cmd, body, action, after in steps:
        await pilot.press(key)
        if key == "R":
            await settle(pilot)
            await pilot.press("y")
        await settle(pilot)
        await settled(after)
        text = await panel(pilot)
        assert f"$ {cmd}\n" in text, text
        assert f"POST {NOVA}/servers/{sid}/action  → 202  request id {await rid(action)}" in text, text
        h = app.adapter.journal.last
        post = next(c for c in h.calls if c.method == "POST")
        assert post.body == body
        # the instance's actions list (any client) shows it with its openstack equivalent
        assert f"openstack server event show 'web 1' {await rid(action)}" in text


async def delete_server(pilot, sid: str, status: str, actions) -> None:
    app = pilot.app
    t = app.screen.table
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: sid in t.servers, what="listed")
    t.move_cursor(row=t.get_row_index(sid))
    await pilot.press("ctrl+d")
    await settle(pilot)
    await pilot.press("y")
    await settle(pilot)
    text = await panel(pilot)
    deleted = [a for a in await actions(sid) if a["action"] == "delete"]
    assert "$ openstack server delete 'web 1'\n" in text
    assert f"DELETE {NOVA}/servers/{sid}  → 204  request id {deleted[0]['request_id']}" in text
    assert status in text


async def volume_and_image(pilot, tmp_path, sid: str, actions) -> None:
    from textual.widgets import OptionList
    app = pilot.app
    pid = app.adapter.project_id
    app.open_list("volumes")
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    app.screen.query_one("#f-name", Input).value = "data 1"
    app.screen.query_one("#f-size", Input).value = "1"
    app.screen.query_one("#f-name", Input).focus()
    await pilot.press("enter")
    await settle(pilot, 0.1)
    text = await panel(pilot)
    assert "$ openstack volume create --size 1 'data 1'\n" in text
    assert f"POST /volume/v3/{pid}/volumes  → 202" in text
    vid = app.adapter.journal.last.steps[0].result_id

    # attach to the instance (picked from a list), then detach
    await pilot.press("a")
    await settle(pilot)
    ol = app.screen.query_one(OptionList)
    ol.highlighted = next(i for i in range(ol.option_count) if ol.get_option_at_index(i).id == sid)
    await pilot.press("enter")
    await settle(pilot, 0.1)
    text = await panel(pilot)
    rid = [a for a in await actions(sid) if a["action"] == "attach_volume"][0]["request_id"]
    assert "$ openstack server add volume 'web 1' 'data 1'\n" in text, text
    assert f"POST {NOVA}/servers/{sid}/os-volume_attachments  → 200  request id {rid}" in text
    assert app.adapter.journal.last.calls[0].body == {"volumeAttachment": {"volumeId": vid}}
    await pilot.press("x")
    await settle(pilot, 0.1)
    text = await panel(pilot)
    rid = [a for a in await actions(sid) if a["action"] == "detach_volume"][0]["request_id"]
    assert "$ openstack server remove volume 'web 1' 'data 1'\n" in text, text
    assert f"DELETE {NOVA}/servers/{sid}/os-volume_attachments/{vid}  → 202  request id {rid}" in text
    await pilot.press("ctrl+d")
    await settle(pilot)
    await pilot.press("y")
    await settle(pilot, 0.1)
    text = await panel(pilot)
    vid = app.adapter.journal.last.steps[0].args[0]
    assert "$ openstack volume delete 'data 1'\n" in text, text
    assert f"DELETE /volume/v3/{pid}/volumes/{vid}  → 202" in text

    disk = tmp_path / "my disk.raw"
    disk.write_bytes(b"\0" * 8192)
    await pilot.press("escape")
    app.open_list("images")
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    for f, v in (("name", "my img"), ("path", str(disk)), ("disk_format", "raw")):
        app.screen.query_one(f"#f-{f}", Input).value = v
    app.screen.query_one("#f-name", Input).focus()
    await pilot.press("enter")
    await settle(pilot, 0.1)
    text = await panel(pilot)
    assert (f"$ openstack image create --file '{disk}' --disk-format raw --container-format bare "
            "'my img'\n") in text, text
    iid = app.adapter.journal.last.steps[0].result_id
    got = [(m, p, s) for m, p, s in calls_of(app) if m in ("POST", "PUT")]
    assert got == [("POST", "/image/v2/images", 201), ("PUT", f"/image/v2/images/{iid}/file", 204)]


def assert_login(app, text: str, url: str | None) -> None:
    auth = f"--os-auth-url {url}/identity/v3 " if url else ""
    assert (f"$ openstack {auth}--os-username admin --os-user-domain-name Default --os-project-name "
            "admin --os-project-domain-name Default token issue\n") in text, text
    posts = [c for c in app.adapter.journal.history[0].calls if c.method == "POST"]
    assert [c.path for c in posts] == ["/identity/v3/auth/tokens"] * 2
    assert posts[0].body["auth"]["identity"]["password"]["user"] == {
        "name": "admin", "domain": {"name": "Default"}, "password": "***"}
    assert posts[1].body["auth"]["identity"]["token"] == {"id": "***"}
    assert "GET /identity/v3/auth/projects  → 200" in text
    assert PASSWORD not in text and app.adapter.token["token"] not in text
    assert app.adapter.unscoped["token"] not in text


async def test_in_process_every_action(real, tmp_path):
    app = real.app()
    net = real.call("list_networks")[0]
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        text = await panel(pilot)
        assert "in-process: the app called the backend directly" in text
        assert_login(app, text, None)

        sid = await launch_with_options(pilot, "web 1", net["id"])
        text = await panel(pilot)
        assert ("$ openstack server create --image tiny --flavor m1.nano --network private "
                "--availability-zone nova 'web 1'\n") in text, text
        create = real.call("list_instance_actions", sid)[-1]
        assert create["action"] == "create"
        assert f"POST {NOVA}/servers  → 202  request id {create['request_id']}" in text
        body = app.adapter.journal.last.calls[0].body["server"]
        assert body["networks"] == [{"uuid": net["id"]}] and body["name"] == "web 1"

        async def actions(s):
            return real.call("list_instance_actions", s)

        async def state(s):
            return real.call("get_server", s)
        await server_actions(pilot, sid, "in-process", actions, state)
        await volume_and_image(pilot, tmp_path, sid, actions)
        await pilot.press("escape")
        await delete_server(pilot, sid, "in-process", actions)


async def test_remote_every_action(tmp_path):
    (tmp_path / "hosts.yaml").write_text(HOSTS)
    cfg = Config(home=tmp_path / "home", hosts_path=tmp_path / "hosts.yaml", password_hash_rounds=4,
                 heartbeat_interval=0.2, power_sync_interval=0.2, service_down_time=1.5)
    Cloud.init(cfg, PASSWORD)
    cloud = Cloud(cfg)
    await cloud.start()
    try:
        tok = (await cloud.login("admin", PASSWORD, "admin"))["token"]
        img = await cloud.create_image(tok, "tiny", visibility="public")
        await cloud.upload_image(tok, img["id"], b"\0" * 4096)
        net = (await cloud.list_networks(tok))[0]
        adapter = RemoteAdapter("http://pocketstack.test",
                                transport=httpx.ASGITransport(app=create_app(cloud)))
        app = PocketApp(adapter, highlight_seconds=0, console_follow=0)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await login(pilot)
            text = await panel(pilot)
            assert "over http://pocketstack.test: the HTTP requests the app sent" in text
            assert_login(app, text, "http://pocketstack.test")

            sid = await launch_with_options(pilot, "web 1", net["id"])
            text = await panel(pilot)
            assert ("$ openstack server create --image tiny --flavor m1.nano --network private "
                    "--availability-zone nova 'web 1'\n") in text, text
            create = (await cloud.list_instance_actions(tok, sid))[-1]
            # the request id nova answers in x-openstack-request-id is the action's
            assert f"POST {NOVA}/servers  → 202  request id {create['request_id']}" in text
            # the adapter's own follow-up read is a real request too, and shown
            assert f"GET {NOVA}/servers/{sid}  → 200" in text

            async def actions(s):
                return await cloud.list_instance_actions(tok, s)

            async def state(s):
                return await cloud.get_server(tok, s)
            await server_actions(pilot, sid, "over http://pocketstack.test", actions, state)
            await volume_and_image(pilot, tmp_path, sid, actions)
            await pilot.press("escape")
            await delete_server(pilot, sid, "over http://pocketstack.test", actions)
        await adapter.close()
    finally:
        await cloud.stop()


async def test_copy_and_walk_the_history():
    """c copies the command line (Textual's clipboard); [ and ] walk earlier/later actions."""
    import tui_scenario as sc
    from tui_helpers import make_app
    app = make_app(sc.build())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        t = app.screen.table
        t.move_cursor(row=t.get_row_index(sc.ACTIVE))
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        await pilot.press("c")
        assert app.clipboard == "openstack server stop web-1"
        # the panel is text the mouse can select (Textual selects Text, not tables or groups)
        from textual.selection import Selection
        for wid in ("#wh-body", "#wh-actions"):
            got = app.screen.query_one(wid, Static).get_selection(Selection(None, None))
            assert got is not None, wid
        body = app.screen.query_one("#wh-body", Static).get_selection(Selection(None, None))[0]
        assert "$ openstack server stop web-1" in body and "POST /compute/v2.1/servers/" in body
        await pilot.press("left_square_bracket")
        await settle(pilot)
        body = text_of(app.screen.query_one("#wh-body", Static), 300)
        assert "log in" in body and "token issue" in body and "secret" not in body
        await pilot.press("c")
        assert app.clipboard.startswith("openstack --os-username admin ") and "secret" not in app.clipboard
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert "$ openstack server stop web-1" in text_of(app.screen.query_one("#wh-body", Static), 300)


async def test_events_tab_shows_actions_done_elsewhere(real):
    """An instance created and stopped outside the app (the facade, as the CLI does): the Events
    tab lists each action's request id and user with `openstack server event show`."""
    from textual.widgets import TabbedContent
    from tui.screens.detail import DetailScreen
    (s,) = real.call("create_server", "cli made", real.ids["image"], "1")
    app = real.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        t = app.screen.table
        await wait_for(pilot, lambda: s["id"] in t.servers and t.servers[s["id"]]["status"] == "ACTIVE",
                       what="ACTIVE")
        real.call("stop_server", s["id"])
        await wait_for(pilot, lambda: t.servers[s["id"]]["status"] == "SHUTOFF", what="SHUTOFF")
        t.move_cursor(row=t.get_row_index(s["id"]))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        app.screen.query_one(TabbedContent).active = "events"
        await app.screen.load_events()
        await settle(pilot)
        text = text_of(app.screen.query_one("#events-body", Static), 300)
        acts = real.call("list_instance_actions", s["id"])
        assert [a["action"] for a in acts] == ["stop", "create"]
        for a in acts:
            assert a["request_id"] in text and f"$ openstack server event show 'cli made' {a['request_id']}" in text
        assert real.ids["admin_user"] in text
        # nothing was done to it from the app: the panel shows the last action (the log in) and
        # the instance's actions from any client
        text = await panel(pilot)
        assert "What just happened: log in" in text
        assert f"openstack server event show 'cli made' {acts[0]['request_id']}" in text


async def test_hostile_names_on_the_panel():
    """Names from the API are literal on the panel and quoted on the command line; a click on
    one does nothing (the app is still there)."""
    import shlex
    import tui_scenario as sc
    from tui_helpers import make_app
    name = "[@click=app.quit]x[/]"
    app = make_app(sc.hostile(name))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, project=None)
        await pilot.press("enter")   # the first project
        await settle(pilot)
        t = app.screen.table
        t.move_cursor(row=t.get_row_index(sc.ACTIVE))
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        body = text_of(app.screen.query_one("#wh-body", Static), 300)
        actions = text_of(app.screen.query_one("#wh-actions", Static), 300)
        assert f"stop srv{name}" in body
        assert f"$ openstack server stop {shlex.quote('srv' + name)}" in body
        assert f"openstack server event show {shlex.quote('srv' + name)} {shlex.quote('req' + name)}" in actions
        await pilot.click("#wh-body")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, WhatHappenedScreen)


async def test_a_refused_action_shows_its_status_and_message():
    from backend.core.errors import Conflict
    import tui_scenario as sc
    from tui_helpers import make_app
    fake = sc.build()
    fake.fail["stop_server"] = Conflict("Cannot 'stop' instance: it is in task_state powering-off")
    app = make_app(fake)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot)
        t = app.screen.table
        t.move_cursor(row=t.get_row_index(sc.ACTIVE))
        await pilot.press("s")
        await settle(pilot)
        text = await panel(pilot)
        assert "stop web-1  failed: Cannot 'stop' instance" in text
        assert f"POST {NOVA}/servers/{sc.ACTIVE}/action  → 409  request id -" in text
        assert "$ openstack server stop web-1" in text
