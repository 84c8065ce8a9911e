"""The header line: user, project, roles and when the token expires."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.adapter import parse_ts


class SessionBar(Static):
    DEFAULT_CSS = """
    SessionBar { dock: top; height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.refresh_text()
        self.set_interval(30, self.refresh_text)

    def refresh_text(self) -> None:
        app = self.app
        tok = app.adapter.token or app.adapter.unscoped
        t = Text()
        t.append("pocketstack", style="bold")
        if not tok:
            t.append("  not logged in", style="dim")
            self.update(t)
            return
        user = tok["user"]["name"]
        project = (tok.get("project") or {}).get("name") or "(unscoped)"
        roles = ",".join(r["name"] for r in tok.get("roles") or []) or "-"
        t.append("  user ", style="dim").append(user, style="bold cyan")
        t.append("  project ", style="dim").append(project, style="bold cyan")
        t.append("  roles ", style="dim").append(roles)
        exp = parse_ts(tok.get("expires_at"))
        if exp:
            left = int((exp - app.clock()).total_seconds() // 60)
            t.append("  token expires ", style="dim")
            t.append(f"{exp:%H:%M}Z (in {left}m)", style="yellow" if left < 10 else "")
        t.append(f"  [{app.adapter.where}]", style="dim")
        self.update(t)
