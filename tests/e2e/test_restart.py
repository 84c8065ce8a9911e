"""A real `pocketstack serve`, killed with SIGKILL in the middle of builds, started again:
every instance ends ACTIVE or ERROR, none is lost, the database is intact. And a second
serve on the same state directory is refused with a clear message."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import httpx

from e2ehelp import BIN, PASSWORD, free_port, start_serve, wait_up

SLOW_HOSTS = """hosts:
  - {name: slow-1, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80, fake: {spawn_latency: 3}}
  - {name: slow-2, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80, fake: {spawn_latency: 3}}
"""


def token(url):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    r = httpx.post(f"{url}/identity/v3/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def servers(url, tok):
    r = httpx.get(f"{url}/compute/v2.1/servers/detail", headers={"X-Auth-Token": tok}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["servers"]


def test_sigkill_mid_build_then_restart(tmp_path):
    home, hosts = tmp_path / "home", tmp_path / "hosts.yaml"
    hosts.write_text(SLOW_HOSTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(home), "HOME": str(tmp_path)})
    subprocess.run([str(BIN / "pocketstack"), "init", "--admin-password", PASSWORD], env=env, check=True,
                   capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_serve(home, hosts, port, env)
    try:
        wait_up(url, proc)
        tok = token(url)
        h = {"X-Auth-Token": tok}
        img = httpx.post(f"{url}/image/v2/images", headers=h, timeout=30, json={
            "name": "img", "disk_format": "raw", "container_format": "bare"}).json()
        r = httpx.put(f"{url}/image/v2/images/{img['id']}/file", headers={**h, "Content-Type":
                                                                          "application/octet-stream"},
                      content=b"\0" * 1024, timeout=30)
        assert r.status_code == 204, r.text
        ids = []
        for i in range(6):
            r = httpx.post(f"{url}/compute/v2.1/servers", headers=h, timeout=30, json={"server": {
                "name": f"vm{i}", "imageRef": img["id"], "flavorRef": "1", "networks": "auto"}})
            assert r.status_code == 202, r.text
            ids.append(r.json()["server"]["id"])
        end = time.monotonic() + 20
        while time.monotonic() < end:  # kill while builds are mid-way (spawning takes 3 s)
            states = {s["OS-EXT-STS:task_state"] for s in servers(url, tok)}
            if "spawning" in states:
                break
            time.sleep(0.05)
        assert "spawning" in states
        # a second serve on the same state directory is refused, naming the running one
        p2 = subprocess.run([str(BIN / "pocketstack"), "serve", "--port", str(free_port()), "--hosts",
                             str(hosts)], env=env, capture_output=True, text=True, timeout=60)
        assert p2.returncode != 0
        assert "already running" in p2.stderr and f"pid {proc.pid}" in p2.stderr and url in p2.stderr
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    proc = start_serve(home, hosts, port, env)
    try:
        wait_up(url, proc)
        tok = token(url)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            got = servers(url, tok)
            if len(got) == 6 and all(s["status"] in ("ACTIVE", "ERROR") for s in got):
                break
            time.sleep(0.2)
        assert sorted(s["id"] for s in got) == sorted(ids)
        assert all(s["status"] in ("ACTIVE", "ERROR") for s in got), [s["status"] for s in got]
        assert all(s["OS-EXT-STS:task_state"] is None for s in got)
        for s in got:
            if s["status"] == "ERROR":
                assert s["fault"]["message"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    con = sqlite3.connect(home / "pocketstack.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    active = con.execute("SELECT count(*) FROM instances WHERE vm_state='active'").fetchone()[0]
    assert con.execute("SELECT count(*) FROM claims").fetchone()[0] == active
    assert con.execute("SELECT count(*) FROM ports").fetchone()[0] == active
    con.close()
