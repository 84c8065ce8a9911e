"""The DHCP agent (Neutron's, with dnsmasq) on the network node, the control machine.

A network gets a DHCP server while it has instance ports bound to hosts: its DHCP port (a
real port, device_owner network:dhcp, the next free address of the subnet's pool, bound to
the network node) sits in a namespace qdhcp-<network id> joined to the network's bridge on
the node (the L2 agent's ensure_network_on_node), and one dnsmasq there hands each instance
port its fixed IP by MAC. A port bound or gone rewrites the hosts file (dnsmasq re-reads it on
SIGHUP); the last instance port gone, or the network deleted, takes dnsmasq, the namespace
and the DHCP port away, and the node's bridge with them when nothing else is on it.

The plumbing runs through the privileged helper's dhcp-* commands (backend/privileged/
dhcp.py). With no network node configured the agent does nothing (the fake driver's clouds).
A failure is logged, not raised: the guest then keeps network_data.json's static address,
as Neutron's DHCP agent failing does not fail a port binding."""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import subprocess
import uuid

from backend.core import db as dbm
from backend.network.l2_agent import HelperError, run_helper

log = logging.getLogger(__name__)
DEVICE_OWNER = "network:dhcp"
LEASE_SECONDS = 86400  # neutron's dhcp_lease_duration


def namespace(network_id: str) -> str:
    return "qdhcp-" + network_id


def host_name(ip: str) -> str:
    """Neutron's name for a port without DNS integration: host-10-0-0-5."""
    return "host-" + ip.replace(".", "-")


