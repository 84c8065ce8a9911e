"""The cluster tests' shared pieces: a cloud with 4 fake hosts started as a cluster of its own
(`pocketstack cluster up`), its token."""
from __future__ import annotations

import json
import os
import socket
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx

from backend.cli import cluster as cl
from backend.core.config import Config
from backend.facade import Cloud
from pollhelp import poll

PASSWORD = "secret-pw"
# split round robin: compute-1 owns fake-1 and fake-3, compute-2 fake-2 and fake-4. In zone
# 'slow', fake-1 (compute-1) has the most free RAM, so it is picked first; fake-2 (compute-2)
# is its alternate. fake-1 spawns for 60 s: a build there is mid-spawn for as long as a test needs.
HOSTS = """
hosts:
  - {name: fake-1, address: 127.0.0.1, driver: fake, availability_zone: slow, vcpus: 16, memory_mb: 65536,
     disk_gb: 400, fake: {spawn_latency: 60}}
  - {name: fake-2, address: 127.0.0.1, driver: fake, availability_zone: slow, vcpus: 16, memory_mb: 8192,
     disk_gb: 400}
  - {name: fake-3, address: 127.0.0.1, driver: fake, vcpus: 16, memory_mb: 16384, disk_gb: 400}
  - {name: fake-4, address: 127.0.0.1, driver: fake, vcpus: 16, memory_mb: 16384, disk_gb: 400}
"""
BASE_CONF = """
[DEFAULT]
report_interval = 0.3
service_down_time = 3
sync_power_state_interval = 1
[quota]
instances = 1000
cores = 10000
ram = 10000000
"""


def until(fn, what: str, timeout: float = 30.0, interval: float = 0.1):
    """fn() until it returns something true (pollhelp.poll, in the argument order these tests use)."""
    return poll(what, fn, timeout, interval=interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    config: Config
    state: dict
    url: str

    def token(self) -> str:
        r = httpx.post(f"{self.url}/identity/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def process(self, name: str) -> dict:
        return next(p for p in self.state["processes"] if p["name"] == name)


def make_cluster(tmp: Path, hosts: str = HOSTS, computes: int = 2, database: str = "sqlite") -> Cluster:
    """database 'postgresql': `cluster up --database postgresql` makes the cloud in a PostgreSQL
    of its own (the admin's password from OS_PASSWORD)."""
    (tmp / "hosts.yaml").write_text(textwrap.dedent(hosts))
    (tmp / "base.conf").write_text(BASE_CONF)
    config = Config.load(tmp / "base.conf", home=tmp / "home", hosts_path=tmp / "hosts.yaml",
                         password_hash_rounds=4)
    if database == "sqlite":
        Cloud.init(config, PASSWORD)
        state = cl.up(config, computes, port=free_port(), log=lambda m: None)
        return Cluster(config, state, state["url"])
    tmp.chmod(0o711)  # the postgres user goes through it to the state directory
    saved = os.environ.get("OS_PASSWORD")
    os.environ["OS_PASSWORD"] = PASSWORD
    try:
        state = cl.up(config, computes, port=free_port(), log=lambda m: None, database=database)
    finally:
        if saved is None:
            os.environ.pop("OS_PASSWORD", None)
        else:
            os.environ["OS_PASSWORD"] = saved
    return Cluster(config, state, state["url"])


class Stream:
    """The REST event stream, read on a thread: every event's (type, data)."""

    def __init__(self, cl_, tok):
        self.events: list[tuple[str, dict]] = []
        self._resp = None
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self._thread = threading.Thread(target=self._read, args=(cl_.url, tok), daemon=True)
        self._thread.start()
        until(lambda: self._resp is not None, "the event stream to open", 10)

    def _read(self, url, tok):
        with self._client.stream("GET", f"{url}/pocketstack/v1/events", headers={"X-Auth-Token": tok}) as r:
            self._resp = r
            kind = None
            try:
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        self.events.append((kind, json.loads(line[6:])))
            except httpx.HTTPError:
                pass

    def close(self):
        self._client.close()
