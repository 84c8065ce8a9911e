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
                raise Forbidden("the default domain cannot be disabled: the cloud's admin is in it")
            values["enabled"] = int(enabled)
        if values:
            cols = ", ".join(f"{k}=?" for k in values)
            with dbm.transaction(self.db):
                self.db.conn.execute(f"UPDATE domains SET {cols} WHERE id=?", (*values.values(), d["id"]))
                if values.get("enabled") == 0:  # its users' tokens and tokens on its projects end
                    self.db.conn.execute(
                        "UPDATE tokens SET revoked=1 WHERE user_id IN (SELECT id FROM users WHERE domain_id=?)"
                        " OR project_id IN (SELECT id FROM projects WHERE domain_id=?)", (d["id"], d["id"]))
            self._cache.clear()
        return self._domain_view(self._find_domain(d["id"]))

    def delete_domain(self, ctx, domain):
        """Its users, groups and projects go with it (keystone); a project that still owns resources
        keeps the domain (409), nothing deleted."""
        self._admin(ctx)
        d = self._find_domain(domain)
        if d["enabled"]:
            raise Forbidden(f"domain {d['name']!r} is enabled: disable it before deleting it")
        projects = dbm.rows(self.db, "SELECT id, name FROM projects WHERE domain_id=?", (d["id"],))
        for p in projects:
            owned = self._owned_by(p["id"])
            if owned:
                raise Conflict(f"project {p['name']!r} of domain {d['name']!r} still owns {', '.join(owned)}")
        with dbm.transaction(self.db):
            for sql in ("DELETE FROM assignments WHERE user_id IN (SELECT id FROM users WHERE domain_id=?1)"
                        " OR project_id IN (SELECT id FROM projects WHERE domain_id=?1)",
                        "DELETE FROM system_assignments WHERE user_id IN (SELECT id FROM users WHERE domain_id=?1)",
                        "DELETE FROM group_members WHERE user_id IN (SELECT id FROM users WHERE domain_id=?1)"
                        " OR group_id IN (SELECT id FROM groups WHERE domain_id=?1)",
                        "DELETE FROM grants WHERE (actor_type='user' AND actor_id IN (SELECT id FROM users"
                        " WHERE domain_id=?1)) OR (actor_type='group' AND actor_id IN (SELECT id FROM groups"
                        " WHERE domain_id=?1)) OR (target_type='domain' AND target_id=?1) OR"
                        " (target_type='project' AND target_id IN (SELECT id FROM projects WHERE domain_id=?1))",
                        "DELETE FROM app_credentials WHERE user_id IN (SELECT id FROM users WHERE domain_id=?1)"
                        " OR project_id IN (SELECT id FROM projects WHERE domain_id=?1)",
                        "DELETE FROM credentials WHERE user_id IN (SELECT id FROM users WHERE domain_id=?1)",
                        "DELETE FROM groups WHERE domain_id=?1",
                        # its own roles go with it, and every assignment and rule naming them
                        "DELETE FROM assignments WHERE role_id IN (SELECT id FROM roles WHERE domain_id=?1)",
                        "DELETE FROM system_assignments WHERE role_id IN (SELECT id FROM roles WHERE domain_id=?1)",
                        "DELETE FROM grants WHERE role_id IN (SELECT id FROM roles WHERE domain_id=?1)",
                        "DELETE FROM implied_roles WHERE prior_role_id IN (SELECT id FROM roles WHERE domain_id=?1)"
                        " OR implied_role_id IN (SELECT id FROM roles WHERE domain_id=?1)",
                        "DELETE FROM roles WHERE domain_id=?1",
                        "UPDATE tokens SET revoked=1 WHERE user_id IN (SELECT id FROM users WHERE domain_id=?1)"
                        " OR project_id IN (SELECT id FROM projects WHERE domain_id=?1)",
                        "DELETE FROM quotas WHERE project_id IN (SELECT id FROM projects WHERE domain_id=?1)",
                        "DELETE FROM users WHERE domain_id=?1", "DELETE FROM projects WHERE domain_id=?1",
                        "DELETE FROM domains WHERE id=?1"):
                self.db.conn.execute(sql, (d["id"],))
        self._cache.clear()
