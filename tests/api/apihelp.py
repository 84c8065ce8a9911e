"""Helpers of the REST API tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from backend.config import Config
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


