"""A Cloud on the real lab for the real tests: made in a fresh home, logged in as admin, the
tiny image registered; on the way out every server is deleted and the cloud stopped."""
from __future__ import annotations

import contextlib
from pathlib import Path

from backend.cli.tiny import register_with_cloud
from backend.core.config import Config
from backend.facade import Cloud
from backend.lab import lab


@contextlib.asynccontextmanager
async def lab_cloud(lab_home: Path, tmp_path: Path, tiny_build, hosts_path: Path | None = None,
                    **config):
    """(cloud, admin token); config overrides Config's fields (fast heartbeats by default)."""
    config = {"password_hash_rounds": 4, "heartbeat_interval": 0.5, "power_sync_interval": 1.0,
              **config}
    cfg = Config(home=tmp_path / "home", hosts_path=hosts_path or lab.hosts_file(lab_home), **config)
    Cloud.init(cfg, "secret")
    cloud = Cloud(cfg)
    await cloud.start()
    try:
        tok = (await cloud.login("admin", "secret", "admin"))["token"]
        await register_with_cloud(cloud, tok, tiny_build)
        yield cloud, tok
        for s in await cloud.list_servers(tok, all_projects=True):
            await cloud.delete_server(tok, s["id"])
    finally:
        await cloud.stop()
