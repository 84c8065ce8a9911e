"""Instance detail (enter): Flow (the default), Overview, Trace, Scheduler, Events, Console
tabs, kept live; `d` opens the states diagram."""
from __future__ import annotations

import json

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Log, Static, TabbedContent, TabPane

from tui import format as fmt
from tui.adapter import parse_ts
from tui.events import Batch
from tui.widgets.explain import render_explain
from tui.widgets.flow import FlowTree
from tui.widgets.server_table import is_gone
from tui.widgets.session_bar import SessionBar
from tui.widgets.trace import render_trace

TABS = ["flow", "overview", "trace", "scheduler", "events", "console"]
OVERVIEW_ORDER = ["id", "name", "status", "vm_state", "task_state", "power_state", "power_state_name",
                  "host", "availability_zone", "flavor", "image", "addresses", "boot_volume_id",
                  "volumes_attached", "project_id", "user_id", "hostname", "reservation_id",
                  "created", "updated", "launched_at", "terminated_at", "metadata"]


def render_ports(s: dict, ports: list[dict]) -> Text:
    """One line per port: network, IP, MAC, status (neutron's: ACTIVE once its host wired it)
    and the floating IP the server's addresses map to it (OS-EXT-IPS:type floating)."""
    nets = {a.get("mac"): net for net, addrs in (s.get("addresses") or {}).items() for a in addrs}
    floating = {a.get("mac"): a["addr"] for addrs in (s.get("addresses") or {}).values() for a in addrs
                if a.get("type") == "floating"}
    out = Text()
    for p in sorted(ports, key=lambda p: (nets.get(p["mac_address"]) or "", p["id"])):
        if out:
            out.append("\n")
        ips = ", ".join(ip["ip_address"] for ip in p.get("fixed_ips") or []) or "-"
        out.append(f"{nets.get(p['mac_address']) or p.get('network_id')}: {ips}  {p['mac_address']}  ")
        status = p.get("status") or "?"
        out.append(status, style={"ACTIVE": "green", "DOWN": "yellow", "ERROR": "bold red"}.get(status, ""))
        out.append(f"  floating {floating.get(p['mac_address']) or '-'}")
    return out or Text("-")


