"""Helpers of the REST API tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from backend.core.config import Config
from backend.facade import Cloud

FAKE_HOSTS = """hosts:
  - {name: fake-1, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80}
  - {name: fake-2, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80}
"""


def make_config(tmp) -> Config:
    (tmp / "hosts.yaml").write_text(FAKE_HOSTS)
    return Config(home=tmp / "home", hosts_path=tmp / "hosts.yaml", password_hash_rounds=4,
                  heartbeat_interval=0.2, power_sync_interval=0.2, service_down_time=2.0)


AUTH = "/identity/v3/auth/tokens"

# What changes with no request at all, so a before/after comparison leaves it out: the
# trace table (every bus message, the periodic heartbeats and power syncs among them, is
# traced) and a host's last heartbeat time.
UNREQUESTED = {"trace": None, "compute_nodes": {"last_heartbeat"}}
# the database files themselves (their content is compared table by table; the WAL grows
# with every heartbeat)
DB_FILES = {"pocketstack.db", "pocketstack.db-wal", "pocketstack.db-shm"}


def table_columns(conn) -> dict[str, list[str]]:
    """Every table and its columns, on either engine (the data-access layer's connection)."""
    if hasattr(conn, "dicts"):  # PostgreSQL (POCKETSTACK_DATABASE_CONNECTION=postgresql://...)
        out: dict[str, list[str]] = {}
        for table, col in conn.execute("SELECT table_name, column_name FROM information_schema.columns"
                                       " WHERE table_schema=current_schema() ORDER BY table_name, ordinal_position"):
            out.setdefault(table, []).append(col)
        return out
    return {t: [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')]
            for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").fetchall()}


def table_hashes(conn) -> dict[str, str]:
    """sha256 of every table's rows, sorted (row order is not state)."""
    out = {}
    for table, all_cols in table_columns(conn).items():
        skip = UNREQUESTED.get(table, set())
        if skip is None:
            continue
        cols = [c for c in all_cols if c not in skip]
        rows = sorted(repr(r) for r in conn.execute(f'SELECT {", ".join(cols)} FROM "{table}"'))
        out[table] = hashlib.sha256("\n".join([repr(cols), *rows]).encode()).hexdigest()
    return out


def tree(root: Path) -> dict[str, tuple]:
    """Every file and directory under root: its size and sha256 (directories: None)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = None
        for f in filenames:
            p = Path(dirpath, f)
            rel = str(p.relative_to(root))
            if rel in DB_FILES:
                continue
            out[rel] = (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def password_body(user: str, password: str, project: str | None = None) -> dict:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}}}
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return body


@dataclass
class Env:
    cloud: Cloud
    http: httpx.AsyncClient
    tokens: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)

    async def login(self, user: str, password: str, project: str | None = None) -> str:
        r = await self.http.post(AUTH, json=password_body(user, password, project))
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def h(self, who: str = "admin", **extra) -> dict:
        return {"X-Auth-Token": self.tokens[who], **extra}

    async def get(self, path: str, who: str = "admin", **kw) -> httpx.Response:
        return await self.http.get(path, headers=self.h(who), **kw)

    async def post(self, path: str, body=None, who: str = "admin", **kw) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.h(who), **kw)

    async def delete(self, path: str, who: str = "admin") -> httpx.Response:
        return await self.http.delete(path, headers=self.h(who))

    def vol(self, who: str = "admin") -> str:
        return f"/volume/v3/{self.ids['project_' + who]}"

    async def counts(self) -> dict:
        """Rows of every kind, counted through the facade as admin."""
        c, t = self.cloud, self.tokens["admin"]
        return {"servers": len(await c.list_servers(t, all_projects=True)),
                "images": len(await c.list_images(t)), "networks": len(await c.list_networks(t)),
                "subnets": len(await c.list_subnets(t)), "ports": len(await c.list_ports(t)),
                "volumes": len(await c.list_volumes(t, all_projects=True)),
                "users": len(await c.list_users(t)), "projects": len(await c.list_projects(t)),
                "flavors": len(await c.list_flavors(t)),
                "groups": len(await c.list_server_groups(t))}

    async def state(self) -> dict:
        """Everything a request could write, after the casts it started have run: one sha256
        per database table over its sorted rows, and the state directory's files (path, size,
        sha256) and the fake hypervisors' guests and volumes (the host side)."""
        rt = self.cloud.rt
        await rt.bus.drain(10)
        return {"db": table_hashes(rt.db.conn), "files": tree(self.cloud.config.home),
                "hypervisors": {h: (sorted((u, g.state, repr(g.spec)) for u, g in cm.driver.guests.items()),
                                    sorted(cm.driver.volumes.items()))
                                for h, cm in sorted(rt.computes.items())}}

    async def wait_status(self, sid: str, status: str, who: str = "admin", timeout: float = 10):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            r = await self.get(f"/compute/v2.1/servers/{sid}", who)
            s = r.json()["server"]
            if s["status"] == status and not s["OS-EXT-STS:task_state"]:
                return s
            assert loop.time() < end, f"{sid} is {s['status']}/{s['OS-EXT-STS:task_state']}"
            await asyncio.sleep(0.02)


