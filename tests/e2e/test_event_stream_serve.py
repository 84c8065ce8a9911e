"""The event stream of a real cloud (`pocketstack serve`, and the api process of a cluster): it
streams, and an open stream (which never ends by itself) does not hold the process's shutdown."""
from __future__ import annotations

import os
import signal
import socket

import httpx
import pytest

import e2ehelp
from e2ehelp import HOSTS, MODES, PASSWORD, free_port


def token(url: str) -> str:
    r = httpx.post(f"{url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_ends_serve_with_a_stream_open(tmp_path, mode):
    home, hosts = tmp_path / "home", tmp_path / "hosts.yaml"
    hosts.write_text(HOSTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(home), "OS_PASSWORD": PASSWORD, "HOME": str(tmp_path)})
    e2ehelp.init(env)
    server = e2ehelp.start(mode, home, hosts, free_port(), env)
    url = server.url
    try:
        assert httpx.get(url).json()["pocketstack"]["events"] == f"{url}/pocketstack/v1/events"
        s = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        s.sendall(f"GET /pocketstack/v1/events HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token(url)}\r\n\r\n".encode())
        got = b""
        while b": connected" not in got:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        assert got.startswith(b"HTTP/1.1 200") and b"text/event-stream" in got
        if mode == "embedded":
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(20) == 0, server.logs()
        else:  # the api process (not our child: its exit status is not ours to read)
            api = next(p for p in e2ehelp.cluster_state(home)["processes"] if p["role"] == "api")
            os.kill(api["pid"], signal.SIGTERM)
            e2ehelp.poll("the api process ended", lambda: not e2ehelp.alive(api["pid"]), 20)
            assert "Traceback" not in open(api["log"]).read()
        while chunk := s.recv(4096):  # the server closed the stream
            pass
        s.close()
    finally:
        if mode == "embedded" and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        e2ehelp.stop(server)
