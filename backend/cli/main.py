"""`pocketstack`: init and serve locally; every other command talks HTTP to the server
(OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME; defaults: the local server, admin)."""
from __future__ import annotations

import argparse
import getpass
import math
import os
import sys

from backend.cli import cmd_compute, cmd_other
from backend.cli.client import CliError, Client
from backend.cli.output import err


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        err(f"{self.prog}: {message} (see --help)")
        sys.exit(2)


def admin_password() -> str:
    """$OS_PASSWORD, else asked twice on the terminal. Never a command-line argument: argv
    is readable by every user of the machine (ps, /proc/PID/cmdline)."""
    pw = os.environ.get("OS_PASSWORD")
    if pw:
        return pw
    if not sys.stdin.isatty():
        raise CliError("no admin password: set OS_PASSWORD, or run init in a terminal to be asked")
    pw = getpass.getpass("New admin password: ")
    if not pw:
        raise CliError("the admin password must not be empty")
    if getpass.getpass("Repeat it: ") != pw:
        raise CliError("the two passwords differ; nothing was changed")
    return pw


def cmd_init(args) -> int:
    from backend.core.config import Config
    from backend.facade import Cloud
    summary = Cloud.init(Config(), admin_password())
    for k, v in (summary or {}).items():
        print(f"{k}: {v}")
    return 0


def cmd_db_sync(args) -> int:
    from backend.core.config import Config
    from backend.facade import Cloud
    # pocketstack.conf's [database] connection ($POCKETSTACK_CONFIG_FILE), then the environment
    for k, v in Cloud.db_sync(Config.load(), args.revision).items():
        print(f"{k}: {v}")
    return 0


def cmd_serve(args) -> int:
    from backend.api.httpserver import HttpLimits
    from backend.cli import serve
    limits = HttpLimits(args.header_timeout, args.body_timeout, args.max_connections)
    return serve.run(args.host, args.port, args.hosts, args.public_url, limits, args.role, args.config_file)


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
        return v
    return parse


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("-f", "--format", choices=("table", "json"), default="table")
    parser = Parser(prog="pocketstack", description=__doc__.splitlines()[0])
    groups = parser.add_subparsers(dest="group", required=True, parser_class=Parser)
    p = groups.add_parser("init", help="create the state directory, admin, flavors, network "
                                       "(admin password: $OS_PASSWORD, else asked)")
    p.set_defaults(local=cmd_init)
    db = groups.add_parser("db", help="the database").add_subparsers(dest="cmd", required=True,
                                                                     parser_class=Parser)
    p = db.add_parser("sync", help="upgrade the schema to the newest revision (a database made by an "
                                   "earlier version is upgraded in place; the backend also does it on start)")
    p.add_argument("--revision", default="head", help="the revision to upgrade to (default: head)")
    p.set_defaults(local=cmd_db_sync)
    p = groups.add_parser("serve", help="run the REST API (and the whole backend)")
    p.add_argument("--host", help="listen address (default: [api] listen, 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: [api] port, 8774)")
    p.add_argument("--hosts", help="hosts.yaml (default: $POCKETSTACK_HOSTS or ./hosts.yaml)")
    p.add_argument("--role", choices=("all", "api", "conductor", "scheduler", "compute"), default="all",
                   help="what this process serves: all (one process, the default) or one service of a "
                        "cluster over RabbitMQ (docs/cluster.md)")
    p.add_argument("--config-file", metavar="FILE",
                   help="pocketstack.conf (default: $POCKETSTACK_CONFIG_FILE; none: defaults)")
    p.add_argument("--public-url", help="root of the catalog and every link (default: http://HOST:PORT)")
    p.add_argument("--header-timeout", type=_positive(float), default=10.0, metavar="S",
                   help="close a connection whose request header is not whole after S seconds (10)")
    p.add_argument("--body-timeout", type=_positive(float), default=30.0, metavar="S",
                   help="close a connection whose request body stops for S seconds (30)")
    p.add_argument("--max-connections", type=_positive(int), default=1024, metavar="N",
                   help="past N open connections, the longest-idle one is closed (1024)")
    p.set_defaults(local=cmd_serve)
    cmd_compute.register(groups, fmt)
    images = cmd_other.register(groups, fmt)
    _optional(groups, images)
    return parser


def _optional(groups, images) -> None:
    """Commands other modules own; the CLI works without them until they land."""
    from backend.cli import cluster
    cluster.register(groups)
    try:
        from backend.cli import lab
    except ImportError:
        lab = None
    if lab is not None:
        lab.register(groups)
    try:
        from backend.cli import tiny
    except ImportError:
        tiny = None
    if tiny is not None:
        p = images.add_parser("build-tiny", help="build the tiny guest image and upload it")
        if hasattr(tiny, "add_arguments"):
            tiny.add_arguments(p)
        p.set_defaults(local=tiny.run)


APP_OPTIONS = ("--url", "--home", "--hosts", "--listen", "--no-serve", "--user")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].split("=")[0] in APP_OPTIONS:  # no command: the app
        from backend.api import create_app
        from backend.api.httpserver import server
        from tui.app import run_app
        return run_app(argv, asgi_factory=create_app, server_factory=server)
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "local", None):
            rc = args.local(args)
        elif getattr(args, "func", None):
            args.func(Client(), args)
            rc = 0
        else:
            raise CliError("nothing to do (see --help)")
    except CliError as e:
        err(str(e))
        return 1
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except Exception as e:  # the facade's errors in init/serve, and anything unforeseen
        msg = getattr(e, "message", None) or str(e) or type(e).__name__
        err(msg.splitlines()[0] if msg else type(e).__name__)
        return 1
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
