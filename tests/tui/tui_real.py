"""A real Cloud on the fake driver, run by BackendThread, for the functional tests."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console

from backend.core.config import Config
from backend.facade import BackendThread, Cloud
from tui.adapter import LocalAdapter
from tui.app import PocketApp

HOSTS = """hosts:
  - {name: fake-1, address: 127.0.0.1, driver: fake, vcpus: 4, memory_mb: 4096, disk_gb: 40}
  - {name: fake-2, address: 127.0.0.1, driver: fake, vcpus: 4, memory_mb: 4096, disk_gb: 40}
"""


@dataclass
class RealCloud:
    bt: BackendThread
    token: str                          # admin, scoped to 'admin'
    ids: dict = field(default_factory=dict)

    @property
    def cloud(self) -> Cloud:
        return self.bt.cloud

    def call(self, method: str, *args, **kw):
        return self.bt.call(getattr(self.cloud, method), self.token, *args, **kw)

    def app(self, **kw) -> PocketApp:
        opts = dict(highlight_seconds=0.2, console_follow=0.2)
        opts.update(kw)
        app = PocketApp(LocalAdapter(self.bt), **opts)
        app.animation_level = "none"
        return app


def start(tmp) -> RealCloud:
    (tmp / "hosts.yaml").write_text(HOSTS)
    cfg = Config(home=tmp / "home", hosts_path=tmp / "hosts.yaml", password_hash_rounds=4,
                 heartbeat_interval=0.2, power_sync_interval=0.2, service_down_time=1.5)
    Cloud.init(cfg, "secret")
    bt = BackendThread(Cloud(cfg))
    bt.start()
    unscoped = bt.call(bt.cloud.login, "admin", "secret")
    tok = bt.call(bt.cloud.scope, unscoped["token"], "admin")
    rc = RealCloud(bt, tok["token"])
    rc.ids["admin_user"] = tok["user"]["id"]
    img = rc.call("create_image", "tiny", visibility="public")
    rc.call("upload_image", img["id"], b"\0" * 4096)
    rc.ids["image"] = img["id"]
    demo = rc.call("create_project", "demo")
    rc.ids["demo"] = demo["id"]
    rc.call("grant_role", demo["id"], tok["user"]["id"], "member")
    return rc


def text_of(widget, width: int = 200) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(widget.content)
    return console.export_text()


async def wait_for(pilot, cond, timeout: float = 30.0, what: str = "condition"):
    """A bounded wait (generous: a loaded 2-core machine runs these next to real guests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")
