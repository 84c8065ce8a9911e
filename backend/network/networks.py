"""Neutron's networks: lookups with visibility (shared and external networks are every
project's to see), create with quotas and an owner, delete (its subnets and DHCP port go with it).
Mixed into NetworkService (backend/network/api.py)."""
from __future__ import annotations

import uuid

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.identity import check_name
from backend.network.dhcp_agent import DEVICE_OWNER as DHCP_OWNER
from backend.network.routers import neutron_error


class NetworkMixin:
    """Mixed into NetworkService: self.db, self.config, self.l2, self.dhcp."""

    def _net_view(self, n, ctx=None):
        subs = [s["id"] for s in dbm.rows(self.db, "SELECT id FROM subnets WHERE network_id=? ORDER BY created_at",
                                          (n["id"],))]
        return {"id": n["id"], "name": n["name"], "project_id": n["project_id"], "tenant_id": n["project_id"],
                "shared": bool(n["shared"]), "status": n["status"], "admin_state_up": True,
                "external": bool(n["external"]), "subnets": subs, "created_at": n["created_at"],
                **self._l2_net_fields(ctx, n)}

    # ---- lookups with visibility ----------------------------------------------------
    def _visible(self, ctx, project_id, shared=False):
        return ctx.is_admin or shared or project_id == ctx.project_id

    def find_network(self, ctx, ref: str) -> dict:
        n = (dbm.row(self.db, "SELECT * FROM networks WHERE id=?", (ref,)) or
             dbm.row(self.db, "SELECT * FROM networks WHERE name=? AND (project_id=? OR shared=1) "
                              "ORDER BY project_id=? DESC LIMIT 1", (ref, ctx.project_id, ctx.project_id)))
        # an external network is visible to every project (neutron's rule:external)
        if not n or not self._visible(ctx, n["project_id"], n["shared"] or n["external"]):
            raise NotFound(f"network {ref!r} not found")
        return n

    @staticmethod
    def _write(ctx):
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")

    # ---- networks -------------------------------------------------------------------
    def list_networks(self, ctx, filters):
        out = [self._net_view(n, ctx) for n in dbm.rows(self.db, "SELECT * FROM networks ORDER BY created_at")
               if self._visible(ctx, n["project_id"], n["shared"] or n["external"])]
        return [n for n in out if all(str(n.get(k)) == str(v) for k, v in filters.items() if k in n)]

    def get_network(self, ctx, ref):
        return self._net_view(self.find_network(ctx, ref), ctx)

    def create_network(self, ctx, name, shared=False, project_id=None, external=False):
        """project_id: the owner, when not the caller's project (admins only, as neutron);
        external: router:external (admins only), a network routers and floating IPs use."""
        self._write(ctx)
        check_name("network", name, empty=True)  # neutron's networks may be nameless
        if shared and not ctx.is_admin:
            raise Forbidden("only an admin may create a shared network")
        if external and not ctx.is_admin:
            raise Forbidden("only an admin may create an external network (router:external)")
        owner = self._owner(ctx, project_id)
        nid = str(uuid.uuid4())
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, owner, {"network": 1}, "network")
            self.db["networks"].insert({"id": nid, "name": name, "project_id": owner,
                                        "shared": int(bool(shared)), "status": "ACTIVE",
                                        "external": int(bool(external)), "created_at": dbm.now_iso(),
                                        "segmentation_id": self.l2.allocate_segment()})
        return self.get_network(ctx, nid)

    def _owner(self, ctx, project_id):
        if project_id in (None, "", ctx.project_id):
            return ctx.project_id
        if not ctx.is_admin:
            raise Forbidden("only an admin may create a resource in another project (project_id/tenant_id)")
        if not dbm.row(self.db, "SELECT 1 x FROM projects WHERE id=?", (project_id,)):
            raise BadRequest(f"project_id {project_id!r} is not a project")
        return project_id

    def delete_network(self, ctx, ref):
        self._write(ctx)
        n = self.find_network(ctx, ref)
        if n["project_id"] != ctx.project_id and not ctx.is_admin:
            raise Forbidden("a shared network can only be deleted by its owner or an admin")
        # its DHCP port and unassociated floating IPs go with it, as neutron's
        loose = [r["floating_port_id"] for r in dbm.rows(
            self.db, "SELECT floating_port_id FROM floatingips WHERE floating_network_id=? AND port_id IS NULL",
            (n["id"],))]
        used = [r["id"] for r in dbm.rows(self.db, "SELECT id FROM ports WHERE network_id=? AND device_owner!=?",
                                          (n["id"], DHCP_OWNER)) if r["id"] not in loose]
        if used:
            raise neutron_error(Conflict, "NetworkInUse", f"Unable to complete operation on network {n['id']}. "
                                f"There are one or more ports still in use on the network ({len(used)}).")
        self.dhcp.network_deleted(n["id"])
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM floatingips WHERE floating_network_id=?", (n["id"],))
            self.db.conn.execute("DELETE FROM ports WHERE network_id=?", (n["id"],))
            self.db.conn.execute("DELETE FROM subnets WHERE network_id=?", (n["id"],))
            self.db.conn.execute("DELETE FROM networks WHERE id=?", (n["id"],))
        self._forget_ips()

    def auto_network(self, ctx, project_id):
        # only a network with a subnet can give the instance an address
        has_subnet = " AND EXISTS (SELECT 1 FROM subnets s WHERE s.network_id=networks.id)"
        n = (dbm.row(self.db, "SELECT * FROM networks WHERE project_id=? AND shared=0" + has_subnet +
                     " ORDER BY created_at LIMIT 1", (project_id,)) or
             dbm.row(self.db, "SELECT * FROM networks WHERE shared=1" + has_subnet + " ORDER BY created_at LIMIT 1"))
        if not n:
            raise BadRequest("no network with a subnet is available to the project; create one (with a "
                             "subnet) or pass networks 'none'")
        return n
