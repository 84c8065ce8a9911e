"""The control side of L2 (Neutron's ML2 with l2population, and the network node's
linuxbridge agent).

- Segmentation ids: one VXLAN VNI per network, a free one at random, unique in the cloud.
- Flooding lists: a host's VXLAN of a network floods to every other host with ports bound on
  that network, and to the network node (the control machine, as devstack's). When a host
  gains its first or loses its last port on a network, every other host on it (and the
  network node) is told its new list, each list stamped with a sequence number so a host
  never applies an older one over a newer.
- The network node: `ensure_network_on_node(network)` joins the control machine to a network
  (bridge + VXLAN + flooding list) for DHCP and routers in namespaces; the privileged helper
  runs locally (as root directly, else through `sudo -n`).
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import subprocess
import time
from pathlib import Path

from backend.compute import rpcapi as compute_rpcapi
from backend.core import db as dbm
from backend.core.errors import Conflict
from backend.privileged import SUDO_ARGV
from backend.privileged.l2 import bridge_name, tap_name, vxlan_name  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)
NETWORK_TYPE = "vxlan"
VNI_MIN, VNI_MAX = 1, 16777215
_SOURCE = Path(__file__).resolve().parent.parent / "privileged"


class HelperError(RuntimeError):
    pass


def helper_argv() -> list[str]:
    """The local helper: the project's own copy when we are root, else the installed one
    through sudo (the only thing the sudoers line allows)."""
    if os.geteuid() == 0:
        return ["/usr/bin/python3", "-I", str(_SOURCE)]
    return list(SUDO_ARGV)


def run_helper(*args: str, timeout: float = 30) -> str:
    p = subprocess.run(helper_argv() + list(args), capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise HelperError(f"privileged helper {args[0]} failed ({p.returncode}): "
                          f"{(p.stderr or p.stdout).strip()[-400:]}")
    return p.stdout


class L2Agent:
    def __init__(self, db):
        self.db = db
        self.node = None          # backend.core.hosts.NetworkNode (hosts.yaml), None = no node
        self.bus = None           # set by the runtime: flooding lists go to compute.<host>
        self._node_locks: dict[str, asyncio.Lock] = {}
        self._node_tasks: set[asyncio.Task] = set()
        self.loop = None          # set by the runtime: the loop whose thread owns the connection

    # ---- segmentation ids ------------------------------------------------------------------
    def allocate_segment(self) -> int:
        """A free VNI picked at random, as Neutron's tunnel type drivers pick from the free
        pool: clouds sharing this machine's network node (a lab and a test's) rarely meet."""
        used = {r["segmentation_id"] for r in dbm.rows(
            self.db, "SELECT segmentation_id FROM networks WHERE segmentation_id IS NOT NULL")}
        for _ in range(100):
            vni = random.randint(VNI_MIN, VNI_MAX)
            if vni not in used:
                return vni
        raise Conflict("no free VXLAN segmentation id")

    def segment(self, network_id: str) -> int:
        """The network's VNI; a network made before segments existed gets one now."""
        n = dbm.row(self.db, "SELECT segmentation_id FROM networks WHERE id=?", (network_id,))
        if n["segmentation_id"] is not None:
            return n["segmentation_id"]
        with dbm.transaction(self.db):
            vni = self.allocate_segment()
            self.db.conn.execute("UPDATE networks SET segmentation_id=? WHERE id=? AND segmentation_id IS NULL",
                                 (vni, network_id))
        return dbm.row(self.db, "SELECT segmentation_id FROM networks WHERE id=?", (network_id,))["segmentation_id"]

    # ---- who is on a network ------------------------------------------------------------------
    def members(self, network_id: str) -> dict[str, str]:
        """host -> VTEP address of every host with a port bound on the network."""
        return {r["binding_host"]: r["binding_vtep"] for r in dbm.rows(
            self.db, "SELECT DISTINCT binding_host, binding_vtep FROM ports WHERE network_id=?"
                     " AND binding_host IS NOT NULL AND binding_vtep IS NOT NULL", (network_id,))}

    def peers(self, network_id: str, host: str | None, members: dict[str, str] | None = None) -> list[str]:
        """The flooding list of host's VXLAN on the network (host None: the network node's);
        members: the network's members when the caller read them already."""
        m = self.members(network_id) if members is None else members
        own = m.get(host) if host else (self.node.local_ip if self.node else None)
        out = sorted({v for h, v in m.items() if h != host and v != own})
        if host is not None and self.node and self.node.local_ip != own:
            out.append(self.node.local_ip)
        return out

    def vif_details(self, network_id: str, host: str) -> dict:
        """What the host's plugging needs beyond the port: the VNI and the flooding list."""
        return {"network_type": NETWORK_TYPE, "segmentation_id": self.segment(network_id),
                "peers": self.peers(network_id, host), "peers_seq": time.time_ns()}

    def hosts_on(self, network_id: str) -> set[str]:
        return set(self.members(network_id))

    async def membership_changed(self, ctx, network_ids, host: str) -> None:
        """host joined or left these networks: every other member and the network node get
        their new flooding list (Neutron's l2population fdb_add/fdb_remove)."""
        for nid in sorted(set(network_ids)):
            vni = self.segment(nid)
            if self.bus is not None:
                api = compute_rpcapi.ComputeAPI(self.bus)
                members = self.members(nid)  # read once: one query per network, not one per host
                for other in sorted(set(members) - {host}):
                    try:  # (a cluster's compute hosts are served by other processes)
                        api.update_network_peers(ctx, other, network_id=nid, segmentation_id=vni,
                                                 peers=self.peers(nid, other, members), seq=time.time_ns())
                    except Exception as e:  # a host no compute serves any more: nothing to tell
                        log.warning("host %s: flooding list of VNI %s not sent: %s", other, vni, e)
            if self.node is not None:  # as the casts to the hosts: the caller does not wait for it
                task = asyncio.get_running_loop().create_task(self._node_flood(nid, vni))
                self._node_tasks.add(task)
                task.add_done_callback(self._node_tasks.discard)

    async def _node_flood(self, nid: str, vni: int) -> None:
        # one update of a network's list on the node at a time, from the database as it is then:
        # concurrent ones would race on the same entries, and an older list could win
        async with self._node_locks.setdefault(nid, asyncio.Lock()):
            try:
                await asyncio.to_thread(run_helper, "set-flood", str(vni), *self.peers(nid, None))
            except (HelperError, OSError, subprocess.TimeoutExpired) as e:
                log.warning("network node: flooding list of VNI %s not updated: %s", vni, e)

    async def settle(self) -> None:
        """Wait for the network node's flooding-list updates in flight (tests, shutdown)."""
        while self._node_tasks:
            await asyncio.gather(*list(self._node_tasks), return_exceptions=True)

    # ---- the network node ---------------------------------------------------------------------
    def ensure_network_on_node(self, network: dict | str) -> str:
        """The control machine joins the network (bridge, VXLAN, flooding list to every host
        with ports on it); returns the bridge's name. Blocking: call it in a thread."""
        if self.node is None:
            raise HelperError("no network node: hosts.yaml has no network_node section with local_ip")
        nid = network if isinstance(network, str) else network["id"]
        vni, peers = self._on_loop(lambda: (self.segment(nid), self.peers(nid, None)))
        bridge = bridge_name(nid)
        run_helper("plug-network", bridge, str(vni), self.node.local_ip, *peers)
        return bridge

    def _on_loop(self, fn):
        """fn() where the database connection belongs: on the loop's thread. The DHCP and L3
        agents call the node's plumbing from worker threads; one connection used from two
        threads deadlocks SQLite (its mutex against the GIL, through the view-cache triggers)."""
        loop = self.loop
        if loop is None or not loop.is_running():
            return fn()
        try:
            if asyncio.get_running_loop() is loop:
                return fn()
        except RuntimeError:
            pass  # a worker thread: no loop of its own

        async def call():
            return fn()
        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=120)

    def remove_network_from_node(self, network: dict | str) -> bool:
        """The bridge and VXLAN go from the control machine, unless something (a DHCP or
        router namespace's veth) is still on the bridge. True when removed."""
        import json
        nid = network if isinstance(network, str) else network["id"]
        out = run_helper("unplug-network", bridge_name(nid), str(self._on_loop(lambda: self.segment(nid))))
        return bool(json.loads(out or "{}").get("removed"))


