"""The scheduler's decisions for one instance: which filter removed which host and why,
the weights of the hosts that passed, the chosen host and the alternates."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tui.format import plain


def render_explain(decisions: list[dict]) -> Group | Text:
    if not decisions:
        return Text("no scheduling decision recorded (not scheduled yet, or placed by hand)",
                    style="dim")
    parts = []
    for d in decisions:
        req = d.get("requested") or {}
        head = Text()
        head.append(f"attempt {d.get('attempt', '?')}", style="bold underline")
        head.append(f"  {d.get('created') or ''}", style="dim")
        head.append(f"\nrequested: {req.get('vcpus')} vCPU, {req.get('memory_mb')} MB RAM, "
                    f"{req.get('disk_gb')} GB disk, AZ {req.get('availability_zone') or 'any'}"
                    f"   hosts considered: {_hosts(d.get('hosts_considered'))}")
        parts.append(head)

        ft = Table(title="filters", title_justify="left", box=None, padding=(0, 1),
                   show_edge=False)
        ft.add_column("filter", style="bold", no_wrap=True)
        ft.add_column("removed host", no_wrap=True)
        ft.add_column("why")
        ft.add_column("left", justify="right")
        for f in d.get("filters") or []:
            removed = f.get("removed") or []
            if not removed:
                ft.add_row(plain(f["name"]), Text("none", style="dim"), "", plain(_count(f.get("remaining"))))
            for i, r in enumerate(removed):
                ft.add_row(plain(f["name"] if i == 0 else ""), plain(r["host"], style="red"),
                           plain(r.get("reason")),
                           plain(_count(f.get("remaining")) if i == len(removed) - 1 else ""))
        parts.append(ft)

        weights = d.get("weights") or []
        if weights:
            names = sorted({n for w in weights for n in (w.get("by_weigher") or {})})
            wt = Table(title="weights (normalised × multiplier)", title_justify="left", box=None,
                       padding=(0, 1), show_edge=False)
            wt.add_column("host", style="bold", no_wrap=True)
            wt.add_column("total", justify="right")
            for n in names:
                wt.add_column(plain(n), justify="right")
            for w in sorted(weights, key=lambda w: -(w.get("total") or 0)):
                style = "green" if w["host"] == d.get("selected") else ""
                wt.add_row(plain(w["host"], style=style), f"{w.get('total', 0):.3f}",
                           *[f"{(w.get('by_weigher') or {}).get(n, 0):.3f}" for n in names])
            parts.append(wt)

        tail = Text()
        if d.get("selected"):
            tail.append("chosen: ", style="bold").append(d["selected"], style="bold green")
        else:
            tail.append("no host chosen", style="bold red")
        alts = d.get("alternates") or []
        tail.append("   alternates: ", style="bold").append(", ".join(_hosts_list(alts)) or "none")
        if d.get("message"):
            tail.append(f"\n{d['message']}", style="red" if not d.get("selected") else "dim")
        tail.append("\n")
        parts.append(tail)
    tried = decisions[-1].get("build_attempts") or []
    if tried:  # hosts the build failed on, so the conductor rescheduled to an alternate
        t = Text("builds tried:\n", style="bold")
        for a in tried:
            if isinstance(a, dict):
                host = a.get("host") or "?"
                why = a.get("error") or a.get("reason") or a.get("message") or ""
                t.append(f"  {host}", style="red" if why else "green").append(f"  {why}\n")
            else:
                t.append(f"  {a}\n")
        parts.append(t)
    return Group(*parts)


def _hosts_list(v) -> list[str]:
    return [h if isinstance(h, str) else h.get("host", str(h)) for h in v or []]


def _hosts(v) -> str:
    if isinstance(v, int):
        return str(v)
    return ", ".join(_hosts_list(v)) or "0"


def _count(v) -> int | str:
    if isinstance(v, list):
        return len(v)
    return "" if v is None else v
