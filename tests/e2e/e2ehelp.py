"""Helpers for a real cloud on a free 127.0.0.1 port, with its own POCKETSTACK_HOME and fake
hosts, for the real clients (openstacksdk, openstack, pocketstack), in either mode:
'embedded' (one `pocketstack serve` process) or 'cluster' (`pocketstack cluster up --computes 2`:
a RabbitMQ node of its own, then conductor, scheduler, api and 2 compute processes)."""
from __future__ import annotations

import json
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

from pollhelp import poll  # noqa: F401 (the e2e modules import it from here)

BIN = Path(sys.executable).parent
HOSTS = """hosts:
  - {name: fake-1, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80}
  - {name: fake-2, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80}
"""
PASSWORD = "e2e-secret"
MODES = ("embedded", "cluster")


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
    proc: subprocess.Popen | None  # the serve process (embedded); None for a cluster
    env: dict
    mode: str = "embedded"

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

    def logs(self) -> str:
        """Everything the cloud's processes wrote."""
        if self.mode == "embedded":
            return self.proc.log_path.read_text() + self.proc.log_path.with_suffix(".out").read_text()
        return "".join(f.read_text(errors="replace") for f in sorted((self.home / "cluster" / "log").glob("*.log")))


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




# ---- either mode ------------------------------------------------------------------------------
def init(env: dict) -> None:
    """`pocketstack init` of env's POCKETSTACK_HOME (the admin's password: env's OS_PASSWORD)."""
    subprocess.run([str(BIN / "pocketstack"), "init"], env=env, check=True, capture_output=True, timeout=120)


def start(mode: str, home: Path, hosts: Path, port: int, env: dict) -> Server:
    """The cloud of an initialised state directory, served on port, in that mode."""
    url = f"http://127.0.0.1:{port}"
    if mode == "embedded":
        proc = start_serve(home, hosts, port, env)
        try:
            wait_up(url, proc)
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise
        return Server(url, port, home, hosts, proc, env, mode)
    assert mode == "cluster", mode
    # `up` returns once every process has registered and the api answers (or has stopped
    # whatever it started, and failed)
    p = subprocess.run([str(BIN / "pocketstack"), "cluster", "up", "--computes", "2", "--port", str(port),
                        "--hosts", str(hosts)], env=env, capture_output=True, text=True, timeout=240)
    if p.returncode != 0:
        raise AssertionError(f"cluster up -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return Server(url, port, home, hosts, None, env, mode)


def cluster_state(home: Path) -> dict:
    return json.loads((home / "cluster" / "state.json").read_text())


def alive(pid: int) -> bool:
    """A live process (a zombie, or a pid no longer in use, is not)."""
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False


def _leftovers(pids: list[int], epmd_port: int) -> list[str]:
    """What of a stopped cluster still runs: its processes, its node's beam.smp and epmd."""
    left = [f"pid {pid}" for pid in pids if alive(pid)]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if ("beam.smp" in cmd and f"-epmd_port {epmd_port} " in cmd) or \
                ("epmd" in cmd and f"ERL_EPMD_PORT={epmd_port}".encode() in environ):
            left.append(f"pid {proc.name}: {cmd[:120]}")
    return left


def kill(server: Server) -> None:
    """SIGKILL: the serve process, or every process of the cluster (the whole control plane and
    the compute processes die at once); then the cluster's broker is stopped (`cluster down`
    finds no process left), so that the next start() is a start after a crash."""
    if server.mode == "embedded":
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        return
    try:
        st = cluster_state(server.home)
    except FileNotFoundError:  # already down
        return
    for p in st["processes"]:
        if alive(p["pid"]):
            os.kill(p["pid"], signal.SIGKILL)
    poll("the cluster's processes gone", lambda: not any(alive(p["pid"]) for p in st["processes"]), 20)
    stop(server)


def stop(server: Server) -> None:
    """A clean stop: SIGTERM to serve (it exits 0), or `cluster down` (nothing of the cluster
    left running: processes, beam.smp, epmd)."""
    if server.mode == "embedded":
        if server.proc.poll() is not None:  # already ended (killed)
            return
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
            raise AssertionError("serve did not stop on SIGTERM within 30 s") from None
        assert server.proc.returncode == 0, server.logs()
        return
    try:
        st = cluster_state(server.home)
    except FileNotFoundError:  # already down
        return
    if "rabbit" not in st:
        return
    p = subprocess.run([str(BIN / "pocketstack"), "cluster", "down"], env=server.env, capture_output=True,
                       text=True, timeout=240)
    assert p.returncode == 0, f"cluster down -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    pids = [pr["pid"] for pr in st["processes"]]
    poll("nothing of the cluster left running", lambda: not _leftovers(pids, st["rabbit"]["epmd_port"]), 30,
         lambda: _leftovers(pids, st["rabbit"]["epmd_port"]))
    assert not Path(st["rabbit"]["dir"]).exists(), f"the broker's directory {st['rabbit']['dir']} is left"
