"""Helpers for a real `pocketstack serve` subprocess on a free 127.0.0.1 port, with its own
POCKETSTACK_HOME and fake hosts, for the real clients (openstacksdk, openstack, pocketstack)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
HOSTS = """hosts:
  - {name: fake-1, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80}
  - {name: fake-2, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80}
"""
PASSWORD = "e2e-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    port: int
    home: Path
    hosts: Path
    proc: subprocess.Popen
    env: dict

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity/v3"

    def run(self, *argv, check=True, timeout=120) -> subprocess.CompletedProcess:
        """Run a command (pocketstack or openstack) against this server."""
        exe = str(BIN / argv[0])
        p = subprocess.run([exe, *argv[1:]], env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p


def start_serve(home: Path, hosts: Path, port: int, env: dict) -> subprocess.Popen:
    """Output goes to files beside the state dir (a full pipe would block the server);
    proc.log_path names the stderr file."""
    out = open(home.parent / f"serve-{port}.out", "w")
    err_path = home.parent / f"serve-{port}.err"
    err = open(err_path, "w")
    proc = subprocess.Popen([str(BIN / "pocketstack"), "serve", "--port", str(port),
                             "--hosts", str(hosts)], env=env, stdout=out, stderr=err, text=True)
    out.close()
    err.close()
    proc.log_path = err_path
    return proc


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.log_path.read_text()}")
        try:
            if httpx.get(f"{url}/identity/v3", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve did not answer at {url}")


