"""The Flow tab: the launch as the seed's six steps (facade `get_flow`), one tree node per
step with its services, queues, start, duration and the instance's states; the running step
marked, a failed one red with its fault; the raw bus messages folded under their step
(enter or space on "messages" unfolds them)."""
from __future__ import annotations

import textwrap
from datetime import datetime

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.format import plain

ICON = {"done": ("✓", "green"), "running": ("▶", "bold yellow"), "failed": ("✗", "bold red"),
        "pending": ("·", "dim"), "skipped": ("–", "dim"), "unrecorded": ("?", "dim")}
POWER = {0: "NOSTATE", 1: "Running", 3: "Paused", 4: "Shutdown", 6: "Crashed", 7: "Suspended"}


def ms(value: float | None) -> str:
    """Sub-millisecond steps are common on the fake driver: keep decimals there."""
    if value is None:
        return ""
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def state_text(s: dict) -> str:
    p = s.get("power_state")
    return f"{s.get('vm_state')} / {s.get('task_state')} / {POWER.get(p, p)}"


def duration(step: dict, now: datetime) -> float | None:
    """A running step grows with the clock."""
    if step["status"] == "running" and step.get("start") is not None:
        return max(step.get("duration_ms") or 0, (now.timestamp() - step["start"]) * 1000)
    return step.get("duration_ms")


def step_label(step: dict, now: datetime) -> Text:
    icon, style = ICON.get(step["status"], ("?", ""))
    t = Text()
    t.append(f"{icon} {step['number']}  ", style=style)
    t.append(plain(step["title"], style="bold red" if step["status"] == "failed" else "bold"))
    t.append(f"  {step['status']}", style=style)
    if step.get("offset_ms") is not None:
        t.append(f"  at +{ms(step['offset_ms'])}", style="dim")
        took = ms(duration(step, now))
        t.append(f"  took {took}{'…' if step['status'] == 'running' else ''}",
                 style="yellow" if step["status"] == "running" else "")
    if step.get("services"):
        t.append("  ")
        t.append(plain(", ".join(step["services"]), style="cyan"))
    return t


def wrapped(label: str, text: str, style: str = "red") -> list[Text]:
    """A tree line does not wrap: a long text (the scheduler's reasons) in pieces."""
    parts = textwrap.wrap(str(text), 110) or [""]
    return [Text.assemble((label, f"bold {style}"), plain(parts[0], style=style))] + \
        [Text.assemble(" " * len(label), plain(p, style=style)) for p in parts[1:]]


def head_label(flow: dict) -> Text:
    icon, style = ICON.get(flow.get("status"), ("·", "dim"))
    t = Text(f"{icon} launch {flow.get('status')}", style=style)
    if flow.get("current_step"):
        t.append(f"  (step {flow['current_step']} running)", style="yellow")
    if flow.get("request_id"):
        t.append("  request ", style="dim")
        t.append(plain(flow["request_id"]))
    t.append("   (space or enter on a step's messages unfolds them)", style="dim")
    return t


def head_lines(flow: dict) -> list[Text]:
    """The instance's fault, when no step of the trace carries it."""
    steps = flow.get("steps") or []
    if flow.get("fault") and not any(st["status"] == "failed" for st in steps):
        return wrapped("fault: ", flow["fault"])
    if steps and all(st["status"] == "unrecorded" for st in steps):
        return [Text("no trace was kept for this launch", style="dim")]
    return []


def token_lines(tok: dict | None) -> list[Text]:
    if not tok:
        return []
    if tok.get("user") is None:  # recorded before the token's details were kept
        return [plain(f"token: {tok.get('detail') or '?'}")]
    out = [Text.assemble(("token of user ", "dim"), plain(tok["user"], style="bold"),
                         (" on project ", "dim"), plain(tok.get("project"), style="bold"),
                         (" with roles ", "dim"), plain(", ".join(tok.get("roles") or []) or "-"))]
    out.append(Text.assemble(("scoped at ", "dim"), plain(tok.get("scoped_at") or "?"),
                             (", validated by ", "dim"), plain(tok.get("validated_by") or "?"),
                             (f" in {ms(tok['validate_ms'])}" if tok.get("validate_ms") is not None else "", "dim")))
    return out


