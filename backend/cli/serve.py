"""`pocketstack serve [--role ROLE]`: bind the port, start the backend on uvicorn's loop, serve
the API; SIGTERM/SIGINT stop it cleanly (uvicorn's handlers end serve(), then the backend stops).
The roles of a cluster other than `api` serve no HTTP: they run until SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from urllib.parse import urlsplit

from backend.api import create_app
from backend.api.httpserver import HttpLimits, server as http_server
from backend.core.conffile import ConfFileError
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


async def _serve(host: str | None, port: int | None, hosts: str | None, public: str | None = None,
                 limits: HttpLimits | None = None, role: str = "all", conf: str | None = None) -> int:
    try:
        config = Config.load(conf, hosts_path=Path(hosts) if hosts else None, role=role)
    except ConfFileError as e:
        print(f"pocketstack: error: {e}", file=sys.stderr)
        return 2
    if role not in ("all", "api"):
        return await _serve_role(config)
    host = host or config.api_listen
    port = port or config.api_port
    public = public or config.api_public_url or None
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
        print(f"pocketstack {'' if role == 'all' else role + ' '}serving on {shown}\n"
              f"  export OS_AUTH_URL={public}/identity/v3 OS_USERNAME=admin OS_PROJECT_NAME=admin "
              f"OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_PASSWORD=...\n"
              f"  then: pocketstack server list   or   openstack server list", flush=True)
        if not stop_asked:  # a signal during start-up: stop without serving
            await server.serve(sockets=[sock])
    finally:
        await cloud.stop()
        sock.close()
    return 0


async def _serve_role(config: Config) -> int:
    """A conductor, scheduler or compute process: its services on the bus until a signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cloud = Cloud(config)
    try:
        await cloud.start()
    except CloudError as e:
        print(f"pocketstack: error: {e.message}", file=sys.stderr)
        return 1
    try:
        rt = cloud.rt
        names = list(rt.computes)  # hundreds at scale: the log line names the first few
        what = (f" {len(names)} hosts ({', '.join(names[:3])}, ..., {names[-1]})" if len(names) > 8
                else f" hosts {', '.join(names)}" if names else "")
        print(f"pocketstack {config.role} serving as {rt.service.host!r}{what} (pid {os.getpid()})", flush=True)
        await stop.wait()
    finally:
        await cloud.stop()
    return 0


def run(host: str | None, port: int | None, hosts: str | None, public: str | None = None,
        limits: HttpLimits | None = None, role: str = "all", conf: str | None = None) -> int:
    return asyncio.run(_serve(host, port, hosts, public, limits, role, conf))
