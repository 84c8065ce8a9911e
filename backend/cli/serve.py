"""`pocketstack serve`: bind the port, start the backend on uvicorn's loop, serve the API;
SIGTERM/SIGINT stop it cleanly (uvicorn's handlers end serve(), then the backend stops)."""
from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

from urllib.parse import urlsplit

from backend.api import create_app
from backend.api.httpserver import HttpLimits, server as http_server
from backend.core.config import Config
from backend.core.errors import CloudError
from backend.facade import Cloud


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise CloudError(f"cannot listen on {host}:{port}: {e.strerror}")
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def public_url(url: str | None, host: str, port: int) -> str:
    """The root of every URL the API hands out: --public-url, else the listen address."""
    if not url:
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    try:
        u = urlsplit(url)
        u.port  # noqa: B018 (raises on a bad port)
    except ValueError as e:
        raise CloudError(f"--public-url {url!r} is not a URL: {e}") from None
    if u.scheme not in ("http", "https") or not u.hostname or u.query or u.fragment or u.username:
        raise CloudError(f"--public-url {url!r} must be http(s)://host[:port][/path], without query, "
                         "fragment or user")
    return url.rstrip("/")


async def _serve(host: str, port: int, hosts: str | None, public: str | None = None,
                 limits: HttpLimits | None = None) -> int:
    config = Config()
    if hosts:
        config.hosts_path = Path(hosts)
    try:
        public = public_url(public, host, port)
    except CloudError as e:
        print(f"pocketstack: error: {e.message}", file=sys.stderr)
        return 2
    sock = _bind(host, port)
    url = public_url(None, host, port)
    # uvicorn re-raises the signal it caught once serve() returns; with these handlers in
    # place that re-raise is harmless and the backend below still gets stopped cleanly
    stop_asked: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop_asked.append(signum))
    cloud = Cloud(config)
    try:
        await cloud.start(serve_url=url)
    except CloudError as e:
        sock.close()
        print(f"pocketstack: error: {e.message}", file=sys.stderr)
        return 1
    try:
        server = http_server(create_app(cloud, public_url=public), limits)
        shown = url if public == url else f"{url} (public URL {public})"
        print(f"pocketstack serving on {shown}\n"
              f"  export OS_AUTH_URL={public}/identity/v3 OS_USERNAME=admin OS_PROJECT_NAME=admin "
              f"OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_PASSWORD=...\n"
              f"  then: pocketstack server list   or   openstack server list", flush=True)
        if not stop_asked:  # a signal during start-up: stop without serving
            await server.serve(sockets=[sock])
    finally:
        await cloud.stop()
        sock.close()
    return 0


def run(host: str, port: int, hosts: str | None, public: str | None = None,
        limits: HttpLimits | None = None) -> int:
    return asyncio.run(_serve(host, port, hosts, public, limits))
