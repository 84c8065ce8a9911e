"""Neutron's L3 agent on the network node (the control machine, as devstack's): for each
router the database holds, the privileged helper's `sync-router` states the whole wanted
namespace (qrouter-<id[:8]>: a qg- leg on the external bridge with the gateway IP and the
floating IPs, a qr- leg per interface on its network's bridge, SNAT, DNAT); a router that is
gone, or has neither gateway nor interface, is unplugged. The external bridge (devstack's
br-ex) holds each external subnet's gateway address and is never forwarded beyond this machine.

The agent runs after the API's write (the facade awaits it), so a client sees the plumbing
done when its call returns; a plumbing failure marks the router ERROR (its status), logged."""
from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
from pathlib import Path

from backend.core import db as dbm
from backend.network.routers import ROUTER_GATEWAY

log = logging.getLogger(__name__)


def namespace(router_id: str) -> str:
    return "qrouter-" + router_id[:8]


def legs(port_id: str, prefix: str) -> tuple[str, str]:
    """(inside the namespace, on the bridge): Neutron's linuxbridge names."""
    return prefix + port_id[:11], "tap" + port_id[:11]


def external_bridge_name(home: Path | str) -> str:
    """psx<id>: unique per state directory, as the lab's own names are (one cloud per home)."""
    return "psx" + hashlib.sha1(str(Path(home).resolve()).encode()).hexdigest()[:8]


class L3Agent:
    def __init__(self, network, bridge: str, helper=None, ensure_network=None, remove_network=None):
        """network: the NetworkService; helper(*args) -> stdout runs the privileged helper;
        ensure_network(network_id) -> bridge joins the node to a tenant network (L2)."""
        self.net = network
        self.bridge = bridge
        if helper is None:
            from backend.network.l2_agent import run_helper as helper
        self.helper = helper
        self.ensure_network = ensure_network or (lambda nid: network.l2.ensure_network_on_node(nid))
        self.remove_network = remove_network or (lambda nid: network.l2.remove_network_from_node(nid))
        self._lock = asyncio.Lock()
        self._networks: dict[str, set[str]] = {}   # router -> tenant networks it had legs on

    @property
    def db(self):
        return self.net.db

    # ---- what the database wants ------------------------------------------------------------
    def external_addresses(self) -> list[str]:
        """gateway_ip/prefix of every external subnet some router has its gateway on."""
        out = []
        for s in dbm.rows(self.db, "SELECT DISTINCT s.cidr, s.gateway_ip FROM routers r JOIN ports p ON"
                                   " p.id=r.gw_port_id JOIN subnets s ON s.id=p.subnet_id"
                                   " WHERE s.gateway_ip IS NOT NULL ORDER BY s.cidr"):
            out.append(f"{s['gateway_ip']}/{ipaddress.ip_network(s['cidr']).prefixlen}")
        return out

    def wanted(self, router_id: str) -> tuple[list | None, set[str]]:
        """The sync-router arguments (None: unplug) and the tenant networks of its legs. A
        leg's bridge is left as ("bridge-of", network_id): joining the network is plumbing,
        done with the rest off the event loop; this reads the database only."""
        r = dbm.row(self.db, "SELECT * FROM routers WHERE id=?", (router_id,))
        if r is None or not r["admin_state_up"]:  # an administratively down router forwards nothing
            return None, set()
        interfaces = self.net.router_interfaces(router_id)
        gw = dbm.row(self.db, "SELECT p.*, s.cidr, s.gateway_ip FROM ports p JOIN subnets s ON s.id=p.subnet_id"
                              " WHERE p.id=? AND p.device_owner=?", (r["gw_port_id"] or "", ROUTER_GATEWAY))
        if gw is not None and not gw["gateway_ip"]:
            log.warning("router %s: external subnet %s has no gateway IP; its gateway is not plumbed",
                        router_id, gw["subnet_id"])
            gw = None
        if gw is None and not interfaces:
            return None, set()
        args = [namespace(router_id)]
        if gw is not None:
            plen = ipaddress.ip_network(gw["cidr"]).prefixlen
            args += ["--gateway", *legs(gw["id"], "qg-"), self.bridge, gw["mac_address"],
                     f"{gw['ip_address']}/{plen}", gw["gateway_ip"]]
        nets = set()
        for leg in interfaces:
            bridge = ("bridge-of", leg["network_id"])
            nets.add(leg["network_id"])
            plen = ipaddress.ip_network(leg["cidr"]).prefixlen
            args += ["--leg", *legs(leg["id"], "qr-"), bridge, leg["mac_address"], f"{leg['ip_address']}/{plen}"]
        if gw is not None:
            if r["enable_snat"]:
                for leg in interfaces:
                    args += ["--snat", leg["cidr"]]
            for f in self.net.floatingips_of_router(router_id):
                args += ["--fip", f["floating_ip_address"], f["fixed_ip_address"]]
        return args, nets

    # ---- doing it ----------------------------------------------------------------------------
    async def sync_router(self, router_id: str) -> None:
        """Read what the database wants (on the loop, which owns the connection), plumb it in
        a thread, record the outcome as the router's status."""
        async with self._lock:
            try:
                args, nets = self.wanted(router_id)
                ext = self.external_addresses()
                gone = sorted(n for n in self._networks.pop(router_id, set()) - nets
                              if not any(n in other for other in self._networks.values()))
                if nets:
                    self._networks[router_id] = nets
                await asyncio.to_thread(self._apply, router_id, args, ext, gone)
                status = "ACTIVE"
            except Exception as e:  # the helper's failure, or the network node's
                log.error("router %s: plumbing failed: %s", router_id, e)
                status = "ERROR"
            self.db.conn.execute("UPDATE routers SET status=? WHERE id=? AND status!=?",
                                 (status, router_id, status))

    def _apply(self, router_id: str, args, ext: list[str], gone: list[str]) -> None:
        if args is not None:
            args = [self.ensure_network(a[1]) if isinstance(a, tuple) else a for a in args]
        if ext:
            self.helper("ensure-external", self.bridge, *ext)
        if args is None:
            self.helper("unplug-router", namespace(router_id))
        else:
            self.helper("sync-router", *args)
        for nid in gone:
            # the node's bridge of a network no router leg of ours is on any more (L2 keeps
            # it while anything else, a DHCP namespace or another router, is still on it)
            try:
                self.remove_network(nid)
            except Exception as e:
                log.warning("network %s: the network node's bridge not removed: %s", nid, e)
        if not ext:
            self.helper("remove-external", self.bridge)

    async def sync_all(self) -> None:
        """Every router the database holds (after a restart). Namespaces of routers it does
        not hold are left alone: another cloud on this machine may own them."""
        for r in dbm.rows(self.db, "SELECT id FROM routers ORDER BY created_at"):
            await self.sync_router(r["id"])
