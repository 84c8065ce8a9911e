"""Names are data, never markup: every string the API gives is drawn as it is, on every
screen. A name like `x[/]` parsed as markup crashes the view that draws it; one like
`[@click=app.quit]ubuntu[/]` shows as `ubuntu` and quits the app when clicked. Each test drives
a screen with such names (tui_scenario.hostile: each place gets its own prefix) and asserts
that the app is still running, the literal text is on screen, and clicking it does nothing."""
from __future__ import annotations

import pytest
from textual.widgets import Input, Select
from tui_helpers import login as admin_login
from tui_helpers import make_app, settle
from tui_real import wait_for
from tui_scenario import ACTIVE, FAILED, hostile

from backend.core.errors import BadRequest, Unauthorized

WIDE = (240, 50)  # long names: every column in view
NAMES = ["x[/]", "[@click=app.quit]ubuntu[/]", "[bold red]", "[link=file:///etc/passwd]z[/link]"]


def screen_lines(app) -> list[str]:
    """What the terminal shows for the top screen, toasts included, as plain lines."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def find(app, literal: str) -> tuple[int, int] | None:
    for y, line in enumerate(screen_lines(app)):
        x = line.find(literal)
        if x >= 0:
            return x, y
    return None


async def assert_shown(pilot, *literals: str, click: bool = True) -> None:
    """Each literal is on screen, as given; a click on it leaves the app running."""
    app = pilot.app
    assert app.is_running, "the app stopped"
    for literal in literals:
        at = find(app, literal)
        assert at is not None, f"{literal!r} is not on screen:\n" + "\n".join(screen_lines(app))
        if click:
            screen = app.screen
            await pilot.click(offset=(at[0] + len(literal) - 2, at[1]))
            await settle(pilot)
            assert app.is_running and app.return_code is None, f"clicking {literal!r} ended the app"
            if app.screen is not screen:  # the click opened something (a row): back
                await pilot.press("escape")
                await settle(pilot)


async def login(pilot, name: str) -> None:
    """Log in as the scripted admin and scope to the first project ('prj' + name)."""
    app = pilot.app
    await settle(pilot)
    app.screen.query_one("#username", Input).value = "admin"
    app.screen.query_one("#password", Input).value = "secret"
    app.screen.submit()
    await settle(pilot)
    await assert_shown(pilot, "prj" + name, "prz" + name, click=False)  # the project picker
    await pilot.press("enter")
    await settle(pilot)
    assert type(app.screen).__name__ == "InstancesScreen"


@pytest.fixture(params=NAMES, ids=["close-tag", "click-quit", "style", "link"])
def name(request) -> str:
    return request.param


async def test_project_picker_session_bar_and_instances_table(name):
    app = make_app(hostile(name))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await login(pilot, name)
        await assert_shown(pilot, "usr" + name, "prj" + name)             # the session bar
        await assert_shown(pilot, "srv" + name, "host" + name, "img" + name, "fl" + name)
        app.screen.table.set_filter("srv")                                  # the status line
        await settle(pilot)
        assert app.screen.table.row_count == 1


@pytest.mark.parametrize("tab,literals", [
    ("flow", ["srv{}", "req{}"]),
    ("overview", ["srv{}", "host{}", "az{}", "img{}", "fl{}", "net{}"]),
    ("trace", ["trc{}", "stp{}", "host{}"]),
    ("scheduler", ["host{}", "why{}"]),
    ("events", ["evt{}", "req{}", "msg{}", "host{}"]),
    ("console", ["con{}"]),
])
async def test_detail_tabs(name, tab, literals):
    app = make_app(hostile(name))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await login(pilot, name)
        app.screen.action_detail()
        await settle(pilot)
        await pilot.press("f" if tab == "flow" else
                          str(["overview", "trace", "scheduler", "events", "console"].index(tab) + 1))
        if tab == "console":
            await app.screen.follow_console()
        await settle(pilot)
        await assert_shown(pilot, *[lit.format(name) for lit in literals])
        await assert_shown(pilot, "srv" + name)                              # the title line


async def test_fault_of_an_instance_in_error(name):
    app = make_app(hostile(name))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await login(pilot, name)
        table = app.screen.table
        table.move_cursor(row=table.get_row_index(FAILED))
        app.screen.action_detail()
        await settle(pilot)
        await assert_shown(pilot, "flt" + name)  # the Flow tab
        await pilot.press("1")
        await settle(pilot)
        await assert_shown(pilot, "flt" + name, "dtl" + name)


@pytest.mark.parametrize("kind,literals", [
    ("images", ["img{}"]), ("flavors", ["fl{}"]), ("networks", ["net{}"]), ("volumes", ["vol{}"]),
    ("hosts", ["dwn{}", "az{}", "host{}"]),  # the last click selects the host: its title below
])
async def test_resource_lists(name, kind, literals):
    app = make_app(hostile(name))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await login(pilot, name)
        app.open_list(kind)
        await settle(pilot)
        await assert_shown(pilot, *[lit.format(name) for lit in literals])
        if kind == "hosts":  # the selected host's instances, under their title
            await assert_shown(pilot, f"Instances on host{name}: 2", click=False)


async def test_network_wiring_and_overview_ports(name):
    """The network screen (network, hosts, the network node, router, instance names, in both
    tables and the ports title) and the Overview's ports line."""
    fake = hostile(name)
    fake.ports[0]["binding:host_id"] = "node" + name                      # the DHCP port's host
    fake.routers = [{"id": "rtr-0001", "name": "rtr" + name, "status": "ACTIVE"}]
    fake.ports.append(dict(fake.ports[0], id="port-rtr1", device_id="rtr-0001", mac_address="fa:16:3e:00:a0:01",
                           device_owner="network:router_interface"))
    app = make_app(fake)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await login(pilot, name)
        app.open_list("networks")
        await settle(pilot)
        await assert_shown(pilot, f"host{name}, node{name}", f"Ports of net{name}: ", "rtr" + name,
                           "srv" + name, "net" + name)
        await pilot.press("escape")
        await settle(pilot)
        app.screen.action_detail()
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        await assert_shown(pilot, f"net{name}: 10.0.0.3  fa:16:3e:00:00:01  ACTIVE  floating -")