class DhcpAgent:
    def __init__(self, service):
        self.service = service    # the NetworkService: its pool picker and address cache
        self.db = service.db
        self.host = socket.gethostname()
        self._locks: dict[str, asyncio.Lock] = {}
        self._on_node: dict[str, str] = {}  # network -> its bridge on the node, as last made
        self._pending: dict[str, asyncio.Task] = {}  # network -> its newest scheduled sync

    @property
    def enabled(self) -> bool:
        return self.service.l2.node is not None

    def device_id(self, network_id: str) -> str:
        # neutron's get_device_id: dhcp<uuid5 of the agent's host>-<network id>
        return f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, self.host)}-{network_id}"

    # ---- what the network needs -----------------------------------------------------------
    def _subnet(self, network_id: str) -> dict | None:
        """The subnet DHCP serves: the first IPv4 one with enable_dhcp (neutron's agent leaves
        the others out; an instance's address there comes from its config drive only)."""
        return dbm.row(self.db, "SELECT * FROM subnets WHERE network_id=? AND ip_version=4 AND enable_dhcp=1"
                                " ORDER BY created_at LIMIT 1", (network_id,))

    def hosts(self, network_id: str, subnet_id: str) -> list[str]:
        """MAC,IP,NAME of every instance port bound to a host on the subnet."""
        return [f"{p['mac_address']},{p['ip_address']},{host_name(p['ip_address'])}" for p in dbm.rows(
            self.db, "SELECT mac_address, ip_address FROM ports WHERE network_id=? AND subnet_id=?"
                     " AND device_owner LIKE 'compute:%' AND binding_host IS NOT NULL"
                     " AND ip_address IS NOT NULL ORDER BY ip_address", (network_id, subnet_id))]

    def dhcp_port(self, network_id: str) -> dict | None:
        return dbm.row(self.db, "SELECT * FROM ports WHERE network_id=? AND device_owner=?",
                       (network_id, DEVICE_OWNER))

    def _make_port(self, network: dict, subnet: dict) -> dict:
        """The network's DHCP port: the next free address of the pool, as neutron's."""
        svc = self.service
        with dbm.transaction(self.db):
            s, ip = svc._pick_ip([subnet], None)
            pid = str(uuid.uuid4())
            for _ in range(20):
                mac = "fa:16:3e:%02x:%02x:%02x" % tuple(uuid.uuid4().bytes[:3])
                if not dbm.row(self.db, "SELECT 1 x FROM ports WHERE mac_address=?", (mac,)):
                    break
            self.db["ports"].insert({
                "id": pid, "name": "", "network_id": network["id"], "subnet_id": s["id"],
                "project_id": network["project_id"], "mac_address": mac, "ip_address": ip,
                "device_id": self.device_id(network["id"]), "device_owner": DEVICE_OWNER,
                "binding_host": self.host, "status": "DOWN", "created_at": dbm.now_iso()})
        svc._used_ips(s["id"]).add(int(ipaddress.ip_address(ip)))
        return self.dhcp_port(network["id"])

    def _drop_port(self, network_id: str) -> None:
        self.db.conn.execute("DELETE FROM ports WHERE network_id=? AND device_owner=?",
                             (network_id, DEVICE_OWNER))
        self.service._forget_ips()

    # ---- bringing the node in line -----------------------------------------------------------
    def ports_bound(self, network_ids) -> None:
        """Ports were bound on these networks: their DHCP servers take the new hosts while the
        compute host wires the ports; ready() is the provisioning block (Neutron's: a port goes
        ACTIVE only once the DHCP agent has its entry, so the guest asks a server that knows it)."""
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        for nid in sorted(set(network_ids)):
            # each sync takes the network's lock in turn: the newest task finishes after the others
            self._pending[nid] = loop.create_task(self._sync_one(nid))

    async def ready(self, network_ids) -> None:
        """Wait for the DHCP work scheduled on these networks."""
        tasks = [self._pending[n] for n in set(network_ids) if n in self._pending]
        if tasks:
            await asyncio.gather(*tasks)
        for n in set(network_ids):
            t = self._pending.get(n)
            if t is not None and t.done():
                del self._pending[n]

    async def networks_changed(self, network_ids) -> None:
        """Ports went (or came) on these networks: their DHCP servers follow, now."""
        if not self.enabled:
            return
        for nid in sorted(set(network_ids)):
            await self._sync_one(nid)

    async def _sync_one(self, nid: str) -> None:
        async with self._locks.setdefault(nid, asyncio.Lock()):
            try:
                await self._sync(nid)
            except Exception as e:  # the guest falls back to its static address
                log.warning("DHCP for network %s not in line: %s", nid, e)

    async def _sync(self, nid: str) -> None:
        network = dbm.row(self.db, "SELECT * FROM networks WHERE id=?", (nid,))
        subnet = self._subnet(nid) if network else None
        entries = self.hosts(nid, subnet["id"]) if subnet else []
        port = self.dhcp_port(nid)
        if not entries:
            if port is not None or network is None:
                await self._teardown(nid, network is not None)
            return
        if port is None or port["subnet_id"] != subnet["id"]:
            if port is not None:
                self._drop_port(nid)
            port = self._make_port(network, subnet)
        prefix = ipaddress.ip_network(subnet["cidr"]).prefixlen
        args = [port["mac_address"], f"{port['ip_address']}/{prefix}", subnet["gateway_ip"] or "-",
                str(LEASE_SECONDS), *entries]
        bridge = self._on_node.get(nid)
        if bridge is not None:  # the node is on the network already: only the DHCP server
            try:
                await asyncio.to_thread(run_helper, "dhcp-sync", nid, port["id"], bridge, *args)
            except HelperError:
                bridge = None  # its bridge went meanwhile: join again
        if bridge is None:
            bridge = await asyncio.to_thread(self.service.l2.ensure_network_on_node, nid)
            await asyncio.to_thread(run_helper, "dhcp-sync", nid, port["id"], bridge, *args)
            self._on_node[nid] = bridge
        self.db.conn.execute("UPDATE ports SET status='ACTIVE' WHERE id=?", (port["id"],))

    async def _teardown(self, nid: str, network_left: bool) -> None:
        self._on_node.pop(nid, None)
        await asyncio.to_thread(run_helper, "dhcp-teardown", nid)
        self._drop_port(nid)
        if network_left:
            await asyncio.to_thread(self.service.l2.remove_network_from_node, nid)

    def network_deleted(self, network_id: str) -> None:
        """Before the network's rows go; blocking (delete_network is): dnsmasq, namespace,
        DHCP port and the node's bridge (when nothing else is on it) go with the network."""
        had = self.dhcp_port(network_id) is not None
        self._drop_port(network_id)
        self._on_node.pop(network_id, None)
        if self.enabled and had:
            try:
                run_helper("dhcp-teardown", network_id)
                self.service.l2.remove_network_from_node(network_id)
            except (HelperError, OSError, subprocess.TimeoutExpired) as e:
                log.warning("DHCP of deleted network %s not torn down: %s", network_id, e)

    async def leases(self, network_id: str) -> list[dict]:
        """dnsmasq's leases of the network ([] without a network node)."""
        if not self.enabled:
            return []
        return json.loads(await asyncio.to_thread(run_helper, "dhcp-leases", network_id) or "[]")
