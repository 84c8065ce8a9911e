"""The launch as a timeline: one lane per service, each step with its start (from the first
record) and duration, a bar on a shared time axis, the running step marked."""
from __future__ import annotations

from datetime import datetime, timedelta

from rich.table import Table
from rich.text import Text

from tui.adapter import parse_ts
from tui.format import plain

LANES = ["identity", "compute API", "queue", "scheduler", "conductor", "compute", "network",
         "volume", "image", "hypervisor"]
_ALIASES = {
    "keystone": "identity", "auth": "identity",
    "api": "compute API", "compute api": "compute API", "computeapi": "compute API", "nova api": "compute API",
    "bus": "queue", "messaging": "queue", "rpc": "queue",
    "neutron": "network", "cinder": "volume", "glance": "image",
    "driver": "hypervisor", "virt": "hypervisor", "fake": "hypervisor", "qemu": "hypervisor",
}


def lane_of(record: dict) -> str:
    if record.get("kind") in ("cast", "call", "reply"):
        return "queue"
    svc = (record.get("service") or "").lower().replace("_", " ").replace("-", " ").strip()
    if svc in _ALIASES:
        return _ALIASES[svc]
    for lane in LANES:
        if svc == lane.lower():
            return lane
    return svc.split(" ")[0] if svc else "?"


def build_spans(records: list[dict], now: datetime) -> list[dict]:
    """Pair step start/end records into spans; messages become zero-length points.
    A span: {lane, label, start, end, running, kind}; times are datetimes."""
    spans: list[dict] = []
    open_: dict[tuple, dict] = {}
    calls: dict[tuple, list[dict]] = {}
    dated = [(parse_ts(r.get("ts")), r) for r in records]
    # by time, not by string: "…00Z" sorts after "…00.004Z" as text
    for ts, r in sorted((d for d in dated if d[0]), key=lambda d: (d[0], _num_id(d[1]))):
        lane = lane_of(r)
        if r.get("kind") == "step":
            key = (lane, r.get("step"), r.get("request_id"))
            if r.get("phase") == "start":
                span = {"lane": lane, "label": r.get("step") or "?", "start": ts, "end": None,
                        "running": True, "kind": "step", "detail": r.get("detail")}
                open_[key] = span
                spans.append(span)
            else:
                span = open_.pop(key, None)
                if span is None:  # an end without its start: rebuild the start from duration
                    dur = (r.get("duration_ms") or 0) / 1000
                    span = {"lane": lane, "label": r.get("step") or "?", "kind": "step",
                            "start": ts - timedelta(seconds=dur), "detail": r.get("detail")}
                    spans.append(span)
                span["end"], span["running"] = ts, False
                if r.get("detail"):
                    span["detail"] = r.get("detail")
        elif r.get("kind") == "call":  # a call is open until its reply
            span = {"lane": lane, "label": f"call {r.get('topic') or ''}.{r.get('method') or ''}",
                    "start": ts, "end": None, "running": True, "kind": "call", "detail": r.get("detail")}
            calls.setdefault((r.get("topic"), r.get("method")), []).append(span)
            spans.append(span)
        elif r.get("kind") == "reply" and calls.get((r.get("topic"), r.get("method"))):
            span = calls[(r.get("topic"), r.get("method"))].pop(0)
            span["end"], span["running"] = ts, False
        else:
            label = f"{r.get('kind')} {r.get('topic') or ''}.{r.get('method') or ''}".strip(".")
            spans.append({"lane": lane, "label": label, "start": ts, "end": ts,
                          "running": False, "kind": r.get("kind"), "detail": r.get("detail")})
    for s in spans:
        if s["end"] is None:
            s["end"] = max(now, s["start"])
    return spans


def _ms(seconds: float) -> str:
    """Sub-millisecond steps are common on the fake driver: keep a decimal there."""
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms" if ms < 10_000 else f"{seconds:.1f} s"


def _num_id(r: dict):
    i = r.get("id")
    return (0, i, "") if isinstance(i, int) else (1, 0, str(i or ""))


def _detail(d) -> str:
    if not d:
        return ""
    if isinstance(d, dict):
        return " ".join(f"{k}={v}" for k, v in d.items())
    return str(d)


def render_trace(records: list[dict], now: datetime, width: int = 36) -> Table | Text:
    if not records:
        return Text("no trace records yet", style="dim")
    spans = build_spans(records, now)
    t0 = min(s["start"] for s in spans)
    t1 = max(s["end"] for s in spans)
    total = max((t1 - t0).total_seconds(), 1e-3)
    table = Table(box=None, padding=(0, 1), expand=False, show_edge=False)
    for col, kw in (("lane", {"style": "bold", "no_wrap": True}), ("step", {"no_wrap": True}),
                    ("start", {"justify": "right"}), ("took", {"justify": "right"}),
                    ("timeline", {"no_wrap": True}), ("detail", {"style": "dim", "overflow": "fold"})):
        table.add_column(col, **kw)
    by_lane: dict[str, list[dict]] = {}
    for s in spans:
        by_lane.setdefault(s["lane"], []).append(s)
    lanes = LANES + sorted(k for k in by_lane if k not in LANES)
    for lane in lanes:
        items = by_lane.get(lane)
        if not items:
            table.add_row(plain(lane, style="dim"), Text("—", style="dim"), "", "", "", "")
            continue
        for i, s in enumerate(items):
            start = (s["start"] - t0).total_seconds()
            dur = (s["end"] - s["start"]).total_seconds()
            a = int(start / total * (width - 1))
            b = max(a + 1, int((start + dur) / total * (width - 1)) + 1)
            bar = Text(" " * a)
            if s["kind"] in ("step", "call"):
                colour = "yellow" if s["running"] else "green" if s["kind"] == "step" else "blue"
                bar.append("█" * (b - a), style=colour)
            else:
                bar.append("·", style="cyan")
            bar.append(" " * max(0, width - len(bar.plain)))
            label = plain(s["label"])
            took = Text(_ms(dur)) if s["kind"] in ("step", "call") else Text("")
            if s["running"]:
                label = Text(f"▶ {s['label']}", style="bold yellow")
                took = Text(_ms(dur) + "…", style="yellow")
            table.add_row(plain(lane if i == 0 else ""), label, "+" + _ms(start), took, bar,
                          plain(_detail(s.get("detail"))))
    return table