async def test_launch_form_pickers_and_messages(name):
    app = make_app(hostile(name))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await login(pilot, name)
        await pilot.press("c")
        await settle(pilot)
        form = app.screen
        for sel, literal in (("#image", "img"), ("#flavor", "fl"), ("#network", "net")):
            form.query_one(sel, Select).expanded = True
            await settle(pilot)
            await assert_shown(pilot, literal + name, click=False)
            form.query_one(sel, Select).expanded = False
            await settle(pilot)
        form.query_one("#az", Input).value = "mars"   # the message names the zones there are
        await settle(pilot)
        await assert_shown(pilot, f"no such zone; there is az{name}")
        form.query_one("#image", Select).value = "img-0001"
        await settle(pilot)
        await assert_shown(pilot, "img" + name)                               # the chosen value


async def test_delete_confirmation_and_toasts(name):
    fake = hostile(name)
    app = make_app(fake)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await login(pilot, name)
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert type(app.screen).__name__ == "ConfirmModal"
        await assert_shown(pilot, f"Delete instance srv{name}?")
        await pilot.press("n")
        await settle(pilot)
        fake.fail["reboot_server"] = BadRequest("err" + name)                # an error toast
        await pilot.press("r")
        await settle(pilot)
        await assert_shown(pilot, "err" + name)
        s = fake.servers[ACTIVE]                                            # an outcome toast
        await pilot.press("s")
        await settle(pilot)
        fake.emit({"type": "instance", "server": dict(s, status="SHUTOFF", task_state=None,
                                                      updated="2026-11-26T15:00:00Z")})
        await settle(pilot)
        await assert_shown(pilot, f"srv{name} is SHUTOFF")


async def test_login_error_text(name):
    fake = hostile(name)
    fake.fail["login"] = Unauthorized("lgn" + name)
    app = make_app(fake)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(pilot)
        app.screen.query_one("#username", Input).value = "admin"
        app.screen.query_one("#password", Input).value = "secret"
        app.screen.submit()
        await settle(pilot)
        await assert_shown(pilot, "lgn" + name)


async def test_the_click_check_catches_a_quit():
    """The check above fails where a name is markup: clicking 'ubuntu' quits this app."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Markup(App):
        class pump:  # what settle() flushes in the real app
            flush = staticmethod(lambda: None)

        def compose(self) -> ComposeResult:
            yield Static("[@click=app.quit]ubuntu[/]")

    app = Markup()
    async with app.run_test() as pilot:
        with pytest.raises(AssertionError, match="ended the app"):
            await assert_shown(pilot, "ubuntu")


async def test_names_from_a_real_cloud(real):
    """On a real Cloud: a public image named `x[/]` (it crashed every user's Images list), an
    instance named to quit on click, a build fault quoting a name."""
    from backend.virt.fake import FakeBehaviour, FakeDriver
    img = real.call("create_image", "x[/]", visibility="public")
    real.call("upload_image", img["id"], b"\0" * 4096)
    ok = real.call("create_server", "[@click=app.quit]ubuntu[/]", img["id"], "1")[0]
    app = real.app()

    def await_status(app, sid: str, status: str) -> bool:
        return app.screen.table.servers.get(sid, {}).get("status") == status
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await admin_login(pilot)
        await wait_for(pilot, lambda: await_status(app, ok["id"], "ACTIVE"), what="ACTIVE")
        await assert_shown(pilot, "[@click=app.quit]ubuntu[/]", "x[/]")
        for h in ("fake-1", "fake-2"):
            FakeDriver.behaviours[h] = FakeBehaviour(fail_always=True, fail_message="disk [bold red] x[/]")
        bad = real.call("create_server", "[link=file:///etc/passwd]z[/link]", img["id"], "1")[0]
        await wait_for(pilot, lambda: await_status(app, bad["id"], "ERROR"), what="ERROR")
        await assert_shown(pilot, "[link=file:///etc/passwd]z[/link]")
        app.screen.table.move_cursor(row=app.screen.table.get_row_index(bad["id"]))
        app.screen.action_detail()
        await settle(pilot)
        await assert_shown(pilot, "disk [bold red] x[/] on fake-")
        await pilot.press("escape")
        app.open_list("images")
        await settle(pilot)
        await assert_shown(pilot, "x[/]")