def render_overview(s: dict, ports: list[dict] | None = None) -> Group:
    """ports: the server's ports (list_ports by device_id); None: not read yet."""
    t = Table(box=None, show_header=False, padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    keys = OVERVIEW_ORDER + sorted(k for k in s if k not in OVERVIEW_ORDER and k != "fault")
    for k in keys:
        if k not in s or (k not in OVERVIEW_ORDER and s[k] is None):
            continue  # optional fields (access IPs, key pair) only when set
        v = s[k]
        if k == "flavor" and isinstance(v, dict):
            v = f"{v.get('name')} ({v.get('vcpus')} vCPU, {v.get('ram')} MB, {v.get('disk')} GB)"
        elif k == "image" and isinstance(v, dict):
            v = f"{v.get('name')} ({v.get('id')})"
        elif k == "addresses":
            v = "; ".join(f"{net}: " + ", ".join(f"{a['addr']} ({a.get('mac', '')})" + (
                " floating" if a.get("type") == "floating" else "") for a in addrs)
                          for net, addrs in (v or {}).items()) or "-"
        elif isinstance(v, (dict, list)):
            v = json.dumps(v) if v else "-"
        style = fmt.STATUS_STYLE.get(str(v), "") if k == "status" else ""
        t.add_row(fmt.plain(k), fmt.plain(fmt.dash(v), style=style))
        if k == "addresses" and ports is not None:
            t.add_row(fmt.plain("ports"), render_ports(s, ports))
    parts = [t]
    fault = s.get("fault")
    if fault:
        body = Text()
        body.append(f"{fault.get('code')}  {fault.get('message')}\n", style="bold")
        if fault.get("host"):
            body.append(f"host {fault['host']}  ")
        body.append(f"at {fault.get('created') or '?'}\n", style="dim")
        if fault.get("details"):
            body.append(str(fault["details"]))
        parts.append(Panel(body, title="fault", border_style="red", title_align="left"))
    return Group(*parts)


def render_actions(actions: list[dict], event_show=None) -> Table | Group | Text:
    """Every action on the instance, from any client, with its user and request id;
    event_show(request_id) -> the `openstack server event show` line that shows it."""
    if not actions:
        return Text("no actions recorded", style="dim")
    t = Table(box=None, padding=(0, 1), show_edge=False)
    for c in ("action / event", "request / host", "user", "start", "finish", "result / message"):
        t.add_column(c, no_wrap=c != "result / message")
    p = fmt.plain
    for a in actions:
        t.add_row(p(a["action"], style="bold"), p(a.get("request_id")), p(a.get("user_id")),
                  p(a.get("start_time")), p(a.get("finish_time")), p(a.get("message")))
        for e in a.get("events") or []:
            res = e.get("result") or "running"
            style = {"Success": "green", "Error": "red"}.get(res, "yellow")
            t.add_row(p(f"  {e['event']}"), p(e.get("host")), "", p(e.get("start_time")),
                      p(e.get("finish_time")), p(res + (f"  {e['details']}" if e.get("details") else ""),
                                                 style=style))
    if not event_show:
        return t
    see = Text("\nwith the openstack CLI:\n", style="bold")
    for a in actions:
        if a.get("request_id"):
            see.append(f"{a['action']:<14}", style="dim")
            see.append(f"$ {event_show(a['request_id'])}\n", style="cyan")
    return Group(t, see)


class DetailScreen(Screen):
    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("f", "tab('flow')", "Flow"),
        Binding("1", "tab('overview')", "Overview"),
        Binding("2", "tab('trace')", "Trace"),
        Binding("3", "tab('scheduler')", "Scheduler"),
        Binding("4", "tab('events')", "Events"),
        Binding("5", "tab('console')", "Console"),
        Binding("s", "act('stop')", "Stop", show=False),
        Binding("u", "act('start')", "Start", show=False),
        Binding("r", "act('reboot')", "Reboot", show=False),
        Binding("R", "act('reboot_hard')", "Hard reboot", show=False),
        Binding("ctrl+d", "act('delete')", "Delete"),
        Binding("a", "trace_all", "Trace: launch/all", show=False),
        Binding("d", "states", "States diagram"),
        Binding("c", "attach_console", "Attach console", show=False),
        Binding("question_mark", "explain", "Explain the states / help", key_display="?", show=False),
    ]

    def __init__(self, server: dict, tab: str = "flow"):
        super().__init__()
        self.server = server
        self.sid = server["id"]
        self.first_tab = tab if tab in TABS else "flow"
        self.traces: dict = {}          # trace id -> record (events and the listing overlap)
        self.console_text: str | None = None
        self.trace_all = False          # the Trace tab shows the launch request unless asked
        self._running = False           # a step of the shown trace is still open
        self.ports: list[dict] | None = None  # the server's ports (Overview), once read

    def compose(self) -> ComposeResult:
        yield SessionBar()
        yield Static(id="detail-title")
        with TabbedContent(initial=self.first_tab):
            with TabPane("Flow", id="flow"):
                yield FlowTree(id="flow-tree")
            with TabPane("Overview", id="overview"):
                with VerticalScroll():
                    yield Static(id="overview-body")
            with TabPane("Trace", id="trace"):
                with VerticalScroll():
                    yield Static(id="trace-body")
            with TabPane("Scheduler", id="scheduler"):
                with VerticalScroll():
                    yield Static(id="scheduler-body")
            with TabPane("Events", id="events"):
                with VerticalScroll():
                    yield Static(id="events-body")
            with TabPane("Console", id="console"):
                yield Log(id="console-body", highlight=False, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.show_server()
        self.load_all()
        if self.app.console_follow:
            self.set_interval(self.app.console_follow, self.follow_console)
            self.set_interval(0.5, self.tick_trace)

    @work(group="detail-load", exit_on_error=False)
    async def load_all(self) -> None:
        from tui.app import FAILED
        app, a = self.app, self.app.adapter
        s = await app.guard(a.call("get_server", self.sid), "get server")
        if s is not FAILED:
            self.server = s
            self.show_server()
        await self.load_ports()
        await self.load_flow()
        tr = await app.guard(a.call("get_trace", self.sid), "trace")
        if tr is not FAILED:
            for r in tr:
                self.traces[r.get("id") or id(r)] = r
            self.show_trace()
        await self.load_explain()
        await self.load_events()
        if self.first_tab == "console":
            await self.follow_console()

    async def load_flow(self) -> None:
        from tui.app import FAILED
        got = await self.app.guard(self.app.adapter.call("get_flow", self.sid), "flow")
        if got is not FAILED and self.is_attached:
            self.query_one(FlowTree).show(got, self.app.clock())

    async def load_ports(self) -> None:
        """Its ports' status and floating IPs (a port goes ACTIVE once its host wired it)."""
        from tui.app import FAILED
        got = await self.app.guard(self.app.adapter.call("list_ports", filters={"device_id": self.sid}), "ports")
        if got is not FAILED and self.is_attached:
            self.ports = got
            self.show_server()

    async def reload_details(self) -> None:
        from tui.app import FAILED
        await self.load_flow()
        tr = await self.app.guard(self.app.adapter.call("get_trace", self.sid), "trace")
        if tr is not FAILED:
            self.traces = {r.get("id") or i: r for i, r in enumerate(tr)}
            self.show_trace()
        await self.load_events()

    async def load_explain(self) -> None:
        from tui.app import FAILED
        got = await self.app.guard(self.app.adapter.call("explain_server", self.sid), "explain")
        if got is not FAILED:
            self.query_one("#scheduler-body", Static).update(render_explain(got))

    async def load_events(self) -> None:
        from tui.app import FAILED
        app, a = self.app, self.app.adapter
        actions = await app.guard(a.call("list_instance_actions", self.sid), "instance actions")
        if actions is FAILED:
            return
        full = []
        for act in actions:
            one = await app.guard(a.call("get_instance_action", self.sid, act["request_id"]), "action")
            full.append(act if one is FAILED else one)
        from tui.whathappened import event_show
        if not self.is_attached:  # the screen went away while the actions were read
            return
        self.query_one("#events-body", Static).update(
            render_actions(full, lambda rid: event_show(a.journal, self.sid, rid)))

    async def follow_console(self) -> None:
        """No console event exists, so the open Console tab polls it (only while shown)."""
        # a timer tick can land while the app is closing: no screen stack, no widgets
        if not self.is_attached or not self.app.screen_stack or self.app.screen is not self \
                or is_gone(self.server):
            return
        if self.query_one(TabbedContent).active != "console":
            return  # read only while shown: each read is a round trip to the host
        try:
            text = await self.app.adapter.call("get_console_output", self.sid)
        except Exception as e:
            if not self.is_attached:  # the screen went away while we waited
                return
            if self.console_text is None:
                self.query_one("#console-body", Log).write_line(
                    f"(console unavailable: {getattr(e, 'message', e)})")
                self.console_text = ""
            return
        if not self.is_attached:  # the screen went away while the host answered
            return
        log = self.query_one("#console-body", Log)
        old = self.console_text or ""
        if old and text.startswith(old):
            new = text[len(old):]
        else:  # first read, or the log was rotated/replaced
            log.clear()
            new = text
        if new:
            log.write(new)
        self.console_text = text

    # ---- live ---------------------------------------------------------------------------
    def on_batch(self, batch: Batch) -> None:
        s = batch.servers.get(self.sid)
        if s is not None:
            was = self.server.get("status"), self.server.get("task_state")
            self.server = s
            self.show_server()
            self.run_worker(self.load_ports(), group="detail-ports", exclusive=True)
            if was[0] == "BUILD" and s.get("status") != "BUILD":
                self.run_worker(self.load_explain(), group="detail-explain", exclusive=True)
            if not self.app.adapter.pushes_details and was != (s.get("status"), s.get("task_state")):
                # over --url only instance changes are seen: fetch the rest when one comes
                self.run_worker(self.reload_details(), group="detail-poll", exclusive=True)
        mine = [t for t in batch.traces if t.get("instance_uuid") == self.sid]
        if mine:
            for r in mine:
                self.traces[r.get("id") or id(r)] = r
            self.show_trace()
        if any(a.get("instance_uuid") == self.sid for a in batch.actions):
            self.run_worker(self.load_events(), group="detail-events", exclusive=True)
        if self.app.adapter.pushes_details and (s is not None or mine or any(
                a.get("instance_uuid") == self.sid for a in batch.actions)):
            self.run_worker(self.load_flow(), group="detail-flow", exclusive=True)

    def show_server(self) -> None:
        s = self.server
        title = Text()
        title.append(s.get("name") or s["id"], style="bold")
        status = fmt.status_text(s) if not is_gone(s) else "DELETED"
        title.append(f"  {status}", style=fmt.STATUS_STYLE.get(s.get("status") or "", ""))
        title.append(f"  {s['id']}", style="dim")
        self.query_one("#detail-title", Static).update(title)
        self.query_one("#overview-body", Static).update(render_overview(s, self.ports))

    def show_trace(self) -> None:
        records = list(self.traces.values())
        if records and not self.trace_all:
            # later requests (console reads, reboots) would stretch the launch's time axis
            first = min(records, key=lambda r: (parse_ts(r.get("ts")) or self.app.clock()))
            records = [r for r in records if r.get("request_id") == first.get("request_id")]
        self.query_one("#trace-body", Static).update(render_trace(records, self.app.clock()))
        # a step is still open if it has a start and no end of the same step and request
        ends = {(r.get("service"), r.get("step"), r.get("request_id")) for r in records
                if r.get("kind") == "step" and r.get("phase") == "end"}
        self._running = any(r.get("kind") == "step" and r.get("phase") == "start"
                            and (r.get("service"), r.get("step"), r.get("request_id")) not in ends
                            for r in records)

    def tick_trace(self) -> None:
        """While a step runs, its bar grows with the clock."""
        if self.query_one(TabbedContent).active == "flow":
            self.query_one(FlowTree).tick(self.app.clock())
        if self.query_one(TabbedContent).active == "trace" and self._running:
            self.show_trace()

    def action_trace_all(self) -> None:
        self.trace_all = not self.trace_all
        self.show_trace()
        self.notify("trace: every request" if self.trace_all else "trace: the launch only", timeout=2)

    # ---- keys ---------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "console":
            self.run_worker(self.follow_console(), group="console", exclusive=True)

    def action_explain(self) -> None:
        """`?` on the flow or the overview explains the instance's state values; elsewhere the key help."""
        if self.query_one(TabbedContent).active in ("flow", "overview"):
            from tui.screens.glossary import explain_server
            explain_server(self.app, self.server)
        else:
            self.app.action_help()

    def action_attach_console(self) -> None:
        """On the Console tab: the serial console, attached (keys go to the guest)."""
        if self.query_one(TabbedContent).active != "console":
            self.notify("c attaches on the Console tab (5)", timeout=3)
            return
        from tui.screens.console import ConsoleScreen
        self.app.push_screen(ConsoleScreen(self.server))

    def action_states(self) -> None:
        from tui.screens.states import StatesScreen
        self.app.push_screen(StatesScreen(self.server))

    def action_act(self, action: str) -> None:
        from tui.screens.instances import run_action
        run_action(self.app, self.server, action)
