"""Keystone's system scope: roles a user holds on the whole cloud rather than on a project
(PUT /v3/system/users/{user}/roles/{role}), and the tokens scoped to it. A system reader
may read every user, project and role assignment; a system admin may change them. A
system-scoped token names no project, so only the identity API takes it."""
from __future__ import annotations

from backend.core import db as dbm
from backend.core.errors import NotFound


class SystemRoles:
    """Mixed into IdentityService, which provides db, _cache, _admin, _find_user and get_role."""

    @staticmethod
    def _reads_all(ctx) -> bool:
        # keystone's default policies: admin anywhere, or any role (reader up) on the system
        return ctx.is_admin or (ctx.system_scope and bool(ctx.roles))

    def _system_parts(self, ctx, user, role):
        u = self._find_user(user)
        if not u:
            raise NotFound(f"user {user!r} not found")
        return u, self.get_role(ctx, role)

    def grant_system_role(self, ctx, user, role):
        self._admin(ctx)
        u, r = self._system_parts(ctx, user, role)
        self.db.conn.execute("INSERT OR IGNORE INTO system_assignments VALUES (?,?)", (u["id"], r["id"]))
        self._cache.clear()

    def revoke_system_role(self, ctx, user, role):
        self._admin(ctx)
        u, r = self._system_parts(ctx, user, role)
        cur = self.db.conn.execute("DELETE FROM system_assignments WHERE user_id=? AND role_id=?",
                                   (u["id"], r["id"]))
        if not cur.rowcount:
            raise NotFound(f"user {u['name']!r} has no role {r['name']!r} on the system")
        self._cache.clear()

    def list_system_roles(self, ctx, user):
        """The roles assigned to user on the system (as assigned, not implied)."""
        if not self._reads_all(ctx):
            self._admin(ctx)
        u = self._find_user(user)
        if not u:
            raise NotFound(f"user {user!r} not found")
        return dbm.rows(self.db, "SELECT r.id, r.name, r.description FROM system_assignments a JOIN roles r"
                                 " ON r.id=a.role_id WHERE a.user_id=? ORDER BY r.name", (u["id"],))

    def list_system_assignments(self, ctx, user=None):
        """[{user_id, role_id, role_name}] on the system; a non-reader sees only their own."""
        if not self._reads_all(ctx):
            user = ctx.user_id
        sql = ("SELECT a.user_id, a.role_id, r.name role_name FROM system_assignments a"
               " JOIN roles r ON r.id=a.role_id")
        params: tuple = ()
        if user:
            u = self._find_user(user)
            if not u:
                raise NotFound(f"user {user!r} not found")
            sql, params = sql + " WHERE a.user_id=?", (u["id"],)
        return dbm.rows(self.db, sql + " ORDER BY a.user_id, r.name", params)
