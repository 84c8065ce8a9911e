"""The cluster on the real lab: `pocketstack cluster up` with 2 compute processes, each owning
one lab host (sshd + qemu in its own network namespace); a create over REST boots a real guest
that prints its boot marker, and a delete removes it. Run under the real-lab lock."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from backend.cli import cluster as cl
from backend.cli.tiny import register_with_cloud
from backend.core.config import Config
from backend.facade import Cloud
from backend.lab import lab
from backend.lab.guestimage import MARKER
from real.conftest import lab_home, tiny_build  # noqa: F401 (the lab's fixtures)

from clusterhelp import BASE_CONF, PASSWORD, free_port, until

pytestmark = pytest.mark.real
C = "/compute/v2.1"




async def _register(config, img):
    cloud = Cloud(config)
    await cloud.start()
    try:
        tok = (await cloud.login("admin", PASSWORD, "admin"))["token"]
        await register_with_cloud(cloud, tok, img)
    finally:
        await cloud.stop()


def test_a_create_over_rest_boots_a_real_guest_on_a_cluster(lab_home, tiny_build):  # noqa: F811
    tmp = Path(tempfile.mkdtemp(prefix="pocketstack-cluster-real-"))
    (tmp / "base.conf").write_text(BASE_CONF)
    config = Config.load(tmp / "base.conf", home=tmp / "home", hosts_path=lab.hosts_file(lab_home),
                         password_hash_rounds=4)
    Cloud.init(config, PASSWORD)
    asyncio.run(_register(config, tiny_build))
    state = cl.up(config, 2, port=free_port(), log=lambda m: None)
    url = state["url"]
    try:
        r = httpx.post(f"{url}/identity/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
        h = {"X-Auth-Token": r.headers["X-Subject-Token"]}
        owners = {p["name"]: Path(p["log"]) for p in state["processes"] if p["role"] == "compute"}
        assert set(owners) == {"compute-1", "compute-2"}
        img = next(i["id"] for i in httpx.get(f"{url}/image/v2/images", headers=h).json()["images"]
                   if i["name"] == "tiny")

        # a compute process serves as soon as it runs; its hosts report once reached over SSH
        def hosts_up():
            svcs = httpx.get(f"{url}{C}/os-services", headers=h).json()["services"]
            return {s["host"] for s in svcs if s["binary"] == "nova-compute" and s["state"] == "up"} \
                >= {"lab-1", "lab-2"} or None
        until(hosts_up, "both lab hosts up", 60)
        r = httpx.post(f"{url}{C}/servers", headers=h, json={"server": {
            "name": "web-1", "imageRef": img, "flavorRef": "1"}})
        assert r.status_code == 202, r.text
        sid = r.json()["server"]["id"]

        def active():
            s = httpx.get(f"{url}{C}/servers/{sid}", headers=h).json()["server"]
            assert s["status"] != "ERROR", s.get("fault")
            return s if s["status"] == "ACTIVE" and s["OS-EXT-STS:task_state"] is None else None
        s = until(active, "ACTIVE", 120)
        host = s["OS-EXT-SRV-ATTR:host"]
        assert host in ("lab-1", "lab-2")
        # the compute process that owns the host built it (its log names the host it serves)
        owner = "compute-1" if host == "lab-1" else "compute-2"
        assert f"hosts {host}" in owners[owner].read_text()

        def console():
            out = httpx.post(f"{url}{C}/servers/{sid}/action", headers=h,
                             json={"os-getConsoleOutput": {}}).json().get("output", "")
            return MARKER in out and out
        assert f"{MARKER} web-1" in until(console, "the guest's boot marker", 60)
        assert httpx.delete(f"{url}{C}/servers/{sid}", headers=h).status_code == 204
        until(lambda: httpx.get(f"{url}{C}/servers/{sid}", headers=h).status_code == 404, "the delete", 60)
    finally:
        cl.down(config, log=lambda m: None)
        shutil.rmtree(tmp, ignore_errors=True)
