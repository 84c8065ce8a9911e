"""The HTTP server against clients that stall, over real sockets on 127.0.0.1 to a real
`pocketstack serve`: 1,000 connections that send half a request header and then nothing do
not keep a normal request from answering, and are closed after the header timeout (or, past
--max-connections, to make room); a body that stops is closed after the body timeout. Also
the public URL: the catalog comes from --public-url (default the listen address), never from
the request's Host header. Waits are bounded; nothing here measures time."""
from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

import httpx
import pytest

from e2ehelp import BIN, HOSTS, PASSWORD, free_port, wait_up

STALLED = 1000
PARTIAL = b"GET /identity/v3 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"


# embedded only: these are serve's flags (--max-connections, the timeouts, --public-url, the
# descriptor limit), which `cluster up` does not pass; a cluster's api process runs the same server
@pytest.fixture
def serve(tmp_path):
    """serve(*flags) -> (url, proc): an initialised cloud served with these flags."""
    procs = []

    def start(*flags, prlimit: str | None = None):
        home = tmp_path / f"home{len(procs)}"
        hosts = tmp_path / "hosts.yaml"
        hosts.write_text(HOSTS)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update({"POCKETSTACK_HOME": str(home), "HOME": str(tmp_path)})
        subprocess.run([str(BIN / "pocketstack"), "init"], env=dict(env, OS_PASSWORD=PASSWORD), check=True,
                       capture_output=True)
        port = free_port()
        err = tmp_path / f"serve{len(procs)}.err"
        with open(err, "w") as e:
            # prlimit: the descriptor limit (soft and hard) the server starts with
            limit = ["prlimit", f"--nofile={prlimit}:{prlimit}"] if prlimit else []
            proc = subprocess.Popen([*limit, str(BIN / "pocketstack"), "serve", "--port", str(port), "--hosts",
                                     str(hosts), *flags], env=env, stdout=subprocess.DEVNULL, stderr=e)
        proc.log_path = err
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_up(url, proc)
        return url, proc

    yield start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@contextmanager
def stalled(url: str, n: int = STALLED, data: bytes = PARTIAL):
    port = int(url.rsplit(":", 1)[1])
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(data)
            s.setblocking(False)
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


def closed_by_server(socks, want: int, within: float = 120.0) -> tuple[int, list[bytes]]:
    """Read every socket until the server has closed at least `want` of them (EOF or reset)
    or `within` seconds passed; returns how many it closed and what they received."""
    sel = selectors.DefaultSelector()
    got = {s: b"" for s in socks}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    closed = 0
    end = time.monotonic() + within
    while closed < want and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.5):
            try:
                chunk = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                chunk = b""
            if chunk:
                got[key.fileobj] += chunk
                continue
            sel.unregister(key.fileobj)
            closed += 1
    sel.close()
    return closed, [v for v in got.values() if v]