def detail_lines(step: dict, flow: dict) -> list[Text]:
    """The lines under a step (not its messages)."""
    out = token_lines(flow.get("token")) if step["number"] == 1 else []
    if step.get("queues"):
        out.append(Text.assemble(("queues: ", "dim"), plain(", ".join(step["queues"]))))
    if step.get("states"):
        line = Text("states: ", style="dim")
        for i, s in enumerate(step["states"]):
            if i:
                line.append(" → ", style="dim")
            line.append(plain(state_text(s)))
        out.append(line)
    if step.get("events"):
        line = Text("events: ", style="dim")
        for i, e in enumerate(step["events"]):
            if i:
                line.append(", ", style="dim")
            res = e.get("result") or "running"
            line.append(plain(e.get("event"), style={"Success": "green", "Error": "red"}.get(res, "yellow")))
        out.append(line)
    runs = step.get("runs") or []
    if len(runs) > 1 or any(r.get("status") == "failed" for r in runs[:-1]):
        for r in runs:
            line = Text.assemble((f"attempt {r['attempt']}", "dim"))
            if r.get("host"):
                line.append(" on ", style="dim")
                line.append(plain(r["host"]))
            line.append(f": {r['status']} in {ms(r.get('duration_ms'))}",
                        style="red" if r["status"] == "failed" else "")
            if r.get("fault") and r["status"] == "failed":
                line.append("  ")
                line.append(plain(r["fault"], style="red"))
            out.append(line)
    if step["status"] == "failed" and step.get("fault"):
        out += wrapped("fault: ", step["fault"])
    return out


def message_label(m: dict, t0: float | None) -> Text:
    at = f"+{ms(((m.get('ts') or 0) - t0) * 1000)}" if t0 is not None and m.get("ts") else ""
    what = m.get("kind") or "?"
    if what in ("cast", "call", "reply"):
        name = f"{m.get('topic') or ''}.{m.get('method') or ''}"
    elif what == "state":  # a state change written to the database
        name = f"saved in nova-db: {m.get('detail') or '?'}"
        m = dict(m, detail=None)
    else:
        name = " ".join(x for x in (m.get("service"), m.get("step"), m.get("phase")) if x)
    t = Text(f"{at:>11}  ", style="dim")
    t.append(f"{what:<5} ", style="cyan" if what in ("cast", "call", "reply") else "")
    t.append(plain(name))
    if m.get("detail"):
        t.append("  ")
        t.append(plain(m["detail"], style="dim"))
    return t


class FlowTree(Tree):
    """A head node (the launch's status, request id, a fault no step carries) and six step
    nodes, kept (not rebuilt) across updates so what the user unfolded stays."""

    def __init__(self, **kw) -> None:
        super().__init__(Text("launch"), **kw)
        self.show_root = False
        self.guide_depth = 3
        self.flow: dict | None = None
        self._shown: dict[int, tuple] = {}

    def show(self, flow: dict, now: datetime) -> None:
        self.flow = flow
        steps = flow.get("steps") or []
        nodes = list(self.root.children)
        if len(nodes) != len(steps) + 1:
            self.root.remove_children()
            self._shown.clear()
            nodes = [self.root.add(Text(""), expand=True) for _ in range(len(steps) + 1)]
        head, nodes = nodes[0], nodes[1:]
        head.set_label(head_label(flow))
        lines = head_lines(flow)
        if self._shown.get(0) != tuple(str(x) for x in lines):
            head.remove_children()
            for line in lines:
                head.add_leaf(line)
            self._shown[0] = tuple(str(x) for x in lines)
        head.allow_expand = bool(head.children)
        for node, step in zip(nodes, steps):
            node.set_label(step_label(step, now))
            lines = detail_lines(step, flow)
            key = (tuple(str(x) for x in lines), len(step.get("messages") or []))
            if self._shown.get(step["number"]) != key:
                self._fill(node, step, lines, flow.get("started_at"))
                self._shown[step["number"]] = key
            node.allow_expand = bool(node.children)

    @staticmethod
    def _fill(node: TreeNode, step: dict, lines: list[Text], t0: float | None) -> None:
        folded = next((c for c in node.children if c.data == "messages"), None)
        unfolded = folded is not None and folded.is_expanded
        node.remove_children()
        for line in lines:
            node.add_leaf(line)
        msgs = step.get("messages") or []
        if msgs:
            bus = sum(1 for m in msgs if m.get("kind") in ("cast", "call", "reply"))
            other = len(msgs) - bus
            head = Text(f"messages: {bus} on the bus, {other} other record{'' if other == 1 else 's'}",
                        style="dim")
            group = node.add(head, data="messages", expand=unfolded)
            for m in msgs:
                group.add_leaf(message_label(m, t0))

    def tick(self, now: datetime) -> None:
        """Only the running step's duration moves with the clock."""
        if self.flow is None:
            return
        for node, step in zip(self.root.children[1:], self.flow.get("steps") or []):
            if step["status"] == "running":
                node.set_label(step_label(step, now))
