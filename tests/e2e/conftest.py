"""Fixtures: a real `pocketstack serve` subprocess (see e2ehelp.py)."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from e2ehelp import BIN, HOSTS, PASSWORD, free_port, Server, start_serve, wait_up  # noqa: F401


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    home, hosts = tmp / "home", tmp / "hosts.yaml"
    hosts.write_text(HOSTS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(home), "POCKETSTACK_HOSTS": str(hosts),
                "OS_AUTH_URL": f"{url}/identity/v3", "OS_USERNAME": "admin",
                "OS_PASSWORD": PASSWORD, "OS_PROJECT_NAME": "admin",
                "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
                "OS_IDENTITY_API_VERSION": "3", "OS_INTERFACE": "public",
                "OS_REGION_NAME": "RegionOne", "HOME": str(tmp)})
    subprocess.run([str(BIN / "pocketstack"), "init"], env=env,  # OS_PASSWORD in env
                   check=True, capture_output=True)
    proc = start_serve(home, hosts, port, env)
    try:
        wait_up(url, proc)
        yield Server(url, port, home, hosts, proc, env)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("img") / "tiny.raw"
    p.write_bytes(os.urandom(256 * 1024))
    return p
