"""Attach a volume to an instance (`a` on the volumes list: pick the instance) and detach it
(`x`), as `openstack server add volume` / `server remove volume` do."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.format import plain


class ServerPicker(ModalScreen[str]):
    """The project's instances a volume can go to (ACTIVE or SHUTOFF); dismisses with an id."""
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, servers: list[dict]):
        super().__init__()
        self.title_text, self.servers = title, servers

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog modal"):
            yield Static(plain(self.title_text), classes="dialog-title")
            yield OptionList(*[Option(plain(f"{s['name']}  {s['status']}  {s['id'][:8]}"), id=s["id"])
                               for s in self.servers], id="servers")
            yield Static("enter choose · esc cancel", classes="dim")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.highlighted = 0 if self.servers else None
        ol.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, ev: OptionList.OptionSelected) -> None:
        self.dismiss(ev.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


async def attach(screen, volume: dict) -> None:
    """Ask which instance, then attach; the list reloads after."""
    from tui.app import FAILED
    app = screen.app
    label = volume.get("name") or volume["id"]
    if volume.get("status") != "available":
        app.notify(f"{label} is {volume.get('status')}: only an available volume can be attached",
                   severity="warning", timeout=4)
        return
    servers = await app.guard(app.adapter.call("list_servers"), "list servers")
    if servers is FAILED:
        return
    servers = [s for s in servers if s.get("status") in ("ACTIVE", "SHUTOFF") and not s.get("task_state")]
    if not servers:
        app.notify("no ACTIVE or SHUTOFF instance to attach it to", severity="warning", timeout=4)
        return

    async def go(sid: str) -> None:
        got = await app.guard(app.adapter.call("attach_volume", sid, volume["id"]), f"attach {label}")
        if got is not FAILED:
            app.notify(f"attached {label} as {got.get('device')}\nw: the openstack command and REST calls",
                       title="attach volume", timeout=4)
            screen.reload()

    def chosen(sid: str | None) -> None:
        if sid:
            screen.run_worker(go(sid), exit_on_error=False)
    app.push_screen(ServerPicker(f"Attach volume {label} to", servers), chosen)


async def detach(screen, volume: dict) -> None:
    from tui.app import FAILED
    app = screen.app
    label = volume.get("name") or volume["id"]
    attached = [a["server_id"] for a in volume.get("attachments") or [] if a.get("server_id")]
    if not attached:
        app.notify(f"{label} is not attached", severity="warning", timeout=3)
        return
    got = await app.guard(app.adapter.call("detach_volume", attached[0], volume["id"]), f"detach {label}")
    if got is not FAILED:
        app.notify(f"detached {label}\nw: the openstack command and REST calls", title="detach volume",
                   timeout=4)
        screen.reload()
