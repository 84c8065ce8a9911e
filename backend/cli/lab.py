"""`pocketstack lab up [--hosts N] | down [--purge] | status`: the local lab (backend.lab.lab)."""
from __future__ import annotations

import sys

from backend.lab import lab
from backend.core.config import default_home


def _up(args) -> int:
    try:
        hosts = lab.up(default_home(), args.hosts, log=lambda m: print(m, flush=True))
    except lab.LabError as e:
        print(f"pocketstack: error: {e}", file=sys.stderr)
        return 1
    _print(hosts)
    print(f"hosts file: {lab.hosts_file(default_home())}")
    return 0


def _down(args) -> int:
    lab.down(default_home(), purge=args.purge, log=lambda m: print(m, flush=True))
    return 0


def _status(args) -> int:
    hosts = lab.status(default_home())
    if not hosts:
        print("no lab here (pocketstack lab up)")
        return 0
    _print(hosts)
    return 0 if all(h["state"] == "up" for h in hosts) else 3


def _print(hosts: list[dict]) -> None:
    cols = ("name", "state", "address", "port", "netns", "guests")
    rows = [[str(h.get(c) if h.get(c) is not None else "-") for c in cols] for h in hosts]
    width = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, width)))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, width)))


def register(subparsers) -> None:
    g = subparsers.add_parser("lab", help="the local lab: compute hosts as sshd on this machine")
    sub = g.add_subparsers(dest="lab_cmd", required=True)
    p = sub.add_parser("up", help="start (or reuse) N lab hosts; writes <home>/lab/hosts.yaml")
    p.add_argument("--hosts", type=int, default=2, choices=range(1, 33), metavar="N")
    p.set_defaults(local=_up)
    p = sub.add_parser("down", help="stop the lab's sshd and guests, remove its namespaces")
    p.add_argument("--purge", action="store_true", help="also remove the hosts' state")
    p.set_defaults(local=_down)
    sub.add_parser("status", help="list the lab's hosts").set_defaults(local=_status)