def still_open(socks) -> int:
    """How many sockets have nothing to read and no EOF right now (no waiting involved)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    ready = len(sel.select(timeout=0))
    sel.close()
    return len(socks) - ready


def _normal_request(url: str) -> None:
    r = httpx.get(f"{url}/identity/v3", timeout=60)
    assert r.status_code == 200 and r.json()["version"]["id"].startswith("v3")


def test_a_normal_request_answers_while_1000_stalled_connections_are_held(serve):
    url, proc = serve("--header-timeout", "3600", "--max-connections", "2000")
    with stalled(url) as socks:
        _normal_request(url)
        # every stalled connection is still held: the server answered beside them
        assert still_open(socks) == STALLED
        r = httpx.post(f"{url}/identity/v3/auth/tokens", timeout=60, json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"},
                                                           "password": PASSWORD}}}}})
        assert r.status_code == 201
    assert proc.poll() is None


def test_stalled_headers_are_closed_after_the_header_timeout(serve):
    url, proc = serve("--header-timeout", "2")
    with stalled(url) as socks:
        _normal_request(url)
        closed, answers = closed_by_server(socks, STALLED)
        assert closed == STALLED, f"{STALLED - closed} stalled connections still open"
        # those that had sent part of a header are told why
        assert answers and all(a.startswith(b"HTTP/1.1 408 ") for a in answers)
        # a connection that sends nothing at all is closed too
    with stalled(url, n=10, data=b"") as socks:
        assert closed_by_server(socks, 10)[0] == 10
    _normal_request(url)
    assert proc.poll() is None


def test_past_the_connection_limit_the_longest_waiting_are_closed(serve):
    url, proc = serve("--header-timeout", "3600", "--max-connections", "100")
    with stalled(url) as socks:
        _normal_request(url)
        closed, _ = closed_by_server(socks, STALLED - 100)
        assert closed >= STALLED - 100
        # the newest ones are still held (no timeout can have closed them: it is an hour)
        assert still_open(socks[-50:]) == 50
    _normal_request(url)
    assert proc.poll() is None


def test_a_stalled_body_is_closed_after_the_body_timeout(serve):
    url, proc = serve("--body-timeout", "2", "--header-timeout", "3600")
    head = (b"POST /identity/v3/auth/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{\"auth\": ")
    with stalled(url, n=50, data=head) as socks:
        _normal_request(url)
        assert closed_by_server(socks, 50)[0] == 50
    _normal_request(url)
    assert proc.poll() is None
    assert "Traceback" not in proc.log_path.read_text()


def _catalog(url: str, host: str | None = None) -> list[str]:
    headers = {"Host": host} if host else {}
    r = httpx.post(f"{url}/identity/v3/auth/tokens", timeout=60, headers=headers, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    assert r.status_code == 201, r.text
    return [e["url"] for c in r.json()["token"]["catalog"] for e in c["endpoints"]]


def test_the_catalog_comes_from_the_public_url_never_the_host_header(serve):
    url, _ = serve("--public-url", "https://cloud.example:13000/")
    for host in (None, "evil.example", "evil.example:80"):
        urls = _catalog(url, host)
        assert urls and all(u.startswith("https://cloud.example:13000/") for u in urls), (host, urls)
    r = httpx.get(f"{url}/compute/v2.1", headers={"Host": "evil.example"}, timeout=60)
    assert r.json()["version"]["links"][0]["href"] == "https://cloud.example:13000/compute/v2.1/"
    url, _ = serve()  # the default: the listen address
    for host in (None, "evil.example"):
        urls = _catalog(url, host)
        assert urls and all(u.startswith(url + "/") for u in urls), (host, urls)


@pytest.mark.parametrize("bad", ["ftp://x", "http://", "http://x/?q=1", "http://u:p@x", "http://x:99999",
                                 "not a url"])
def test_a_bad_public_url_is_refused(tmp_path, bad):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)})
    p = subprocess.run([str(BIN / "pocketstack"), "serve", "--port", str(free_port()), "--public-url", bad],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--public-url" in p.stderr, p.stderr


def test_the_apps_embedded_api_is_guarded_the_same_way(tmp_path):
    """`pocketstack` (the app) serves the REST API beside it: stalled headers are closed there too
    (after the default header timeout)."""
    from backend.api import create_app
    from backend.api.httpserver import HttpLimits, server
    from backend.facade import BackendThread, Cloud
    from cloudhelp import make_config
    from tui.main import start_api

    config = make_config(tmp_path)
    Cloud.init(config, PASSWORD)
    bt = BackendThread(Cloud(config))
    bt.start()
    try:
        url = start_api(bt, create_app, f"127.0.0.1:{free_port()}", server)
        end = time.monotonic() + 30
        while True:
            try:
                _normal_request(url)
                break
            except httpx.HTTPError:
                assert time.monotonic() < end, "the app's API did not answer"
                time.sleep(0.1)
        with stalled(url, n=20) as socks:
            _normal_request(url)
            closed, answers = closed_by_server(socks, 20, within=HttpLimits().header_timeout + 60)
            assert closed == 20 and len(answers) == 20
            assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers)
    finally:
        srv = getattr(bt, "api_server", None)
        if srv is not None:
            srv.should_exit = True
            bt.api_done.result(timeout=30)
        bt.stop()


def test_the_connection_limit_fits_the_descriptor_limit(serve):
    """With only 400 file descriptors, 1,000 stalled connections would make accept() fail
    (EMFILE) long before --max-connections 1024: serve lowers the limit to what fits, so the
    eviction acts first and a normal request still answers."""
    url, proc = serve("--header-timeout", "3600", prlimit="400")
    with stalled(url) as socks:
        _normal_request(url)
        closed, _ = closed_by_server(socks, STALLED - 400)
        assert closed >= STALLED - 400
    _normal_request(url)
    assert proc.poll() is None
    assert "at most" in proc.log_path.read_text()