class L2PortBinding:
    """Mixed into NetworkService: port binding as ML2 reports it (binding:host_id,
    binding:vif_type, status DOWN until the host wired the port, then ACTIVE and nova's
    network-vif-plugged event to the compute host), and the l2population hooks."""

    def _l2_hosts(self, instance_uuid) -> set[tuple[str, str]]:
        """(network, host) of every port of the instance bound to a host with a VTEP."""
        return {(r["network_id"], r["binding_host"]) for r in dbm.rows(
            self.db, "SELECT network_id, binding_host FROM ports WHERE device_id=? AND binding_host IS NOT NULL"
                     " AND binding_vtep IS NOT NULL", (instance_uuid,))}

    async def _bind_l2(self, ctx, instance_uuid, host, vif_type, vtep, info: list[dict]) -> list[dict]:
        """The instance's ports are bound to host (status DOWN until the host wires them);
        the networks the host newly joins are announced to their other hosts."""
        before = {nid for nid in {i["network_id"] for i in info} if host in self.l2.hosts_on(nid)}
        self.db.conn.execute("UPDATE ports SET binding_vif_type=?, binding_vtep=?, status='DOWN' WHERE device_id=?",
                             (vif_type, vtep if vif_type == "bridge" else None, instance_uuid))
        out = [dict(i, **self.l2.vif_details(i["network_id"], host), vif_type=vif_type) for i in info]
        if vif_type == "bridge" and vtep:
            joined = {i["network_id"] for i in info} - before
            if joined:
                await self.l2.membership_changed(ctx, joined, host)
        return out

    async def _l2_left(self, ctx, was: set[tuple[str, str]]) -> None:
        """After ports went: the networks a host no longer has ports on are announced."""
        for nid, host in sorted(was):
            if dbm.row(self.db, "SELECT 1 x FROM networks WHERE id=?", (nid,)) and host not in self.l2.hosts_on(nid):
                await self.l2.membership_changed(ctx, [nid], host)

    async def get_instance_nw_info(self, ctx, instance_uuid) -> list[dict]:
        """The instance's network_info as it stands (nova's _get_instance_nw_info): for a
        re-plug on start and reboot, and for the unplug on delete."""
        out = []
        for p in dbm.rows(self.db, "SELECT id, network_id, binding_host, binding_vif_type FROM ports"
                                   " WHERE device_id=? AND subnet_id IS NOT NULL ORDER BY created_at", (instance_uuid,)):
            out.append(dict(self.network_info(p["id"]), **self.l2.vif_details(p["network_id"], p["binding_host"]),
                            vif_type=p["binding_vif_type"] or "unbound"))
        return out

    async def update_device_up(self, ctx, instance_uuid, host, port_ids) -> None:
        """The host wired these ports (the linuxbridge agent's update_device_up): they go
        ACTIVE and the compute host gets nova's network-vif-plugged event for each."""
        # the DHCP agent's provisioning block: its entry for these ports comes first
        await self.dhcp.ready({r["network_id"] for r in dbm.rows(
            self.db, f"SELECT network_id FROM ports WHERE id IN ({','.join('?' * len(port_ids))})",
            tuple(port_ids))})
        for pid in port_ids:
            cur = self.db.conn.execute("UPDATE ports SET status='ACTIVE' WHERE id=? AND device_id=? AND binding_host=?",
                                       (pid, instance_uuid, host))
            if cur.rowcount and self.l2.bus is not None:
                compute_rpcapi.ComputeAPI(self.l2.bus).external_instance_event(
                    ctx, host, instance_uuid=instance_uuid, name="network-vif-plugged", tag=pid)

    def _l2_net_fields(self, ctx, n) -> dict:
        """Neutron's provider attributes, for admins (its policy hides them from others)."""
        if ctx is None or not ctx.is_admin:
            return {}
        return {"provider:network_type": NETWORK_TYPE, "provider:physical_network": None,
                "provider:segmentation_id": n["segmentation_id"]}

    @staticmethod
    def _l2_port_fields(p) -> dict:
        bound = p["binding_host"] is not None
        return {"binding:host_id": p["binding_host"] or "", "binding:vnic_type": "normal",
                "binding:vif_type": (p["binding_vif_type"] or "other") if bound else "unbound"}
