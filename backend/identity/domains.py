"""Keystone's domains: 'Default' always exists and holds every user and project; admins
create, rename, disable and delete others (a domain is deleted only once disabled, as
keystone asks)."""
from __future__ import annotations

import uuid

from backend.core import db as dbm
from backend.core.errors import Conflict, Forbidden, NotFound
from backend.identity.common import check_name, check_text


class Domains:
    """Mixed into IdentityService, which provides db, _admin and _reads_all."""

    @staticmethod
    def _domain_view(d):
        return {"id": d["id"], "name": d["name"], "description": d["description"],
                "enabled": bool(d["enabled"])}

    def _find_domain(self, domain):
        d = dbm.row(self.db, "SELECT * FROM domains WHERE id=?", (domain,))
        if not d:
            raise NotFound(f"could not find domain: {domain}")
        return d

    def list_domains(self, ctx):
        if not self._reads_all(ctx):  # others see the domain their user is in
            return [self._domain_view(self._find_domain("default"))]
        return [self._domain_view(d) for d in dbm.rows(self.db, "SELECT * FROM domains ORDER BY name")]

    def get_domain(self, ctx, domain):
        d = self._find_domain(domain)
        if d["id"] != "default" and not self._reads_all(ctx):
            raise NotFound(f"could not find domain: {domain}")
        return self._domain_view(d)

    def create_domain(self, ctx, name, description="", enabled=True):
        self._admin(ctx)
        check_name("domain", name, 64)
        check_text("domain description", description, 1024)
        if dbm.row(self.db, "SELECT 1 x FROM domains WHERE name=?", (name,)):
            raise Conflict(f"a domain named {name!r} already exists")
        did = uuid.uuid4().hex
        self.db["domains"].insert({"id": did, "name": name, "description": description,
                                   "enabled": int(bool(enabled)), "created_at": dbm.now_iso()})
        return self._domain_view(self._find_domain(did))

    def update_domain(self, ctx, domain, name=None, description=None, enabled=None):
        self._admin(ctx)
        d = self._find_domain(domain)
        values = {}
        if name is not None and name != d["name"]:
            check_name("domain", name, 64)
            if d["id"] == "default":
                raise Forbidden("the default domain cannot be renamed")
            if dbm.row(self.db, "SELECT 1 x FROM domains WHERE name=?", (name,)):
                raise Conflict(f"a domain named {name!r} already exists")
            values["name"] = name
        if description is not None:
            values["description"] = check_text("domain description", description, 1024)
        if enabled is not None:
            if not enabled and d["id"] == "default":
                raise Forbidden("the default domain cannot be disabled: every user and project is in it")
            values["enabled"] = int(enabled)
        if values:
            cols = ", ".join(f"{k}=?" for k in values)
            self.db.conn.execute(f"UPDATE domains SET {cols} WHERE id=?", (*values.values(), d["id"]))
        return self._domain_view(self._find_domain(d["id"]))

    def delete_domain(self, ctx, domain):
        self._admin(ctx)
        d = self._find_domain(domain)
        if d["enabled"]:
            raise Forbidden(f"domain {d['name']!r} is enabled: disable it before deleting it")
        self.db.conn.execute("DELETE FROM domains WHERE id=?", (d["id"],))
