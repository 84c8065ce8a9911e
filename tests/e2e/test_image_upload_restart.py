"""A real cloud killed with SIGKILL in the middle of an image upload: after the restart the
image is `queued` again (glance's status for an image without data), its partial file is gone,
and the upload can simply be done again. In both modes: `pocketstack serve`, and a cluster
whose every process is killed at once, then `cluster down` and `cluster up`."""
from __future__ import annotations

import os
import sqlite3
import threading
import time

import httpx
import pytest

import e2ehelp
from backend.core.config import Config
from backend.facade import Cloud
from e2ehelp import HOSTS, MODES, PASSWORD, free_port


def token(url) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    r = httpx.post(f"{url}/identity/v3/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def image_status(home, iid) -> str:
    con = sqlite3.connect(f"file:{home / 'pocketstack.db'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT status FROM images WHERE id=?", (iid,)).fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("mode", MODES)
def test_sigkill_mid_upload_then_restart(tmp_path, mode):
    home, hosts = tmp_path / "home", tmp_path / "hosts.yaml"
    hosts.write_text(HOSTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(home), "HOME": str(tmp_path)})
    Cloud.init(Config(home=home, password_hash_rounds=4), PASSWORD)
    server = e2ehelp.start(mode, home, hosts, free_port(), env)
    url = server.url
    release = threading.Event()
    try:
        h = {"X-Auth-Token": token(url)}
        img = httpx.post(f"{url}/image/v2/images", headers=h, timeout=30, json={
            "name": "cut", "disk_format": "raw", "container_format": "bare"}).json()
        part = home / "images" / f"{img['id']}.part"

        def body():
            yield b"\0" * 65536
            release.wait(60)  # the rest never comes: the server is killed meanwhile
            yield b"\0" * 65536

        def upload():
            try:
                httpx.put(f"{url}/image/v2/images/{img['id']}/file", content=body(), timeout=60,
                          headers={**h, "Content-Type": "application/octet-stream"})
            except httpx.HTTPError:
                pass  # the server died under it
        t = threading.Thread(target=upload, daemon=True)
        t.start()
        end = time.monotonic() + 30
        while not (part.exists() and image_status(home, img["id"]) == "saving"):
            assert time.monotonic() < end, "the upload never started"
            time.sleep(0.02)
        e2ehelp.kill(server)
    finally:
        release.set()
        e2ehelp.kill(server)  # when the test failed before the kill (else nothing is left)
    t.join(30)
    assert image_status(home, img["id"]) == "saving" and part.exists()  # what the kill left

    server = e2ehelp.start(mode, home, hosts, free_port(), env)
    url = server.url
    try:
        h = {"X-Auth-Token": token(url)}
        got = httpx.get(f"{url}/image/v2/images/{img['id']}", headers=h, timeout=30).json()
        assert got["status"] == "queued" and got["size"] is None
        assert list((home / "images").glob("*.part")) == []
        r = httpx.put(f"{url}/image/v2/images/{img['id']}/file", content=b"\0" * 4096, timeout=30,
                      headers={**h, "Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
        got = httpx.get(f"{url}/image/v2/images/{img['id']}", headers=h, timeout=30).json()
        assert got["status"] == "active" and got["size"] == 4096
    finally:
        e2ehelp.stop(server)
