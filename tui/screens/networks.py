"""Networks, as they are wired: per network its VXLAN segment, the hosts it spans, its ports,
free addresses and routers; below, the selected network's ports with their host, MAC, IP,
status and floating IP. Both tables are keyed and live: each instance event reloads the wiring
(one reload at a time; events during one ask for one more) and only the cells that changed
are updated. What neutron shows admins only (segment, hosts, a port's host) reads "—" for
anyone else."""
from __future__ import annotations

import ipaddress

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Static

from tui import format as fmt
from tui.events import Batch
from tui.screens.resources import ResourceScreen, free_addresses
from tui.widgets.session_bar import SessionBar

HIDDEN = "—"  # not shown to this user (neutron's policy), never guessed
PORT_STYLE = {"ACTIVE": "green", "DOWN": "yellow", "BUILD": "yellow", "ERROR": "bold red"}
NET_COLUMNS = [("name", "Name"), ("shared", "Scope"), ("status", "Status"), ("subnets", "Subnets"),
               ("ports", "Ports"), ("free", "Free addresses"), ("segment", "Segment"), ("hosts", "Hosts"),
               ("routers", "Routers")]
PORT_COLUMNS = [("device", "Device"), ("owner", "Owner"), ("host", "Host"), ("mac", "MAC"), ("ip", "IP"),
                ("status", "Status"), ("floating", "Floating IP"), ("id", "Port ID")]


def segment(n: dict) -> str:
    """'vxlan 4242'; '-' before its first port is bound (the id is allocated then)."""
    if n.get("network_type") is None:
        return HIDDEN
    return f"{n['network_type']} {n['segmentation_id']}" if n.get("segmentation_id") is not None else "-"


def free_of(subnets: list[dict], ports: list[dict]) -> int:
    """Free addresses in the subnets' pools once the ports' addresses are out."""
    used = []
    for s in subnets:
        net = ipaddress.ip_network(s["cidr"], strict=False)
        used += [{"fixed_ips": [{"subnet_id": s["id"], "ip_address": ip}]}
                 for p in ports for ip in p["ip_addresses"] if ipaddress.ip_address(ip) in net]
    return sum(free_addresses(s, used) for s in subnets)


def network_cells(n: dict, subnets: list[dict]) -> list[Text]:
    ports = n["ports"]
    active = sum(1 for p in ports if p.get("status") == "ACTIVE")
    scope = ", ".join(w for w, on_ in (("shared", n.get("shared")), ("external", n.get("external"))) if on_)
    hosts = HIDDEN if n.get("hosts") is None else ", ".join(n["hosts"]) or "-"
    return [fmt.plain(n["name"], style="bold"), fmt.plain(scope or "project"),
            fmt.plain(n.get("status"), style="green" if n.get("status") == "ACTIVE" else "yellow"),
            fmt.plain(", ".join(s["cidr"] for s in subnets) or "-"),
            fmt.plain(f"{len(ports)} ({active} ACTIVE)"), fmt.plain(free_of(subnets, ports)),
            fmt.plain(segment(n)), fmt.plain(hosts),
            fmt.plain(", ".join(r["name"] or r["id"][:8] for r in n.get("routers") or []) or "-")]


def device_of(p: dict, servers: dict[str, str], routers: dict[str, str]) -> str:
    """What holds the port: the instance's or router's name, else the owner's kind."""
    owner, dev = p.get("device_owner") or "", p.get("device_id") or ""
    if owner.startswith("compute:"):
        return servers.get(dev) or dev[:8]
    if owner in ("network:router_interface", "network:router_gateway"):
        return routers.get(dev) or dev[:8]
    return {"network:dhcp": "DHCP", "network:floatingip": "floating IP"}.get(owner, dev[:8] or "-")


def port_cells(p: dict, servers: dict[str, str], routers: dict[str, str]) -> list[Text]:
    return [fmt.plain(device_of(p, servers, routers)), fmt.plain(p.get("device_owner") or "-"),
            # no host: not shown to this user (no vif_type either), or unbound
            fmt.plain(p.get("host") or (HIDDEN if p.get("vif_type") is None else "-")),
            fmt.plain(p.get("mac_address")), fmt.plain(", ".join(p.get("ip_addresses") or []) or "-"),
            fmt.plain(p.get("status"), style=PORT_STYLE.get(p.get("status") or "", "")),
            fmt.plain(p.get("floating_ip") or "-"), fmt.plain(p["id"])]


def sync_table(t: DataTable, columns: list[tuple[str, str]], rows: list[tuple[str, list[Text]]],
               shown: dict[str, list[Text]]) -> None:
    """Bring a keyed table in line with rows: new rows added, gone rows removed, and of the
    rows kept only the cells that changed updated (shown: what each row shows now)."""
    want = dict(rows)
    for key in [k for k in shown if k not in want]:
        t.remove_row(key)
        del shown[key]
    for key, cells in rows:
        old = shown.get(key)
        if old is None:
            t.add_row(*cells, key=key)
        else:
            for (col, _), was, now in zip(columns, old, cells):
                if was != now:
                    t.update_cell(key, col, now)
        shown[key] = cells


