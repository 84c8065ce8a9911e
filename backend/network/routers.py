"""Neutron's routers: create/show/update/delete, the external gateway
(external_gateway_info) and interfaces (add_router_interface / remove_router_interface).

A router's legs are ports, as in neutron: the gateway is a port on the external network
(device_owner network:router_gateway, no project), each interface a port holding its
subnet's gateway IP (device_owner network:router_interface). Every check runs before the
first write, and all writes of one call share one transaction."""
from __future__ import annotations

import ipaddress
import random
import sqlite3
import uuid

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.identity import check_name

ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
FLOATINGIP = "network:floatingip"
L3_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATINGIP)


def neutron_error(cls, kind: str, message: str):
    """An error carrying neutron's exception name as its NeutronError type."""
    e = cls(message)
    e.error_type = kind
    return e


class RouterMixin:
    """Mixed into NetworkService (backend/network/api.py)."""

    # the network node's L3 agent (backend/network/l3_agent.py); None: nothing to plumb
    l3_agent = None

    # ---- views and lookups ------------------------------------------------------------
    def _router_view(self, r) -> dict:
        gw = None
        if r["gw_port_id"]:
            p = dbm.row(self.db, "SELECT * FROM ports WHERE id=?", (r["gw_port_id"],))
            gw = {"network_id": p["network_id"], "enable_snat": bool(r["enable_snat"]),
                  "external_fixed_ips": [{"subnet_id": p["subnet_id"], "ip_address": p["ip_address"]}]
                  if p["subnet_id"] else []}
        return {"id": r["id"], "name": r["name"], "project_id": r["project_id"], "tenant_id": r["project_id"],
                "description": r["description"], "status": r["status"], "admin_state_up": bool(r["admin_state_up"]),
                "external_gateway_info": gw, "routes": [], "created_at": r["created_at"],
                "updated_at": r["updated_at"]}

    def find_router(self, ctx, ref) -> dict:
        r = dbm.row(self.db, "SELECT * FROM routers WHERE id=?", (ref,))
        if not r or not self._visible(ctx, r["project_id"]):
            raise neutron_error(NotFound, "RouterNotFound", f"Router {ref} could not be found.")
        return r

    def _own_router(self, ctx, ref) -> dict:
        self._write(ctx)
        return self.find_router(ctx, ref)

    def list_routers(self, ctx, filters) -> list[dict]:
        out = [self._router_view(r) for r in dbm.rows(self.db, "SELECT * FROM routers ORDER BY created_at")
               if self._visible(ctx, r["project_id"])]
        return [r for r in out if all(str(r.get(k)) == str(v) for k, v in filters.items() if k in r)]

    def get_router(self, ctx, ref) -> dict:
        return self._router_view(self.find_router(ctx, ref))

    def router_interfaces(self, router_id) -> list[dict]:
        """The router's interface ports joined with their subnets (for the L3 agent too)."""
        return dbm.rows(self.db, "SELECT p.*, s.cidr, s.gateway_ip FROM ports p JOIN subnets s ON"
                                 " s.id=p.subnet_id WHERE p.device_id=? AND p.device_owner=?"
                                 " ORDER BY p.created_at", (router_id, ROUTER_INTERFACE))

    # ---- ports the routers own ----------------------------------------------------------
    def _l3_port(self, network_id, subnet_id, ip, owner, device_id, project_id) -> str:
        """Insert a port of a router or floating IP (inside the caller's transaction)."""
        pid = str(uuid.uuid4())
        for _ in range(20):
            mac = "fa:16:3e:%02x:%02x:%02x" % tuple(random.randrange(256) for _ in range(3))
            try:
                self.db.conn.execute(
                    "INSERT INTO ports (id, name, network_id, subnet_id, project_id, mac_address, ip_address,"
                    " device_id, device_owner, binding_host, created_for, status, created_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (pid, "", network_id, subnet_id, project_id, mac, ip, device_id, owner, None, None,
                     "ACTIVE", dbm.now_iso()))
                break
            except sqlite3.IntegrityError as e:
                if "mac_address" not in str(e):
                    raise neutron_error(Conflict, "IpAddressAlreadyAllocated",
                                        f"IP address {ip} already allocated in subnet {subnet_id}") from None
        else:
            raise Conflict("could not find a free MAC address")
        self._forget_ips()
        return pid

    def _drop_ports(self, ids) -> None:
        for pid in ids:
            self.db.conn.execute("DELETE FROM ports WHERE id=?", (pid,))
        self._forget_ips()

    @staticmethod
    def check_ip_on_network(ip, subnets) -> None:
        """A chosen address must lie inside one of the subnets (neutron's InvalidIpForNetwork)."""
        if ip is not None and not any(ipaddress.ip_address(ip) in ipaddress.ip_network(s["cidr"])
                                      for s in subnets):
            raise neutron_error(BadRequest, "InvalidIpForNetwork",
                                f"IP address {ip} is not a valid IP for any of the subnets on the specified "
                                "network.")

    # ---- overlapping subnets on one router ------------------------------------------------
    def _check_no_overlap(self, router_id, subnet_id, cidr, skip_port=None) -> None:
        new = ipaddress.ip_network(cidr)
        legs = dbm.rows(self.db, "SELECT p.id, p.subnet_id, s.cidr FROM ports p JOIN subnets s ON s.id=p.subnet_id"
                                 " WHERE p.device_id=? AND p.device_owner IN (?,?)",
                        (router_id, ROUTER_INTERFACE, ROUTER_GATEWAY))
        for leg in legs:
            if leg["id"] == skip_port:
                continue
            if leg["subnet_id"] == subnet_id:
                raise BadRequest(f"Bad router request: Router already has a port on subnet {subnet_id}.")
            if ipaddress.ip_network(leg["cidr"]).overlaps(new):
                raise BadRequest(f"Bad router request: Cidr {cidr} of subnet {subnet_id} overlaps with cidr "
                                 f"{leg['cidr']} of subnet {leg['subnet_id']}.")

    # ---- create / update / delete --------------------------------------------------------
    def create_router(self, ctx, name="", gateway=None, project_id=None, description="",
                      admin_state_up=True) -> dict:
        """gateway: external_gateway_info ({network_id, enable_snat, external_fixed_ips});
        admin_state_up False: the router is kept but not plumbed (it forwards nothing)."""
        self._write(ctx)
        check_name("router", name, empty=True)
        owner = self._owner(ctx, project_id)
        rid, now = str(uuid.uuid4()), dbm.now_iso()
        try:
            with dbm.transaction(self.db):
                quota.check(self.db, self.config, owner, {"router": 1}, "network")
                self.db.conn.execute("INSERT INTO routers (id, name, project_id, description, admin_state_up,"
                                     " created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                                     (rid, name, owner, description or "", int(bool(admin_state_up)), now, now))
                if gateway:
                    self._set_gateway(ctx, rid, gateway)
        except BaseException:
            self._forget_ips()
            raise
        self._l3_dirty(rid)
        return self.get_router(ctx, rid)

    def _set_gateway(self, ctx, rid, info: dict) -> None:
        net = self.find_network(ctx, info["network_id"])
        if not net["external"]:
            raise BadRequest(f"Bad router request: Network {net['id']} is not an external network.")
        for k in ("enable_snat", "external_fixed_ips"):
            if k in info and not ctx.is_admin:
                # neutron's policy: create_router:external_gateway_info:<k> is for admins
                raise Forbidden(f"only an admin may set external_gateway_info.{k}")
        subnets = dbm.rows(self.db, "SELECT * FROM subnets WHERE network_id=? ORDER BY created_at", (net["id"],))
        fixed = (info.get("external_fixed_ips") or [{}])[0]
        if fixed.get("subnet_id"):
            subnets = [s for s in subnets if s["id"] == fixed["subnet_id"]]
            if not subnets:
                raise BadRequest(f"Bad router request: subnet {fixed['subnet_id']} is not a subnet of "
                                 f"external network {net['id']}.")
        if not subnets:
            raise BadRequest(f"Bad router request: external network {net['id']} has no subnet to take "
                             "a gateway address from.")
        self.check_ip_on_network(fixed.get("ip_address"), subnets)
        subnet, ip = self._pick_ip(subnets, fixed.get("ip_address"))
        self._check_no_overlap(rid, subnet["id"], subnet["cidr"])
        pid = self._l3_port(net["id"], subnet["id"], ip, ROUTER_GATEWAY, rid, "")
        self.db.conn.execute("UPDATE routers SET gw_port_id=?, enable_snat=?, updated_at=? WHERE id=?",
                             (pid, int(info.get("enable_snat", True)), dbm.now_iso(), rid))

    def _clear_gateway(self, r) -> None:
        if not r["gw_port_id"]:
            return
        if dbm.row(self.db, "SELECT 1 x FROM floatingips WHERE router_id=?", (r["id"],)):
            net = dbm.row(self.db, "SELECT network_id FROM ports WHERE id=?", (r["gw_port_id"],))["network_id"]
            raise neutron_error(Conflict, "RouterExternalGatewayInUseByFloatingIp",
                                f"Gateway cannot be updated for router {r['id']}, since a gateway to external "
                                f"network {net} is required by one or more floating IPs.")
        self.db.conn.execute("UPDATE routers SET gw_port_id=NULL, updated_at=? WHERE id=?", (dbm.now_iso(), r["id"]))
        self._drop_ports([r["gw_port_id"]])

    def update_router(self, ctx, ref, changes: dict) -> dict:
        """changes: name, description, admin_state_up, external_gateway_info (None or {}:
        remove it)."""
        r = self._own_router(ctx, ref)
        if "name" in changes:
            check_name("router", changes["name"], empty=True)
        try:
            with dbm.transaction(self.db):
                for k in ("name", "description"):
                    if k in changes:
                        self.db.conn.execute(f"UPDATE routers SET {k}=?, updated_at=? WHERE id=?",
                                             (changes[k] or "", dbm.now_iso(), r["id"]))
                if "admin_state_up" in changes:
                    self.db.conn.execute("UPDATE routers SET admin_state_up=?, updated_at=? WHERE id=?",
                                         (int(bool(changes["admin_state_up"])), dbm.now_iso(), r["id"]))
                if "external_gateway_info" in changes:
                    self._update_gateway(ctx, r, changes["external_gateway_info"])
        except BaseException:
            self._forget_ips()
            raise
        self._l3_dirty(r["id"])
        return self.get_router(ctx, r["id"])

    def _update_gateway(self, ctx, r, info) -> None:
        current = self._router_view(r)["external_gateway_info"]
        if current and info and info.get("network_id") == current["network_id"] and \
                not info.get("external_fixed_ips"):
            if "enable_snat" in info:  # same network: only SNAT changes
                if not ctx.is_admin:
                    raise Forbidden("only an admin may set external_gateway_info.enable_snat")
                self.db.conn.execute("UPDATE routers SET enable_snat=? WHERE id=?",
                                     (int(info["enable_snat"]), r["id"]))
            return
        self._clear_gateway(r)
        if info:
            self._set_gateway(ctx, r["id"], info)

    def delete_router(self, ctx, ref) -> None:
        r = self._own_router(ctx, ref)
        if self.router_interfaces(r["id"]):
            raise neutron_error(Conflict, "RouterInUse", f"Router {r['id']} still has ports")
        with dbm.transaction(self.db):
            self._clear_gateway(r)
            self.db.conn.execute("DELETE FROM routers WHERE id=?", (r["id"],))
        self._l3_dirty(r["id"])

    # ---- interfaces ------------------------------------------------------------------------
    def _interface_info(self, r, port) -> dict:
        return {"id": r["id"], "tenant_id": r["project_id"], "project_id": r["project_id"],
                "port_id": port["id"], "network_id": port["network_id"], "subnet_id": port["subnet_id"],
                "subnet_ids": [port["subnet_id"]]}

    @staticmethod
    def _one_of(subnet_id, port_id) -> None:
        if subnet_id and port_id:
            raise BadRequest("Bad router request: Cannot specify both subnet-id and port-id.")
        if not subnet_id and not port_id:
            raise BadRequest("Bad router request: Either subnet_id or port_id must be specified.")

    def add_router_interface(self, ctx, ref, subnet_id=None, port_id=None) -> dict:
        r = self._own_router(ctx, ref)
        self._one_of(subnet_id, port_id)
        if port_id:
            p = self._find_port(ctx, port_id)
            if p["device_id"] or p["device_owner"]:
                raise neutron_error(Conflict, "PortInUse",
                                    f"Unable to complete operation on port {p['id']} for network "
                                    f"{p['network_id']}. Port already has an attached device {p['device_id']}.")
            if not p["subnet_id"]:
                raise BadRequest("Bad router request: Router port must have at least one fixed IP.")
            s = dbm.row(self.db, "SELECT * FROM subnets WHERE id=?", (p["subnet_id"],))
            self._check_no_overlap(r["id"], s["id"], s["cidr"])
            with dbm.transaction(self.db):
                self.db.conn.execute("UPDATE ports SET device_id=?, device_owner=?, status='ACTIVE' WHERE id=?",
                                     (r["id"], ROUTER_INTERFACE, p["id"]))
            pid = p["id"]
        else:
            s = self._find_subnet(ctx, subnet_id)
            if not s["gateway_ip"]:
                raise BadRequest("Bad router request: Subnet for router interface must have a gateway IP.")
            self._check_no_overlap(r["id"], s["id"], s["cidr"])
            with dbm.transaction(self.db):
                pid = self._l3_port(s["network_id"], s["id"], s["gateway_ip"], ROUTER_INTERFACE, r["id"],
                                    s["project_id"])
        self._l3_dirty(r["id"])
        return self._interface_info(r, dbm.row(self.db, "SELECT * FROM ports WHERE id=?", (pid,)))

    def remove_router_interface(self, ctx, ref, subnet_id=None, port_id=None) -> dict:
        r = self._own_router(ctx, ref)
        self._one_of(subnet_id, port_id)
        legs = self.router_interfaces(r["id"])
        if port_id:
            leg = next((p for p in legs if p["id"] == port_id), None)
            if leg is None:
                raise neutron_error(NotFound, "RouterInterfaceNotFound",
                                    f"Router {r['id']} does not have an interface with id {port_id}")
        else:
            leg = next((p for p in legs if p["subnet_id"] == subnet_id), None)
            if leg is None:
                raise neutron_error(NotFound, "RouterInterfaceNotFoundForSubnet",
                                    f"Router {r['id']} has no interface on subnet {subnet_id}")
        if dbm.row(self.db, "SELECT 1 x FROM floatingips f JOIN ports p ON p.id=f.port_id"
                            " WHERE f.router_id=? AND p.subnet_id=?", (r["id"], leg["subnet_id"])):
            raise neutron_error(Conflict, "RouterInterfaceInUseByFloatingIP",
                                f"Router interface for subnet {leg['subnet_id']} on router {r['id']} cannot be "
                                "deleted, as it is required by one or more floating IPs.")
        with dbm.transaction(self.db):
            self._drop_ports([leg["id"]])
        self._l3_dirty(r["id"])
        return self._interface_info(r, leg)

    # ---- what the L3 agent must bring in line with the database -------------------------
    def _l3_dirty(self, router_id) -> None:
        self.l3_pending.add(router_id)

    async def l3_sync(self) -> None:
        """Let the L3 agent bring each changed router's plumbing in line with the database."""
        pending, self.l3_pending = self.l3_pending, set()
        if self.l3_agent is not None:
            for rid in sorted(pending):
                await self.l3_agent.sync_router(rid)
