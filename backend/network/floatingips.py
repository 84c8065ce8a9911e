"""Neutron's floating IPs: an address of an external network, held by a port of its own
(device_owner network:floatingip), optionally associated with a project's port through the
router that joins that port's subnet to the external network (as neutron's l3 plugin finds
it). Every check runs before the first write."""
from __future__ import annotations

import ipaddress

import uuid

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.network.routers import FLOATINGIP, L3_OWNERS, ROUTER_GATEWAY, ROUTER_INTERFACE, neutron_error


class FloatingIPMixin:
    """Mixed into NetworkService (backend/network/api.py)."""

    @staticmethod
    def _fip_view(f) -> dict:
        return {"id": f["id"], "project_id": f["project_id"], "tenant_id": f["project_id"],
                "description": f["description"], "floating_network_id": f["floating_network_id"],
                "floating_ip_address": f["floating_ip_address"], "port_id": f["port_id"],
                "fixed_ip_address": f["fixed_ip_address"], "router_id": f["router_id"], "status": f["status"],
                "created_at": f["created_at"], "updated_at": f["updated_at"]}

    def _find_fip(self, ctx, ref) -> dict:
        f = dbm.row(self.db, "SELECT * FROM floatingips WHERE id=?", (ref,))
        if not f or not self._visible(ctx, f["project_id"]):
            raise neutron_error(NotFound, "FloatingIPNotFound", f"Floating IP {ref} could not be found")
        return f

    def list_floatingips(self, ctx, filters) -> list[dict]:
        out = [self._fip_view(f) for f in dbm.rows(self.db, "SELECT * FROM floatingips ORDER BY created_at")
               if self._visible(ctx, f["project_id"])]
        return [f for f in out if all(str(f.get(k)) == str(v) for k, v in filters.items() if k in f)]

    def get_floatingip(self, ctx, ref) -> dict:
        return self._fip_view(self._find_fip(ctx, ref))

    def floatingips_of_router(self, router_id) -> list[dict]:
        """Associated floating IPs that go through the router (for the L3 agent)."""
        return dbm.rows(self.db, "SELECT * FROM floatingips WHERE router_id=? AND port_id IS NOT NULL"
                                 " ORDER BY created_at", (router_id,))

    # ---- association ------------------------------------------------------------------------
    def _association(self, ctx, fip_project, ext_net_id, port_id, fixed_ip, fip_id=None) -> tuple:
        """(port_id, fixed_ip_address, router_id) for associating with port_id, or an error."""
        p = dbm.row(self.db, "SELECT * FROM ports WHERE id=?", (port_id,))
        # a port of another project is not visible to the floating IP's owner: 404, as neutron
        if not p or not self._visible(ctx, p["project_id"]) or \
                (p["project_id"] != fip_project and not ctx.is_admin):
            raise neutron_error(NotFound, "PortNotFound", f"Port {port_id} could not be found.")
        if p["device_owner"] in L3_OWNERS:
            raise BadRequest(f"Bad floatingip request: Port {port_id} has owner {p['device_owner']} and "
                             "therefore cannot be associated with a floating IP.")
        v4 = [f for f in self.fixed_ips_of(p) if ipaddress.ip_address(f["ip_address"]).version == 4]
        if not v4:
            raise BadRequest(f"Bad floatingip request: Cannot add floating IP to port {port_id} that has no "
                             "fixed IPv4 addresses.")
        chosen = [f for f in v4 if fixed_ip is None or f["ip_address"] == fixed_ip]
        if not chosen:
            raise BadRequest(f"Bad floatingip request: Port {port_id} does not have fixed ip {fixed_ip}.")
        p = {**p, "subnet_id": chosen[0]["subnet_id"], "ip_address": chosen[0]["ip_address"]}  # the one it maps to
        router = dbm.row(self.db, "SELECT r.id FROM routers r JOIN ports g ON g.id=r.gw_port_id"
                                  " JOIN ports i ON i.device_id=r.id AND i.device_owner=?"
                                  " WHERE g.network_id=? AND g.device_owner=? AND i.subnet_id=?"
                                  " ORDER BY r.created_at LIMIT 1",
                         (ROUTER_INTERFACE, ext_net_id, ROUTER_GATEWAY, p["subnet_id"]))
        if not router:
            raise neutron_error(NotFound, "ExternalGatewayForFloatingIPNotFound",
                                f"External network {ext_net_id} is not reachable from subnet {p['subnet_id']}.  "
                                f"Therefore, cannot associate Port {port_id} with a Floating IP.")
        other = dbm.row(self.db, "SELECT id FROM floatingips WHERE port_id=? AND fixed_ip_address=? AND id!=?",
                        (port_id, p["ip_address"], fip_id or ""))
        if other:
            raise neutron_error(Conflict, "FloatingIPPortAlreadyAssociated",
                                f"Cannot associate floating IP {other['id']} with port {port_id} using fixed IP "
                                f"{p['ip_address']}, as that fixed IP already has a floating IP on external "
                                f"network {ext_net_id}.")
        return p["id"], p["ip_address"], router["id"]

    # ---- create / update / delete ----------------------------------------------------------
    def create_floatingip(self, ctx, floating_network_id, port_id=None, fixed_ip_address=None,
                          floating_ip_address=None, subnet_id=None, description="", project_id=None) -> dict:
        self._write(ctx)
        owner = self._owner(ctx, project_id)
        net = self.find_network(ctx, floating_network_id)
        if not net["external"]:
            raise BadRequest(f"Bad floatingip request: Network {net['id']} is not a valid external network.")
        if floating_ip_address is not None and not ctx.is_admin:
            # neutron's policy: create_floatingip:floating_ip_address is for admins
            raise Forbidden("only an admin may choose a floating IP's floating_ip_address")
        subnets = dbm.rows(self.db, "SELECT * FROM subnets WHERE network_id=? ORDER BY created_at", (net["id"],))
        if subnet_id is not None:
            subnets = [s for s in subnets if s["id"] == subnet_id]
            if not subnets:
                raise BadRequest(f"Bad floatingip request: subnet {subnet_id} is not a subnet of external "
                                 f"network {net['id']}.")
        if not subnets:
            raise neutron_error(Conflict, "IpAddressGenerationFailure",
                                f"No more IP addresses available on network {net['id']}.")
        fid, now = str(uuid.uuid4()), dbm.now_iso()
        assoc = (None, None, None)
        if port_id:
            assoc = self._association(ctx, owner, net["id"], port_id, fixed_ip_address, fid)
        elif fixed_ip_address is not None:
            raise BadRequest("Bad floatingip request: fixed_ip_address needs a port_id.")
        try:
            with dbm.transaction(self.db):
                quota.check(self.db, self.config, owner, {"floatingip": 1}, "network")
                self.check_ip_on_network(floating_ip_address, subnets)
                subnet, ip = self._pick_ip(subnets, floating_ip_address)
                port = self._l3_port(net["id"], subnet["id"], ip, FLOATINGIP, fid, "")
                self.db.conn.execute(
                    "INSERT INTO floatingips (id, project_id, description, floating_network_id, floating_port_id,"
                    " floating_ip_address, port_id, fixed_ip_address, router_id, status, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (fid, owner, description or "", net["id"], port, ip, *assoc,
                     "ACTIVE" if assoc[0] else "DOWN", now, now))
        except BaseException:
            self._forget_ips()
            raise
        if assoc[2]:
            self._l3_dirty(assoc[2])
        return self.get_floatingip(ctx, fid)

    def update_floatingip(self, ctx, ref, changes: dict) -> dict:
        """changes: port_id (None: disassociate), fixed_ip_address, description."""
        self._write(ctx)
        f = self._find_fip(ctx, ref)
        values = {}
        if "description" in changes:
            values["description"] = changes["description"] or ""
        if "port_id" in changes:
            if changes["port_id"]:
                port, fixed, router = self._association(ctx, f["project_id"], f["floating_network_id"],
                                                        changes["port_id"], changes.get("fixed_ip_address"),
                                                        f["id"])
            else:
                port = fixed = router = None
            values.update(port_id=port, fixed_ip_address=fixed, router_id=router,
                          status="ACTIVE" if port else "DOWN")
        elif changes.get("fixed_ip_address") is not None:
            raise BadRequest("Bad floatingip request: fixed_ip_address needs a port_id.")
        if values:
            values["updated_at"] = dbm.now_iso()
            cols = ", ".join(f"{k}=?" for k in values)  # keys are this module's own
            self.db.conn.execute(f"UPDATE floatingips SET {cols} WHERE id=?", (*values.values(), f["id"]))
        for rid in {f["router_id"], values.get("router_id")} - {None}:
            self._l3_dirty(rid)
        return self.get_floatingip(ctx, f["id"])

    def delete_floatingip(self, ctx, ref) -> None:
        self._write(ctx)
        f = self._find_fip(ctx, ref)
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM floatingips WHERE id=?", (f["id"],))
            self._drop_ports([f["floating_port_id"]])
        if f["router_id"]:
            self._l3_dirty(f["router_id"])

    def _ports_going(self, port_ids) -> None:
        """Ports about to be deleted: their floating IPs are disassociated (neutron's
        disassociate_floatingips on port delete), inside the caller's transaction."""
        for pid in port_ids:
            for f in dbm.rows(self.db, "SELECT id, router_id FROM floatingips WHERE port_id=?", (pid,)):
                self.db.conn.execute("UPDATE floatingips SET port_id=NULL, fixed_ip_address=NULL, router_id=NULL,"
                                     " status='DOWN', updated_at=? WHERE id=?", (dbm.now_iso(), f["id"]))
                self._l3_dirty(f["router_id"])
