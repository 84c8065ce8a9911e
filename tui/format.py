"""Pure formatting of views into cells: no widgets here, so it is easy to test and fast.

Every string from the API (names, ids, faults, messages, host names, trace details, console
output, error texts) reaches the screen as `plain()` Text: Textual and Rich parse a `str` as
markup, so a name like `x[/]` would crash a view and `[@click=app.quit]ubuntu[/]` would be a
button that quits."""
from __future__ import annotations

from datetime import datetime

from rich.text import Text

from tui.adapter import parse_ts

STATUS_STYLE = {
    "ACTIVE": "green",
    "BUILD": "yellow",
    "ERROR": "bold red",
    "SHUTOFF": "bright_black",
    "REBOOT": "cyan",
    "HARD_REBOOT": "cyan",
    "DELETED": "bright_black strike",
}


def plain(value: object, style: str = "") -> Text:
    """Text shown exactly as given, never parsed as markup (None is empty)."""
    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value), style=style)


def plain_row(cells: list) -> list[Text]:
    """A table row (DataTable turns a `str` cell into markup): every cell as plain Text."""
    return [plain(c) for c in cells]


def age(ts: str | None, now: datetime) -> str:
    """k9s-style age: 45s, 12m, 3h, 2d."""
    t = parse_ts(ts)
    return "" if t is None else age_since(t, now)


def age_since(t: datetime, now: datetime) -> str:
    """age() of a time already parsed."""
    secs = max(0, int((now - t).total_seconds()))
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m"
    if secs < 86400:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def age_seconds(ts: str | None, now: datetime) -> float:
    t = parse_ts(ts)
    return (now - t).total_seconds() if t else 0.0


def ips(server: dict) -> str:
    out = []
    for net, addrs in (server.get("addresses") or {}).items():
        out.extend(a["addr"] for a in addrs)
    return ", ".join(out)


def status_text(server: dict) -> str:
    """BUILD rows show the step they are on: 'BUILD spawning'."""
    status = server.get("status") or ""
    if status == "BUILD" and server.get("task_state"):
        return f"BUILD {server['task_state']}"
    return status


def row_style(server: dict) -> str:
    if server.get("status") == "ERROR":
        return "red"
    return ""


def bar(used: float, capacity: float, width: int = 12) -> Text:
    """A usage bar: green, yellow past 70 %, red past 90 %, with used/capacity after it."""
    frac = used / capacity if capacity else 0.0
    filled = min(width, round(frac * width))
    colour = "green" if frac < 0.7 else "yellow" if frac < 0.9 else "red"
    t = Text()
    t.append("█" * filled, style=colour)
    t.append("░" * (width - filled), style="bright_black")
    t.append(f" {_num(used)}/{_num(capacity)}")
    return t


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def dash(value) -> str:
    return "-" if value in (None, "", [], {}) else str(value)
