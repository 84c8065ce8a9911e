"""Across machines on the real lab: `cluster up --computes-in-lab --database postgresql` runs the
control plane in the root namespace and one compute process per lab host inside that host's
network namespace, reaching RabbitMQ (a user of our own) and PostgreSQL (its password) over the
lab bridge only. A create over REST boots a real guest built by the compute process in the
namespace and its serial console is relayed from there; guest is refused off loopback. Run under the real-lab lock."""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import aio_pika
import httpx
import pytest

from backend.cli import cluster as cl
from backend.cli.tiny import _disk_props, _specs
from backend.core.config import Config
from backend.lab import lab
from backend.lab.guestimage import MARKER
from websockets.sync.client import connect
from real.conftest import lab_home, tiny_build  # noqa: F401 (the lab's fixtures)

from clusterhelp import BASE_CONF, PASSWORD, free_port, until

pytestmark = pytest.mark.real
C = "/compute/v2.1"




def register_tiny(url, h, img) -> str:
    """The tiny guest's kernel, ramdisk and disk through the image API; the disk's id."""
    ids = {}
    for s in _specs(img, "tiny"):
        body = {"name": s["name"], "disk_format": s["disk_format"], "container_format": s["container_format"],
                "visibility": "public", **(_disk_props(ids, img) if s["key"] == "disk" else {})}
        r = httpx.post(f"{url}/image/v2/images", headers=h, json=body)
        assert r.status_code == 201, r.text
        ids[s["key"]] = r.json()["id"]
        r = httpx.put(f"{url}/image/v2/images/{ids[s['key']]}/file", headers=dict(
            h, **{"Content-Type": "application/octet-stream"}), content=Path(s["path"]).read_bytes(), timeout=60)
        assert r.status_code == 204, r.text
    return ids["disk"]


async def _connect(url: str) -> None:
    conn = await aio_pika.connect(url, timeout=10)
    await conn.close()


def netns_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def test_compute_processes_in_the_lab_namespaces_boot_a_real_guest(lab_home, tiny_build, monkeypatch):  # noqa: F811
    tmp = Path(tempfile.mkdtemp(prefix="pocketstack-cluster-lab-"))
    tmp.chmod(0o711)  # the postgres user goes through it to the state directory
    (tmp / "base.conf").write_text(BASE_CONF)
    config = Config.load(tmp / "base.conf", home=tmp / "home", hosts_path=lab.hosts_file(lab_home),
                         password_hash_rounds=4)
    monkeypatch.setenv("OS_PASSWORD", PASSWORD)
    try:
        state = cl.up(config, port=free_port(), log=lambda m: None, database="postgresql", computes_in_lab=True)
        url = state["url"]
        labs = {h["name"]: h for h in lab.status(lab_home)}
        computes = {p["name"]: p for p in state["processes"] if p["role"] == "compute"}
        assert len(computes) == len(labs) == 2
        root = netns_of(os.getpid())
        for p in state["processes"]:  # the control plane here, each compute process in its host's namespace
            if p["role"] != "compute":
                assert netns_of(p["pid"]) == root, p["name"]
        assert {p["netns"] for p in computes.values()} == {h["netns"] for h in labs.values()}
        assert all(netns_of(p["pid"]) != root for p in computes.values())
        # they were told the lab bridge's address, with a user of our own and the database's password
        lab_conf = (config.home / "cluster" / "pocketstack-lab.conf").read_text()
        assert "rabbit://pocketstack:" in lab_conf and "@127.0.0.1" not in lab_conf and "guest" not in lab_conf
        assert oct((config.home / "cluster" / "pocketstack-lab.conf").stat().st_mode & 0o777) == "0o600"
        bridge = lab_conf.split("rabbit://pocketstack:", 1)[1].split("@", 1)[1].split(":", 1)[0]
        port = state["transport_url"].rsplit(":", 1)[1].strip("/")
        with pytest.raises(Exception):  # guest stays on loopback: refused at the bridge's address
            asyncio.run(_connect(f"amqp://guest:guest@{bridge}:{port}/"))
        asyncio.run(_connect(state["transport_url"].replace("rabbit://", "amqp://").replace("127.0.0.1", bridge)))

        r = httpx.post(f"{url}/identity/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
        h = {"X-Auth-Token": r.headers["X-Subject-Token"]}
        img = register_tiny(url, h, tiny_build)
        r = httpx.post(f"{url}{C}/servers", headers=h, json={"server": {
            "name": "web-ns", "imageRef": img, "flavorRef": "1"}})
        assert r.status_code == 202, r.text
        sid = r.json()["server"]["id"]

        def active():
            s = httpx.get(f"{url}{C}/servers/{sid}", headers=h).json()["server"]
            assert s["status"] != "ERROR", s.get("fault")
            return s if s["status"] == "ACTIVE" and s["OS-EXT-STS:task_state"] is None else None
        host = until(active, "ACTIVE", 120)["OS-EXT-SRV-ATTR:host"]
        owner = next(p for p in computes.values() if p["netns"] == labs[host]["netns"])
        assert f"hosts {host}" in Path(owner["log"]).read_text()  # built by the process in that namespace

        def console():
            out = httpx.post(f"{url}{C}/servers/{sid}/action", headers=h,
                             json={"os-getConsoleOutput": {}}).json().get("output", "")
            return MARKER in out and out
        assert f"{MARKER} web-ns" in until(console, "the guest's boot marker", 60)
        # the serial console, relayed from the compute process in the namespace (its lab address)
        mv = dict(h, **{"OpenStack-API-Version": "compute 2.6", "X-OpenStack-Nova-API-Version": "2.6"})
        r = httpx.post(f"{url}{C}/servers/{sid}/remote-consoles", headers=mv,
                       json={"remote_console": {"protocol": "serial", "type": "serial"}})
        assert r.status_code == 200, r.text
        with connect(r.json()["remote_console"]["url"], subprotocols=["binary"], open_timeout=10) as ws:
            ws.send(b"echo across-$((6*7))\r")
            got, end = b"", time.monotonic() + 30
            while b"across-42" not in got:
                assert time.monotonic() < end, got[-300:]
                got += ws.recv(timeout=30)
        assert httpx.delete(f"{url}{C}/servers/{sid}", headers=h).status_code == 204
        until(lambda: httpx.get(f"{url}{C}/servers/{sid}", headers=h).status_code == 404, "the delete", 60)
    finally:
        cl.down(config, log=lambda m: None)
        shutil.rmtree(tmp, ignore_errors=True)
