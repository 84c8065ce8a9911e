"""`cluster up --computes-in-lab`: the control plane (RabbitMQ, PostgreSQL, conductor,
scheduler, api) in this machine's root namespace, one compute process per lab host inside that
host's network namespace (`ip netns exec <ns> pocketstack serve --role compute`), owning that
host. The compute processes reach the broker and the database over the lab network only: both
also listen on the lab bridge's address, RabbitMQ with a user and password of our own (guest
stays loopback-only), PostgreSQL with its password (scram-sha-256) for the lab's subnet."""
from __future__ import annotations

import ipaddress
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from backend.core.config import Config
from backend.core.hosts import HostsFileError, load_hosts
from backend.runtime import resolve_hosts_path

RABBIT_USER = "pocketstack"


@dataclass
class LabPlan:
    bridge: str  # the root namespace's address on the lab bridge: where the broker and database listen
    cidr: str  # the lab's subnet: the database lets it in
    computes: list[tuple[str, Path]]  # (network namespace, hosts file of its one host)
    rabbit_password: str


def plan(config: Config, cdir: Path, error) -> LabPlan:
    """One compute process per host of the hosts file, each in its host's namespace; refused
    (naming the host) when a host has no namespace of its own."""
    try:
        hosts = load_hosts(resolve_hosts_path(config))
    except HostsFileError as e:
        raise error(str(e)) from None
    bare = [h.name for h in hosts if not h.netns]
    if bare or not hosts:
        raise error(f"--computes-in-lab: host(s) {', '.join(bare) or '(none)'} have no network namespace "
                    "(the hosts file of `pocketstack lab up` in netns mode gives each one)")
    bridge, cidr = _bridge_of(hosts[0].address, error)
    computes = []
    for i, h in enumerate(hosts):
        f = cdir / f"hosts-compute-{i + 1}.yaml"
        f.write_text(yaml.safe_dump({"hosts": [h.model_dump(exclude_none=True)]}, sort_keys=False))
        computes.append((h.netns, f))
    return LabPlan(bridge, cidr, computes, secrets.token_hex(16))


def _bridge_of(address: str, error) -> tuple[str, str]:
    """The root namespace's own address towards a lab host, and that interface's subnet."""
    r = subprocess.run(["ip", "-o", "route", "get", address], capture_output=True, text=True, timeout=10)
    words = r.stdout.split()
    if r.returncode != 0 or "src" not in words or "dev" not in words:
        raise error(f"--computes-in-lab: no route to the lab host {address}: is the lab up?")
    src, dev = words[words.index("src") + 1], words[words.index("dev") + 1]
    for line in subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", dev], capture_output=True,
                               text=True, timeout=10).stdout.splitlines():
        iface = ipaddress.ip_interface(line.split()[3])
        if str(iface.ip) == src:
            if iface.ip.is_loopback:
                raise error(f"--computes-in-lab: the lab host {address} is on loopback, not in a namespace")
            return src, str(iface.network)
    raise error(f"--computes-in-lab: {src} is not an address of {dev}")


def transport_url(plan: LabPlan, port: int, at: str) -> str:
    return f"rabbit://{RABBIT_USER}:{plan.rabbit_password}@{at}:{port}/"
