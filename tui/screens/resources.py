"""Images, flavors and volumes: one list screen each, with create and delete where the API
allows (networks, wired and live: tui/screens/networks.py)."""
from __future__ import annotations

import ipaddress
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Static

from tui import format as fmt
from tui.widgets.session_bar import SessionBar


class FormModal(ModalScreen[dict]):
    """A small form: fields [(id, label, placeholder)] -> {id: value} or None."""
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[tuple[str, str, str]]):
        super().__init__()
        self.title_text, self.fields = title, fields

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog modal"):
            yield Static(self.title_text, classes="dialog-title")
            for fid, label, ph in self.fields:
                yield Label(label)
                yield Input(placeholder=ph, id=f"f-{fid}")
            with Horizontal(classes="buttons"):
                yield Button("Create", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss({fid: self.query_one(f"#f-{fid}", Input).value.strip() for fid, _, _ in self.fields})

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ResourceScreen(Screen):
    KIND = ""
    COLUMNS: list[tuple[str, str]] = []
    DELETE: str | None = None       # facade method, when deleting is allowed
    CREATE_FIELDS: list[tuple[str, str, str]] = []
    BINDINGS = [Binding("escape,q", "back", "Back"), Binding("ctrl+r", "reload", "Reload"),
                Binding("n", "create", "Create"), Binding("ctrl+d", "delete", "Delete")]

    def compose(self) -> ComposeResult:
        yield SessionBar()
        yield Static(self.KIND.capitalize(), classes="screen-title", id="resource-title")
        yield DataTable(id="resources", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        for key, label in self.COLUMNS:
            t.add_column(label, key=key)
        t.focus()
        self.reload()

    async def fetch(self) -> list[tuple[str, list]]:
        """[(row key, cells)]; raises CloudError."""
        raise NotImplementedError

    async def create(self, values: dict) -> None:
        raise NotImplementedError

    @work(exclusive=True, group="resources", exit_on_error=False)
    async def reload(self) -> None:
        from tui.app import FAILED
        rows = await self.app.guard(self.fetch(), f"list {self.KIND}")
        if rows is FAILED:
            return
        t = self.query_one(DataTable)
        t.clear()
        for key, cells in rows:
            t.add_row(*fmt.plain_row(cells), key=key)
        self.query_one("#resource-title", Static).update(f"{self.KIND.capitalize()}: {len(rows)}")

    def action_reload(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_create(self) -> None:
        if not self.CREATE_FIELDS:
            self.notify(f"{self.KIND} cannot be created here", severity="warning")
            return

        def done(values: dict | None) -> None:
            if values:
                self.run_worker(self._create(values), exit_on_error=False)
        self.app.push_screen(FormModal(f"Create {self.KIND[:-1]}", self.CREATE_FIELDS), done)

    async def _create(self, values: dict) -> None:
        from tui.app import FAILED
        if await self.app.guard(self.create(values), f"create {self.KIND[:-1]}") is not FAILED:
            self.notify(f"created {values.get('name') or ''}".strip(), timeout=3)
            self.reload()

    def action_delete(self) -> None:
        from tui.screens.modals import ConfirmModal
        t = self.query_one(DataTable)
        if not self.DELETE or not t.row_count:
            self.notify("nothing to delete here", severity="warning")
            return
        key = t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
        label = t.get_row(key)[0].plain

        async def go() -> None:
            from tui.app import FAILED
            if await self.app.guard(self.app.adapter.call(self.DELETE, key), f"delete {label}") is not FAILED:
                self.notify(f"deleted {label}", timeout=3)
                self.reload()

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(go(), exit_on_error=False)
        self.app.push_screen(ConfirmModal(f"Delete {self.KIND[:-1]} {label}?", f"id {key}",
                                          confirm_label="Delete"), answered)


class ImagesScreen(ResourceScreen):
    KIND = "images"
    COLUMNS = [("name", "Name"), ("status", "Status"), ("format", "Format"), ("size", "Size"),
               ("visibility", "Visibility"), ("min", "min RAM/disk"), ("id", "ID")]
    DELETE = "delete_image"
    CREATE_FIELDS = [("name", "Name", "my-image"), ("path", "File to upload", "/path/to/disk.img"),
                     ("disk_format", "Disk format (raw, qcow2)", "raw")]

    async def fetch(self):
        imgs = await self.app.adapter.call("list_images")
        return [(i["id"], [i["name"], i["status"], i.get("disk_format") or "",
                           _size(i.get("size")), i.get("visibility") or "",
                           f"{i.get('min_ram', 0)} MB / {i.get('min_disk', 0)} GB", i["id"]])
                for i in sorted(imgs, key=lambda i: i["name"])]

    async def create(self, v: dict) -> None:
        path = Path(v["path"]).expanduser()
        if not path.is_file():
            from backend.core.errors import BadRequest
            raise BadRequest(f"no such file: {path}")
        img = await self.app.adapter.call("create_image", v["name"], disk_format=v["disk_format"] or "raw")
        await self.app.adapter.call("upload_image", img["id"], path)


class FlavorsScreen(ResourceScreen):
    KIND = "flavors"
    COLUMNS = [("name", "Name"), ("vcpus", "vCPU"), ("ram", "RAM MB"), ("disk", "Disk GB"),
               ("public", "Public"), ("id", "ID")]
    DELETE = "delete_flavor"
    CREATE_FIELDS = [("name", "Name", "m1.custom"), ("vcpus", "vCPUs", "1"),
                     ("ram", "RAM (MB)", "256"), ("disk", "Disk (GB)", "1")]

    async def fetch(self):
        fl = await self.app.adapter.call("list_flavors")
        return [(f["id"], [f["name"], str(f["vcpus"]), str(f["ram"]), str(f["disk"]),
                           "yes" if f.get("is_public", True) else "no", f["id"]])
                for f in sorted(fl, key=lambda f: (f["vcpus"], f["ram"], f["name"]))]

    async def create(self, v: dict) -> None:
        from backend.core.errors import BadRequest
        try:
            vcpus, ram, disk = int(v["vcpus"]), int(v["ram"]), int(v["disk"] or 0)
        except ValueError:
            raise BadRequest("vCPUs, RAM and disk must be whole numbers") from None
        await self.app.adapter.call("create_flavor", v["name"], vcpus, ram, disk)


def free_addresses(subnet: dict, ports: list[dict]) -> int:
    """Addresses left in the subnet's allocation pools once the ports' fixed IPs are out."""
    pools = subnet.get("allocation_pools") or []
    used = {ip["ip_address"] for p in ports for ip in p.get("fixed_ips") or []
            if ip.get("subnet_id") == subnet["id"]}
    free = 0
    for pool in pools:
        a, b = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        size = int(b) - int(a) + 1
        taken = sum(1 for u in used if a <= ipaddress.ip_address(u) <= b)
        free += max(0, size - taken)
    return free


class VolumesScreen(ResourceScreen):
    KIND = "volumes"
    COLUMNS = [("name", "Name"), ("status", "Status"), ("size", "Size GB"), ("bootable", "Bootable"),
               ("attached", "Attached to"), ("host", "Host"), ("id", "ID")]
    DELETE = "delete_volume"
    CREATE_FIELDS = [("name", "Name", "data-1"), ("size", "Size (GB)", "1")]
    BINDINGS = [Binding("a", "attach", "Attach"), Binding("x", "detach", "Detach")]
    vols: dict[str, dict] = {}

    async def fetch(self):
        vols = await self.app.adapter.call("list_volumes")
        self.vols = {v["id"]: v for v in vols}
        return [(v["id"], [v.get("name") or "", v["status"], str(v["size"]),
                           "yes" if v.get("bootable") else "no",
                           ", ".join(a["server_id"][:8] for a in v.get("attachments") or []) or "-",
                           v.get("host") or "", v["id"]])
                for v in sorted(vols, key=lambda v: (v.get("name") or "", v["id"]))]

    async def create(self, v: dict) -> None:
        from backend.core.errors import BadRequest
        if not v.get("size", "").isdigit():
            raise BadRequest("size must be a whole number of GB")
        await self.app.adapter.call("create_volume", int(v["size"]), name=v.get("name") or "")

    def _selected(self) -> dict | None:
        t = self.query_one(DataTable)
        if not t.row_count:
            return None
        return self.vols.get(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value)

    def action_attach(self) -> None:
        from tui.screens.volume_attach import attach
        if v := self._selected():
            self.run_worker(attach(self, v), exit_on_error=False)

    def action_detach(self) -> None:
        from tui.screens.volume_attach import detach
        if v := self._selected():
            self.run_worker(detach(self, v), exit_on_error=False)


def _size(n) -> str:
    if not n:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _networks() -> Screen:
    from tui.screens.networks import NetworksScreen  # it builds on ResourceScreen above
    return NetworksScreen()


def __getattr__(name: str):
    if name == "NetworksScreen":
        from tui.screens.networks import NetworksScreen
        return NetworksScreen
    raise AttributeError(name)


SCREENS = {"images": ImagesScreen, "flavors": FlavorsScreen, "networks": _networks,
           "volumes": VolumesScreen}
