"""The event stream of a real `pocketstack serve`: it streams, and an open stream (which never
ends by itself) does not hold the server's shutdown."""
from __future__ import annotations

import os
import signal
import socket
import subprocess

import httpx

from e2ehelp import BIN, HOSTS, PASSWORD, free_port, start_serve, wait_up


def token(url: str) -> str:
    r = httpx.post(f"{url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def test_sigterm_ends_serve_with_a_stream_open(tmp_path):
    home, hosts = tmp_path / "home", tmp_path / "hosts.yaml"
    hosts.write_text(HOSTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(home), "OS_PASSWORD": PASSWORD, "HOME": str(tmp_path)})
    subprocess.run([str(BIN / "pocketstack"), "init"], env=env, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_serve(home, hosts, port, env)
    try:
        wait_up(url, proc)
        assert httpx.get(url).json()["pocketstack"]["events"] == f"{url}/pocketstack/v1/events"
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(f"GET /pocketstack/v1/events HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token(url)}\r\n\r\n".encode())
        got = b""
        while b": connected" not in got:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        assert got.startswith(b"HTTP/1.1 200") and b"text/event-stream" in got
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, proc.log_path.read_text()
        while chunk := s.recv(4096):  # the server closed the stream
            pass
        s.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