class NetworksScreen(ResourceScreen):
    DEFAULT_CSS = """
    NetworksScreen #resources { height: auto; max-height: 40%; }
    NetworksScreen #network-ports { height: 1fr; }
    """
    KIND = "networks"
    DELETE = "delete_network"
    CREATE_FIELDS = [("name", "Name", "my-net"), ("cidr", "Subnet CIDR", "10.1.0.0/24")]

    def __init__(self) -> None:
        super().__init__()
        self.wiring: dict[str, dict] = {}
        self.subnets: list[dict] = []
        self.selected: str | None = None
        self._shown: dict[str, list[Text]] = {}
        self._ports_shown: dict[str, list[Text]] = {}
        self._loading = self._again = False

    def compose(self) -> ComposeResult:
        yield SessionBar()
        yield Static("Networks", classes="screen-title", id="resource-title")
        yield DataTable(id="resources", cursor_type="row")
        yield Static("select a network to list its ports", classes="screen-title", id="network-ports-title")
        yield DataTable(id="network-ports", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        for sel, cols in (("#resources", NET_COLUMNS), ("#network-ports", PORT_COLUMNS)):
            t = self.query_one(sel, DataTable)
            for key, label in cols:
                t.add_column(label, key=key)
        self.query_one("#resources", DataTable).focus()
        self.reload()

    def reload(self) -> None:
        """Reload the wiring; while one runs, one more is asked for (events come in bursts)."""
        if self._loading:
            self._again = True
            return
        self._loading = True
        self.run_worker(self._reload(), group="networks", exit_on_error=False)

    async def _reload(self) -> None:
        from tui.app import FAILED
        try:
            while True:
                self._again = False
                a = self.app.adapter
                got = await self.app.guard(a.network_wiring(), "list networks")
                subnets = await self.app.guard(a.call("list_subnets"), "list subnets") if got is not FAILED else FAILED
                if got is FAILED or subnets is FAILED or not self.is_attached:
                    return
                self.show(got, subnets)
                if not self._again:
                    return
        finally:
            self._loading = False

    def show(self, wiring: list[dict], subnets: list[dict]) -> None:
        self.wiring, self.subnets = {n["id"]: n for n in wiring}, subnets
        rows = [(n["id"], network_cells(n, [s for s in subnets if s["network_id"] == n["id"]]))
                for n in sorted(wiring, key=lambda n: (n["name"], n["id"]))]
        sync_table(self.query_one("#resources", DataTable), NET_COLUMNS, rows, self._shown)
        self.query_one("#resource-title", Static).update(f"Networks: {len(rows)}")
        if self.selected not in self.wiring:
            self.selected = rows[0][0] if rows else None
            self._ports_shown.clear()
            self.query_one("#network-ports", DataTable).clear()
        self.show_ports()

    def show_ports(self) -> None:
        n = self.wiring.get(self.selected or "")
        title = self.query_one("#network-ports-title", Static)
        if n is None:
            title.update("no network")
            return
        routers = {r["id"]: r["name"] for r in n.get("routers") or []}
        servers = self.server_names({p["device_id"] for p in n["ports"]})
        rows = [(p["id"], port_cells(p, servers, routers)) for p in n["ports"]]
        sync_table(self.query_one("#network-ports", DataTable), PORT_COLUMNS, rows, self._ports_shown)
        line = Text()
        line.append(f"Ports of {n['name']}: {len(rows)}", style="bold")
        line.append(f"   segment {segment(n)}   spans ")
        line.append(HIDDEN if n.get("hosts") is None else ", ".join(n["hosts"]) or "no host")
        line.append(f"   id {n['id']}", style="dim")
        title.update(line)

    def server_names(self, ids: set[str]) -> dict[str, str]:
        """These instances' names, from the instances table under this screen (no call)."""
        from tui.screens.instances import InstancesScreen
        for screen in self.app.screen_stack:
            if isinstance(screen, InstancesScreen):
                views = screen.table.servers
                return {i: views[i].get("name") or i[:8] for i in ids if i in views}
        return {}

    @on(DataTable.RowHighlighted, "#resources")
    def _highlighted(self, ev: DataTable.RowHighlighted) -> None:
        key = ev.row_key.value
        if key and key != self.selected:
            self.selected = key
            self._ports_shown.clear()
            self.query_one("#network-ports", DataTable).clear()
            self.show_ports()

    def on_batch(self, batch: Batch) -> None:
        # ports follow their instances (bound, wired ACTIVE, unbound): reload on their events
        admin = bool((self.app.token or {}).get("is_admin"))
        if batch.all_servers if admin else batch.servers:
            self.reload()

    async def create(self, v: dict) -> None:
        a = self.app.adapter
        net = await a.call("create_network", v["name"])
        if v.get("cidr"):
            await a.call("create_subnet", net["id"], v["cidr"], name=f"{v['name']}-subnet")
