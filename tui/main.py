"""`pocketstack` with no arguments: start the backend in this process and serve the REST API
next to it, or attach to a running `pocketstack serve` with --url; then run the app.

tui/ may import only the facade (and errors, config, states), so the REST API reaches us as
a factory the caller passes in: the CLI calls `run_app(argv, asgi_factory=create_app)`."""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.core.config import Config
from backend.core.errors import AlreadyRunning, CloudError
from backend.facade import BackendThread, Cloud


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pocketstack", description="the pocketstack app")
    p.add_argument("--url", help="attach to a running `pocketstack serve`, e.g. http://127.0.0.1:8774")
    p.add_argument("--home", help="state directory (default: $POCKETSTACK_HOME or ~/.local/share/pocketstack)")
    p.add_argument("--hosts", help="hosts.yaml (default: $POCKETSTACK_HOSTS, the lab's, or ./hosts.yaml)")
    p.add_argument("--listen", default=os.environ.get("POCKETSTACK_LISTEN", "127.0.0.1:8774"),
                   help="where the in-process backend serves the REST API (default 127.0.0.1:8774)")
    p.add_argument("--no-serve", action="store_true", help="do not serve the REST API")
    p.add_argument("--user", default=os.environ.get("OS_USERNAME"), help="prefill the username")
    return p.parse_args(argv)


def start_api(backend: BackendThread, factory: Callable[[Cloud], Any], listen: str,
              server_factory: Callable[..., Any] | None = None) -> str:
    """Serve factory(cloud) with uvicorn on the backend's own loop; returns its URL.
    Binds first, so a busy port is an error here rather than a log line later."""
    import uvicorn
    host, _, port = listen.rpartition(":")
    host = host or "127.0.0.1"
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as e:
        sock.close()
        raise CloudError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    if server_factory is not None:  # with the read deadlines and connection limit of `serve`
        server = server_factory(factory(backend.cloud), log_level="critical")
    else:
        server = uvicorn.Server(uvicorn.Config(factory(backend.cloud), log_level="critical",
                                               lifespan="off", access_log=False))
    server.install_signal_handlers = lambda: None  # the app owns the terminal and its signals
    backend.api_server = server
    backend.api_done = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), backend.loop)
    return f"http://{host}:{port}"


def run_remote(url: str, user: str | None) -> int:
    from tui.app import PocketApp
    from tui.remote import RemoteAdapter
    adapter = RemoteAdapter(url)
    try:
        app = PocketApp(adapter, prefill_user=user)
        app.login_hint = f"admin password: the one set on the server at {url} (ask whoever runs it)"
        app.run()
    finally:
        adapter.close_sync()
    return 0


def main(argv: list[str] | None = None,
         asgi_factory: Callable[[Cloud], Any] | None = None,
         server_factory: Callable[..., Any] | None = None) -> int:
    from tui.adapter import LocalAdapter
    from tui.app import PocketApp
    args = parse(argv)
    if args.url:
        return run_remote(args.url, args.user)
    cfg = Config()
    if args.home:
        cfg.home = Path(args.home)
    if args.hosts:
        cfg.hosts_path = Path(args.hosts)
    backend = BackendThread(Cloud(cfg))
    serve = asgi_factory is not None and not args.no_serve
    try:
        backend.start(serve_url=f"http://{args.listen}" if serve else None)
    except AlreadyRunning as e:
        print(f"pocketstack: {e.message}\n  attach to it with: pocketstack --url URL", file=sys.stderr)
        return 1
    except CloudError as e:
        print(f"pocketstack: cannot start the backend: {e.message}", file=sys.stderr)
        return 1
    adapter = LocalAdapter(backend)
    try:
        if serve:
            try:
                api = start_api(backend, asgi_factory, args.listen, server_factory)
                adapter.where = f"in-process, API {api}"
                adapter.journal.auth_url = f"{api}/identity/v3"  # for the `openstack` command lines
            except CloudError as e:
                print(f"pocketstack: {e.message}; the app runs without the REST API", file=sys.stderr)
        from tui.screens.login import password_hint
        app = PocketApp(adapter, prefill_user=args.user)
        app.login_hint = password_hint(cfg.home, os.environ)
        app.run()
    finally:
        server = getattr(backend, "api_server", None)
        if server is not None:
            server.should_exit = True
            try:  # let uvicorn close its connections before the loop goes
                backend.api_done.result(timeout=5)
            except Exception:
                pass
        # stop off the main thread so a wedged backend cannot hang the terminal forever
        t = threading.Thread(target=backend.stop, daemon=True)
        t.start()
        t.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
