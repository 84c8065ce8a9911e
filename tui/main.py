"""`pocketstack` with no arguments: start the backend in this process (and serve the REST
API next to it when the API package is there), or attach to one with --url; then run the app."""
from __future__ import annotations

import argparse
import os
import sys
import threading

from backend.config import Config
from backend.errors import CloudError
from backend.facade import BackendThread, Cloud


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pocketstack", description="the pocketstack app")
    p.add_argument("--url", help="attach to a running `pocketstack serve` (e.g. http://127.0.0.1:8774)")
    p.add_argument("--home", help="state directory (default: $POCKETSTACK_HOME or ~/.local/share/pocketstack)")
    p.add_argument("--hosts", help="hosts.yaml (default: $POCKETSTACK_HOSTS or ./hosts.yaml)")
    p.add_argument("--listen", default=os.environ.get("POCKETSTACK_LISTEN", "127.0.0.1:8774"),
                   help="where the in-process backend serves the REST API (default 127.0.0.1:8774)")
    p.add_argument("--no-serve", action="store_true", help="do not serve the REST API")
    p.add_argument("--user", default=os.environ.get("OS_USERNAME"), help="prefill the username")
    return p.parse_args(argv)


def start_api(cloud: Cloud, backend: BackendThread, listen: str) -> tuple[str | None, str]:
    """Serve backend.api.app.create_app(cloud) with uvicorn on the backend's loop.
    Returns (url or None, a note for the user)."""
    try:
        from backend.api.app import create_app  # owned by the API engineer
        import uvicorn
    except ImportError:
        return None, "REST API not available in this build"
    host, _, port = listen.rpartition(":")
    server = uvicorn.Server(uvicorn.Config(create_app(cloud), host=host or "127.0.0.1",
                                           port=int(port), log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None  # the app owns the terminal's signals
    backend.loop.call_soon_threadsafe(lambda: backend.loop.create_task(server.serve()))
    return f"http://{host or '127.0.0.1'}:{port}", "serving"


def main(argv: list[str] | None = None) -> int:
    from tui.app import PocketApp
    args = parse(argv)
    if args.url:
        from tui.remote import RemoteAdapter
        adapter = RemoteAdapter(args.url)
        app = PocketApp(adapter)
        app.run()
        return 0
    cfg = Config()
    if args.home:
        cfg.home = __import__("pathlib").Path(args.home)
    if args.hosts:
        cfg.hosts_path = __import__("pathlib").Path(args.hosts)
    cloud = Cloud(cfg)
    backend = BackendThread(cloud)
    serve_url = None if args.no_serve else f"http://{args.listen}"
    try:
        backend.start(serve_url=serve_url)
    except CloudError as e:
        print(f"pocketstack: cannot start the backend: {e.message}", file=sys.stderr)
        return 1
    url = None
    if not args.no_serve:
        url, note = start_api(cloud, backend, args.listen)
        if url is None:
            print(f"pocketstack: {note}; the app runs without it", file=sys.stderr)
    from tui.adapter import LocalAdapter
    adapter = LocalAdapter(backend)
    adapter.where = f"in-process, API {url}" if url else "in-process"
    try:
        PocketApp(adapter, prefill_user=args.user).run()
    finally:
        t = threading.Thread(target=backend.stop, daemon=True)
        t.start()
        t.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
