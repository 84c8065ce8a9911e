"""Hosts: up/down, accelerator, vCPU/RAM/disk used against capacity × ratio as bars, instance
count; the selected host's instances below. Host rows follow pushed host events."""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui import format as fmt
from tui.events import Batch
from tui.widgets.server_table import ServerTable
from tui.widgets.session_bar import SessionBar

HOST_COLUMNS = [("name", "Host"), ("state", "State"), ("status", "Status"), ("az", "AZ"),
                ("accel", "Accel"), ("vcpus", "vCPU used/cap×ratio"), ("ram", "RAM MB"),
                ("disk", "Disk GB"), ("vms", "VMs"), ("driver", "Driver")]


def host_cells(h: dict) -> list:
    up = h.get("state") == "up"
    state = fmt.plain(h.get("state") or "?", style="green" if up else "bold red")
    if not up and h.get("down_reason"):
        state.append(f" ({h['down_reason']})", style="red")
    return [
        fmt.plain(h["name"], style="bold" if up else "red"),
        state,
        fmt.plain(h.get("status"), style="" if h.get("status") == "enabled" else "yellow"),
        fmt.plain(h.get("availability_zone")),
        fmt.plain(h.get("accelerator")),
        fmt.bar(h.get("vcpus_used", 0), h.get("vcpus", 0) * (h.get("cpu_allocation_ratio") or 1)),
        fmt.bar(h.get("memory_mb_used", 0), h.get("memory_mb", 0) * (h.get("ram_allocation_ratio") or 1)),
        fmt.bar(h.get("disk_gb_used", 0), h.get("disk_gb", 0) * (h.get("disk_allocation_ratio") or 1)),
        fmt.plain(h.get("running_vms", 0)),
        fmt.plain(h.get("driver") or h.get("hypervisor_type")),
    ]


class HostsScreen(Screen):
    BINDINGS = [Binding("escape,q", "back", "Back"), Binding("ctrl+r", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.hosts: dict[str, dict] = {}
        self.selected: str | None = None

    def compose(self) -> ComposeResult:
        yield SessionBar()
        yield Static("Hosts", classes="screen-title")
        yield DataTable(id="hosts", cursor_type="row")
        yield Static("select a host to list its instances", id="host-instances-title",
                     classes="screen-title")
        yield ServerTable(self.app.clock, self.app.highlight_seconds, id="host-servers")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one("#hosts", DataTable)
        for key, label in HOST_COLUMNS:
            t.add_column(label, key=key)
        t.focus()
        self.reload()

    @work(exclusive=True, group="hosts", exit_on_error=False)
    async def reload(self) -> None:
        from tui.app import FAILED
        got = await self.app.guard(self.app.adapter.call("list_hypervisors"), "list hosts")
        if got is FAILED:
            return
        t = self.query_one("#hosts", DataTable)
        t.clear()
        self.hosts = {h["name"]: h for h in got}
        for h in sorted(got, key=lambda h: h["name"]):
            t.add_row(*host_cells(h), key=h["name"])
        if got and self.selected is None:
            self.show_host(sorted(self.hosts)[0])

    def action_reload(self) -> None:
        self.reload()

    def on_batch(self, batch: Batch) -> None:
        t = self.query_one("#hosts", DataTable)
        for name, h in batch.hosts.items():
            cells = host_cells(h)
            if name in self.hosts:
                for (key, _), cell in zip(HOST_COLUMNS, cells):
                    t.update_cell(name, key, cell)
            else:
                t.add_row(*cells, key=name)
            self.hosts[name] = h
        if self.selected:
            admin = bool((self.app.token or {}).get("is_admin"))
            changed = batch.all_servers if admin else batch.servers
            mine = {k: (v if v.get("host") == self.selected else None) for k, v in changed.items()}
            self.query_one("#host-servers", ServerTable).apply(mine)

    @on(DataTable.RowHighlighted, "#hosts")
    def _highlighted(self, ev: DataTable.RowHighlighted) -> None:
        if ev.row_key.value and ev.row_key.value != self.selected:
            self.show_host(ev.row_key.value)

    def show_host(self, name: str) -> None:
        self.selected = name
        self.load_instances(name)

    @work(exclusive=True, group="host-servers", exit_on_error=False)
    async def load_instances(self, name: str) -> None:
        from tui.app import FAILED
        admin = bool((self.app.token or {}).get("is_admin"))
        got = await self.app.guard(self.app.adapter.call(
            "list_servers", all_projects=admin, filters={"host": name}), "list instances")
        if got is FAILED:
            return
        self.query_one("#host-servers", ServerTable).load(got)
        self.query_one("#host-instances-title", Static).update(fmt.plain(f"Instances on {name}: {len(got)}"))

    def action_back(self) -> None:
        self.app.pop_screen()
