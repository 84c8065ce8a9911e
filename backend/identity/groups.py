"""Keystone's groups: named sets of users in a domain. Admins change them and their members;
admins and system readers see all, a user sees the groups they are in. A role granted to a
group is held by each member (grants.py)."""
from __future__ import annotations

import uuid

from backend.core import db as dbm
from backend.core.errors import Conflict, NotFound
from backend.identity.common import check_extra, check_name, check_text


class Groups:
    """Mixed into IdentityService, which provides db, _admin, _reads_all, _find_user and _find_domain."""

    @staticmethod
    def _group_view(g):
        return {**dbm.jload(g.get("extra") or "{}"), "id": g["id"], "name": g["name"], "domain_id": g["domain_id"],
                "description": g["description"]}

    def _find_group(self, ctx, group):
        g = dbm.row(self.db, "SELECT * FROM groups WHERE id=?", (group,))
        if not g or not (self._reads_all(ctx) or self._member(g["id"], ctx.user_id)):
            raise NotFound(f"could not find group: {group}")
        return g

    def _member(self, group_id, user_id) -> bool:
        return dbm.row(self.db, "SELECT 1 x FROM group_members WHERE group_id=? AND user_id=?",
                       (group_id, user_id)) is not None

    def _user_of(self, user):
        u = self._find_user(user)
        if not u:
            raise NotFound(f"could not find user: {user}")
        return u

    def list_groups(self, ctx):
        if not self._reads_all(ctx):
            return self.list_user_groups(ctx, ctx.user_id)
        return [self._group_view(g) for g in dbm.rows(self.db, "SELECT * FROM groups ORDER BY name")]

    def get_group(self, ctx, group):
        return self._group_view(self._find_group(ctx, group))

    def create_group(self, ctx, name, description="", domain="default", extra=None):
        """extra: the group's other attributes, kept as given (keystone)."""
        self._admin(ctx)
        check_name("group", name, 64)
        check_text("group description", description, 1024)
        extra = check_extra("group", extra or {})
        domain_id = self._find_domain(domain or "default")["id"]
        if dbm.row(self.db, "SELECT 1 x FROM groups WHERE name=? AND domain_id=?", (name, domain_id)):
            raise Conflict(f"a group named {name!r} already exists in that domain")
        gid = uuid.uuid4().hex
        self.db["groups"].insert({"id": gid, "name": name, "domain_id": domain_id, "description": description,
                                  "created_at": dbm.now_iso(), "extra": dbm.jdump(extra)})
        return self.get_group(ctx, gid)

    def update_group(self, ctx, group, name=None, description=None):
        self._admin(ctx)
        g = self._find_group(ctx, group)
        values = {}
        if name is not None and name != g["name"]:
            check_name("group", name, 64)
            if dbm.row(self.db, "SELECT 1 x FROM groups WHERE name=? AND domain_id=?", (name, g["domain_id"])):
                raise Conflict(f"a group named {name!r} already exists in that domain")
            values["name"] = name
        if description is not None:
            values["description"] = check_text("group description", description, 1024)
        if values:
            cols = ", ".join(f"{k}=?" for k in values)
            self.db.conn.execute(f"UPDATE groups SET {cols} WHERE id=?", (*values.values(), g["id"]))
        return self.get_group(ctx, g["id"])

    def delete_group(self, ctx, group):
        self._admin(ctx)
        g = self._find_group(ctx, group)
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM group_members WHERE group_id=?", (g["id"],))
            self.db.conn.execute("DELETE FROM grants WHERE actor_type='group' AND actor_id=?", (g["id"],))
            self.db.conn.execute("DELETE FROM groups WHERE id=?", (g["id"],))
        self._cache.clear()  # its members' roles through it end

    def add_group_user(self, ctx, group, user):
        self._admin(ctx)
        g, u = self._find_group(ctx, group), self._user_of(user)
        self.db.conn.execute("INSERT OR IGNORE INTO group_members VALUES (?,?)", (g["id"], u["id"]))
        self._cache.clear()  # the group's roles are the member's now

    def remove_group_user(self, ctx, group, user):
        self._admin(ctx)
        g, u = self._find_group(ctx, group), self._user_of(user)
        cur = self.db.conn.execute("DELETE FROM group_members WHERE group_id=? AND user_id=?", (g["id"], u["id"]))
        if not cur.rowcount:
            raise NotFound(f"user {u['name']!r} is not in group {g['name']!r}")
        self._cache.clear()

    def check_group_user(self, ctx, group, user) -> bool:
        g, u = self._find_group(ctx, group), self._user_of(user)
        return self._member(g["id"], u["id"])

    def list_group_users(self, ctx, group):
        g = self._find_group(ctx, group)
        return [self._user_view(u) for u in dbm.rows(
            self.db, "SELECT u.* FROM users u JOIN group_members m ON m.user_id=u.id WHERE m.group_id=?"
                     " ORDER BY u.name", (g["id"],))]

    def list_user_groups(self, ctx, user):
        u = self._user_of(user)
        if u["id"] != ctx.user_id and not self._reads_all(ctx):
            raise NotFound(f"could not find user: {user}")
        return [self._group_view(g) for g in dbm.rows(
            self.db, "SELECT g.* FROM groups g JOIN group_members m ON m.group_id=g.id WHERE m.user_id=?"
                     " ORDER BY g.name", (u["id"],))]
