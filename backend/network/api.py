"""Network (neutron): the service, made of one mixin per resource (networks.py, subnets.py,
ports.py, routers.py, floatingips.py, secgroups.py, updates.py), and the queue endpoints
compute calls while it builds and deletes instances."""
from __future__ import annotations

import ipaddress

from backend.core import db as dbm
from backend.core.errors import Conflict
from backend.network.dhcp_agent import DhcpAgent
from backend.network.fixed_ips import FixedIPMixin
from backend.network.floatingips import FloatingIPMixin
from backend.network.l2_agent import L2Agent, L2PortBinding
from backend.network.networks import NetworkMixin
from backend.network.ports import PortMixin
from backend.network.routers import RouterMixin
from backend.network.secgroups import SecurityGroups
from backend.network.subnets import SubnetMixin
from backend.network.updates import NetworkUpdates


class NetworkService(NetworkUpdates, NetworkMixin, SubnetMixin, PortMixin, FixedIPMixin, RouterMixin,
                     FloatingIPMixin, SecurityGroups, L2PortBinding):
    def __init__(self, db, config):
        self.db = db
        self.config = config
        self.l2 = L2Agent(db)  # segments, flooding lists, the network node (backend/network/l2_agent.py)
        self.dhcp = DhcpAgent(self)  # dnsmasq per network on the node (backend/network/dhcp_agent.py)
        # routers whose plumbing the L3 agent must bring in line (backend/network/l3_agent.py)
        self.l3_pending: set[str] = set()
        # used addresses per subnet, as ints: this service is the only writer of ports, so
        # the cache stays true; scanning the table per allocation was O(ports)
        self._used: dict[str, set[int]] = {}

    # ---- queue endpoints (compute asks for ports during 'networking') ----------------
    async def allocate_for_instance(self, ctx, instance_uuid, project_id, host, requested, zone="nova",
                                    vif_type="other", vtep=None):
        """requested: "auto" | "none" | [{"uuid"} | {"port"} | {"uuid", "fixed_ip"}]. Returns
        network_info for the driver; on any failure nothing it made remains. The ports are
        bound to host (vif_type, and its VXLAN endpoint vtep), status DOWN until it wires them."""
        made = []
        try:
            if requested == "none":
                return []
            if requested in (None, "auto"):
                requested = [{"uuid": self.auto_network(ctx, project_id)["id"]}]
            info = []
            # ports an earlier copy of this same request made (a call is delivered again when
            # the process serving it died before its ack): taken up again, not made twice
            # (by device_id too: its index, where created_for alone scanned every port per build)
            earlier = dbm.rows(self.db, "SELECT id, network_id, ip_address FROM ports WHERE device_id=? AND"
                                        " created_for=? ORDER BY created_at", (instance_uuid, instance_uuid))
            for req in requested:
                again = None if req.get("port") else next(
                    (p for p in earlier if p["network_id"] == req["uuid"]
                     and req.get("fixed_ip") in (None, p["ip_address"])), None)
                if again is not None:
                    earlier.remove(again)
                    self.db.conn.execute("UPDATE ports SET device_owner=?, binding_host=? WHERE id=?",
                                         (f"compute:{zone}", host, again["id"]))
                    info.append(self.network_info(again["id"]))
                    continue
                if req.get("port"):
                    p = self._find_port(ctx, req["port"])
                    if p["device_id"] and p["device_id"] != instance_uuid:  # ours: a copy bound it
                        raise Conflict(f"port {p['id']} is already in use")
                    if not p["ip_address"]:
                        raise Conflict(f"port {p['id']} has no fixed IP (its network has no subnet)")
                    self.db.conn.execute("UPDATE ports SET device_id=?, device_owner=?, binding_host=?, status='ACTIVE'"
                                         " WHERE id=?", (instance_uuid, f"compute:{zone}", host, p["id"]))
                    if p["device_id"] != instance_uuid:
                        made.append(("bound", p["id"]))
                else:
                    # the server's groups (nova's instance.security_groups); none asked: default
                    sgs = [g["id"] for g in self.server_groups(instance_uuid)] or None
                    p = self.create_port(ctx, req["uuid"], fixed_ip=req.get("fixed_ip"), device_id=instance_uuid,
                                         device_owner=f"compute:{zone}", host=host, project_id=project_id,
                                         security_groups=sgs)
                    made.append(("created", p["id"]))
                info.append(self.network_info(p["id"]))
            out = await self._bind_l2(ctx, instance_uuid, host, vif_type, vtep, info)
            self.dhcp.ports_bound({i["network_id"] for i in info})  # ready before the ports go ACTIVE
            return out
        except Exception:
            for kind, pid in made:
                if kind == "created":
                    self.db.conn.execute("DELETE FROM ports WHERE id=?", (pid,))
                    self._forget_ips()
                else:
                    self.db.conn.execute("UPDATE ports SET device_id='', device_owner='', binding_host=NULL,"
                                         " status='DOWN', binding_vif_type=NULL, binding_vtep=NULL WHERE id=?", (pid,))
            raise

    def network_info(self, port_id):
        p = dbm.row(self.db, "SELECT p.*, s.cidr, s.gateway_ip, n.name network_name FROM ports p"
                             " JOIN subnets s ON s.id=p.subnet_id JOIN networks n ON n.id=p.network_id"
                             " WHERE p.id=?", (port_id,))
        net = ipaddress.ip_network(p["cidr"])
        return {"port_id": p["id"], "mac_address": p["mac_address"], "fixed_ip": p["ip_address"],
                "network_id": p["network_id"], "network_name": p["network_name"], "cidr": p["cidr"],
                "gateway": p["gateway_ip"], "prefixlen": net.prefixlen, "netmask": str(net.netmask)}

    async def deallocate_for_instance(self, ctx, instance_uuid, host=None):
        """Delete the ports made for the instance; unbind ports the user brought. host: only
        those bound to that host (a failed attempt's: a copy of this call delivered again after
        the build was rescheduled leaves the next attempt's ports alone)."""
        on, args = ("", ()) if host is None else (" AND binding_host=?", (host,))
        l2_was = {(n, h) for n, h in self._l2_hosts(instance_uuid) if host in (None, h)}
        dhcp_nets = {r["network_id"] for r in dbm.rows(self.db, "SELECT network_id FROM ports WHERE device_id=?" + on,
                                                       (instance_uuid, *args))}
        self._ports_going([p["id"] for p in dbm.rows(self.db, "SELECT id FROM ports WHERE device_id=?" + on,
                                                     (instance_uuid, *args))])
        self.db.conn.execute("DELETE FROM ports WHERE created_for=?" + on, (instance_uuid, *args))  # port_ips cascade
        self._forget_ips()
        self.db.conn.execute("UPDATE ports SET device_id='', device_owner='', binding_host=NULL, status='DOWN',"
                             " binding_vif_type=NULL, binding_vtep=NULL WHERE device_id=?" + on, (instance_uuid, *args))
        await self._l2_left(ctx, l2_was)
        await self.dhcp.networks_changed(dhcp_nets)
        await self.l3_sync()

    def addresses(self, instance_uuid) -> dict:
        out: dict[str, list] = {}
        for p in dbm.rows(self.db, "SELECT p.ip_address, p.mac_address, n.name, f.floating_ip_address FROM ports p"
                                   " JOIN networks n ON n.id=p.network_id LEFT JOIN floatingips f ON f.port_id=p.id"
                                   " WHERE p.device_id=? ORDER BY p.created_at", (instance_uuid,)):
            out.setdefault(p["name"], []).append({"addr": p["ip_address"], "mac": p["mac_address"],
                                                  "version": ipaddress.ip_address(p["ip_address"]).version,
                                                  "type": "fixed"})
            if p["floating_ip_address"]:  # nova lists it after the fixed address it maps to
                out[p["name"]].append({"addr": p["floating_ip_address"], "mac": p["mac_address"],
                                       "version": 4, "type": "floating"})
        return out
