"""Neutron's PUT on networks, subnets and ports: the attributes pocketstack keeps can change;
every change is checked before anything is written, and one UPDATE writes them all."""
from __future__ import annotations

import ipaddress

from backend.core import db as dbm
from backend.core.errors import BadRequest, Conflict, Forbidden
from backend.identity import check_name
from backend.network.options import check_dns_nameservers, check_host_routes


class NetworkUpdates:
    """Mixed into NetworkService (backend/network/api.py)."""

    def _owner_or_admin(self, ctx, project_id, what):
        self._write(ctx)
        if project_id != ctx.project_id and not ctx.is_admin:
            raise Forbidden(f"only the owner of {what} or an admin may change it")

    def _set(self, table, rid, values):
        cols = ", ".join(f"{k}=?" for k in values)  # keys are this module's own, never input
        self.db.conn.execute(f"UPDATE {table} SET {cols} WHERE id=?", (*values.values(), rid))

    def update_network(self, ctx, ref, changes: dict) -> dict:
        """changes: name, shared and external (router:external; admins only)."""
        n = self.find_network(ctx, ref)
        self._owner_or_admin(ctx, n["project_id"], f"network {n['id']}")
        values = {}
        if "name" in changes:
            check_name("network", changes["name"], empty=True)
            values["name"] = changes["name"]
        if "shared" in changes:
            if not ctx.is_admin:
                raise Forbidden("only an admin may change whether a network is shared")
            values["shared"] = int(bool(changes["shared"]))
        if "external" in changes and bool(changes["external"]) != bool(n["external"]):
            values["external"] = self._new_external(ctx, n, bool(changes["external"]))
        if values:
            self._set("networks", n["id"], values)
        return self.get_network(ctx, n["id"])

    def _new_external(self, ctx, n, external: bool) -> int:
        """router:external changes by an admin; not off while routers or floating IPs use it."""
        if not ctx.is_admin:
            raise Forbidden("only an admin may change a network's router:external")
        if not external and dbm.row(self.db, "SELECT 1 x FROM ports WHERE network_id=? AND device_owner IN (?, ?)",
                                    (n["id"], "network:router_gateway", "network:floatingip")):
            raise Conflict(f"External network {n['id']} cannot be updated to be made non-external, since it has "
                           "existing gateway ports or floating IPs.")
        return int(external)

    def update_subnet(self, ctx, ref, changes: dict) -> dict:
        """changes: name, gateway_ip (None: no gateway), dns_nameservers, host_routes."""
        s = self._find_subnet(ctx, ref)
        self._owner_or_admin(ctx, s["project_id"], f"subnet {s['id']}")
        net = ipaddress.ip_network(s["cidr"])
        values = {}
        if "name" in changes:
            check_name("subnet", changes["name"], empty=True)
            values["name"] = changes["name"]
        if "dns_nameservers" in changes:
            values["dns_nameservers"] = dbm.jdump(check_dns_nameservers(changes["dns_nameservers"]))
        if "host_routes" in changes:
            values["host_routes"] = dbm.jdump(check_host_routes(changes["host_routes"], net))
        if "gateway_ip" in changes and changes["gateway_ip"] != s["gateway_ip"]:
            values["gateway_ip"] = self._new_gateway(s, net, changes["gateway_ip"],
                                                     "allocation_pools" not in changes)
        values.update(self.subnet_pool_and_dhcp(s, net, changes, values.get("gateway_ip", s["gateway_ip"])))
        if values:
            self._set("subnets", s["id"], values)
        if "enable_dhcp" in values:
            self.dhcp.ports_bound({s["network_id"]})  # the agent serves the subnet, or leaves it out
        return self.get_subnet(ctx, s["id"])

    def _new_gateway(self, s, net, gateway_ip, pool_kept=True):
        if gateway_ip is None:
            return None
        try:
            gw = ipaddress.ip_address(gateway_ip)
        except (ValueError, TypeError):
            raise BadRequest(f"invalid gateway_ip {gateway_ip!r}") from None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise BadRequest(f"gateway_ip {gw} is not a host address of {net}")
        if pool_kept and ipaddress.ip_address(s["pool_start"]) <= gw <= ipaddress.ip_address(s["pool_end"]):
            # neutron's GatewayConflictWithAllocationPools
            raise Conflict(f"gateway_ip {gw} conflicts with the allocation pool "
                           f"{s['pool_start']}-{s['pool_end']}")
        if dbm.row(self.db, "SELECT 1 x FROM ports WHERE subnet_id=? AND ip_address=?", (s["id"], str(gw))):
            raise Conflict(f"gateway_ip {gw} is already in use by a port")
        return str(gw)

    @staticmethod
    def check_binding_host(ctx, host) -> None:
        """neutron's policy: only an admin binds a port to a host (binding:host_id)."""
        if host in (None, ""):
            return
        if not ctx.is_admin:
            raise Forbidden("only an admin may set a port's binding:host_id")
        if not isinstance(host, str) or len(host) > 255:
            raise BadRequest("'port.binding:host_id' must be a string of at most 255 characters")

    def update_port(self, ctx, ref, changes: dict) -> dict:
        """changes: name, binding_host (admins only; not on a port an instance uses),
        security_groups (ids), port_security_enabled."""
        p = self._find_port(ctx, ref)
        self._owner_or_admin(ctx, p["project_id"], f"port {p['id']}")
        values = {}
        if "name" in changes:
            check_name("port", changes["name"], empty=True)
            values["name"] = changes["name"]
        if "binding_host" in changes:
            self.check_binding_host(ctx, changes["binding_host"])
            if p["device_owner"].startswith("compute:"):
                raise Conflict(f"port {p['id']} is bound by instance {p['device_id']}; its host follows it")
            values["binding_host"] = changes["binding_host"] or None
        if "admin_state_up" in changes:
            values["admin_state_up"] = int(bool(changes["admin_state_up"]))
        plan = self.plan_port_ips(ctx, p, changes["fixed_ips"]) if "fixed_ips" in changes else None
        if "security_groups" in changes or "port_security_enabled" in changes:
            self.update_port_security(ctx, p, changes)  # backend/network/secgroups.py
        if values:
            self._set("ports", p["id"], values)
        if plan is not None:
            self.move_port_ips(p, plan)  # backend/network/ports.py
        return self.get_port(ctx, p["id"])
