"""Identity administration (keystone's users, projects, roles and role assignments): admins
change anything, users see themselves and their projects."""
from __future__ import annotations

import asyncio
import uuid

import bcrypt

from backend.core import db as dbm
from backend.core.context import RequestContext
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from backend.identity.common import MAX_PASSWORD, ROLE_NAMES, _pw_bytes, check_extra, check_name, check_text
from backend.identity.tags import check_tags


class IdentityAdmin:
    """Mixed into IdentityService, which provides db, _cache, _find_user, _find_project
    and hash_password."""

    @staticmethod
    def _admin(ctx: RequestContext):
        if not ctx.is_admin:
            raise Forbidden("only an admin may do this")

    @staticmethod
    def _user_view(u):
        return {**dbm.jload(u["extra"] or "{}"), "id": u["id"], "name": u["name"], "domain_id": u["domain_id"], "enabled": bool(u["enabled"]),
                "default_project_id": u["default_project_id"]}

    @staticmethod
    def _project_view(p):
        return {"id": p["id"], "name": p["name"], "domain_id": p["domain_id"],
                "description": p["description"], "enabled": bool(p["enabled"]),
                "tags": dbm.jload(p["tags"] or "[]"), "parent_id": p.get("parent_id") or p["domain_id"]}

    def list_users(self, ctx):
        if not self._reads_all(ctx):
            return [self._user_view(self._find_user(ctx.user_id))]
        return [self._user_view(u) for u in dbm.rows(self.db, "SELECT * FROM users ORDER BY name")]

    def get_user(self, ctx, user):
        u = self._find_user(user)
        if not u or (not self._reads_all(ctx) and u["id"] != ctx.user_id):
            raise NotFound(f"user {user!r} not found")
        return self._user_view(u)

    def create_user(self, ctx, name, password, default_project=None, enabled=True, extra=None,
                    domain="default"):
        self._admin(ctx)
        check_name("user", name)
        extra = check_extra("user", extra or {})
        domain_id = self._find_domain(domain or "default")["id"]
        if dbm.row(self.db, "SELECT 1 x FROM users WHERE name=? AND domain_id=?", (name, domain_id)):
            raise Conflict(f"a user named {name!r} already exists")
        proj = None
        if default_project:
            proj = self._find_project(default_project)
            if not proj:
                raise NotFound(f"project {default_project!r} not found")
        uid = uuid.uuid4().hex
        self.db["users"].insert({"id": uid, "name": name, "domain_id": domain_id,
                                 "password_hash": self.hash_password(password), "enabled": int(bool(enabled)),
                                 "default_project_id": proj["id"] if proj else None,
                                 "created_at": dbm.now_iso(), "extra": dbm.jdump(extra)})
        self._cache.clear()
        return self._user_view(self._find_user(uid))

    async def check_own_password(self, ctx, user, original_password):
        u = self._find_user(user)
        if not u or u["id"] != ctx.user_id:
            raise NotFound(f"user {user!r} not found")
        if not isinstance(original_password, str) or not original_password:
            raise BadRequest("changing your password needs your current password (original_password)")
        raw = _pw_bytes(original_password)
        ok = await asyncio.to_thread(bcrypt.checkpw, raw[:MAX_PASSWORD], u["password_hash"].encode())
        if not ok or len(raw) > MAX_PASSWORD:
            raise Unauthorized("the current password (original_password) is wrong")

    def update_user(self, ctx, user, name=None, password_hash=None, enabled=None, default_project=None,
                    extra=None):
        """Admins change anyone; a user may change only their own password. A new password
        or disabling revokes the user's tokens (keystone does the same)."""
        u = self._find_user(user)
        if not u or (not ctx.is_admin and u["id"] != ctx.user_id):
            raise NotFound(f"user {user!r} not found")
        if not ctx.is_admin and (name is not None or enabled is not None or default_project is not None
                                 or extra):
            raise Forbidden("only an admin may change a user's name, state, default project or attributes")
        values = {}
        if extra:  # merged over the kept ones, as keystone's PATCH does
            values["extra"] = dbm.jdump({**dbm.jload(u["extra"] or "{}"), **check_extra("user", extra)})
        if name is not None and name != u["name"]:
            check_name("user", name)
            if dbm.row(self.db, "SELECT 1 x FROM users WHERE name=? AND domain_id=?", (name, u["domain_id"])):
                raise Conflict(f"a user named {name!r} already exists")
            values["name"] = name
        if password_hash is not None:
            values["password_hash"] = password_hash
        if enabled is not None:
            if not isinstance(enabled, bool):
                raise BadRequest("enabled must be true or false")
            values["enabled"] = int(enabled)
        if default_project is not None:
            proj = self._find_project(default_project)
            if not proj:
                raise NotFound(f"project {default_project!r} not found")
            values["default_project_id"] = proj["id"]
        if values:
            with dbm.transaction(self.db):
                cols = ", ".join(f"{k}=?" for k in values)
                self.db.conn.execute(f"UPDATE users SET {cols} WHERE id=?", (*values.values(), u["id"]))
                if "password_hash" in values or values.get("enabled") == 0:
                    self.db.conn.execute("UPDATE tokens SET revoked=1 WHERE user_id=?", (u["id"],))
            self._cache.clear()
        return self._user_view(self._find_user(u["id"]))

    def delete_user(self, ctx, user):
        self._admin(ctx)
        u = self._find_user(user)
        if not u:
            raise NotFound(f"user {user!r} not found")
        if u["id"] == ctx.user_id:
            raise Conflict("you cannot delete yourself")
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM assignments WHERE user_id=?", (u["id"],))
            self.db.conn.execute("DELETE FROM system_assignments WHERE user_id=?", (u["id"],))
            self.db.conn.execute("DELETE FROM group_members WHERE user_id=?", (u["id"],))
            self.db.conn.execute("DELETE FROM grants WHERE actor_type='user' AND actor_id=?", (u["id"],))
            self.db.conn.execute("DELETE FROM app_credentials WHERE user_id=?", (u["id"],))
            self.db.conn.execute("DELETE FROM credentials WHERE user_id=?", (u["id"],))
            self.db.conn.execute("UPDATE tokens SET revoked=1 WHERE user_id=?", (u["id"],))
            self.db.conn.execute("DELETE FROM users WHERE id=?", (u["id"],))
        self._cache.clear()

    def list_projects(self, ctx):
        if not self._reads_all(ctx):
            return self.auth_projects_for(ctx.user_id)
        return [self._project_view(p) for p in dbm.rows(self.db, "SELECT * FROM projects ORDER BY name")]

    def get_project(self, ctx, project):
        p = self._find_project(project)
        if not p or (not self._reads_all(ctx) and p["id"] not in {x["id"] for x in self.auth_projects_for(ctx.user_id)}):
            raise NotFound(f"project {project!r} not found")
        return self._project_view(p)

    def create_project(self, ctx, name, description="", domain="default", enabled=True, tags=(), parent=None):
        self._admin(ctx)
        tags = check_tags(list(tags))
        check_name("project", name, 64)
        if not isinstance(description, str):
            raise BadRequest("project description must be a string")
        parent_row = None
        if parent is not None:  # a project, or a domain (then the project is at its top)
            parent_row = dbm.row(self.db, "SELECT * FROM projects WHERE id=?", (parent,))
            parent_domain = parent_row["domain_id"] if parent_row else (
                dbm.row(self.db, "SELECT id FROM domains WHERE id=?", (parent,)) or {}).get("id")
            if not parent_domain:
                raise BadRequest(f"'project.parent_id': no project or domain {parent!r}")
            if domain and domain != parent_domain:
                raise BadRequest("'project.parent_id': a project is in its parent's domain")
            domain = parent_domain
        domain_id = self._find_domain(domain or "default")["id"]
        if dbm.row(self.db, "SELECT 1 x FROM projects WHERE name=? AND domain_id=?", (name, domain_id)):
            raise Conflict(f"a project named {name!r} already exists")
        pid = uuid.uuid4().hex
        self.db["projects"].insert({"id": pid, "name": name, "domain_id": domain_id,
                                    "description": description, "enabled": int(bool(enabled)),
                                    "tags": dbm.jdump(tags), "parent_id": parent_row["id"] if parent_row else None,
                                    "created_at": dbm.now_iso()})
        return self._project_view(self._find_project(pid))

    def update_project(self, ctx, project, name=None, description=None, enabled=None, tags=None):
        self._admin(ctx)
        p = self._find_project(project)
        if not p:
            raise NotFound(f"project {project!r} not found")
        values = {}
        if name is not None and name != p["name"]:
            check_name("project", name, 64)
            if dbm.row(self.db, "SELECT 1 x FROM projects WHERE name=? AND domain_id=?", (name, p["domain_id"])):
                raise Conflict(f"a project named {name!r} already exists")
            values["name"] = name
        if description is not None:
            if not isinstance(description, str) or len(description) > 1024:
                raise BadRequest("project description must be a string of at most 1024 characters")
            values["description"] = description
        if enabled is not None:
            if not isinstance(enabled, bool):
                raise BadRequest("enabled must be true or false")
            if not enabled and p["id"] == ctx.project_id:
                raise Conflict("you cannot disable the project your token is scoped to")
            values["enabled"] = int(enabled)
        if tags is not None:
            values["tags"] = dbm.jdump(check_tags(tags))
        if values:
            cols = ", ".join(f"{k}=?" for k in values)
            self.db.conn.execute(f"UPDATE projects SET {cols} WHERE id=?", (*values.values(), p["id"]))
            self._cache.clear()
        return self._project_view(self._find_project(p["id"]))

    def delete_project(self, ctx, project):
        self._admin(ctx)
        p = self._find_project(project)
        if not p:
            raise NotFound(f"project {project!r} not found")
        if p["id"] == ctx.project_id:
            raise Conflict("you cannot delete the project your token is scoped to")
        if dbm.row(self.db, "SELECT 1 x FROM projects WHERE parent_id=?", (p["id"],)):
            raise Forbidden(f"project {p['name']!r} has projects below it: delete them first")
        owned = self._owned_by(p["id"])
        if owned:
            # keystone leaves a deleted project's resources behind, owned by nobody
            raise Conflict(f"project {p['name']!r} still owns {', '.join(owned)}: delete them first")
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM assignments WHERE project_id=?", (p["id"],))
            self.db.conn.execute("DELETE FROM grants WHERE target_type='project' AND target_id=?", (p["id"],))
            self.db.conn.execute("DELETE FROM app_credentials WHERE project_id=?", (p["id"],))
            self.db.conn.execute("UPDATE tokens SET revoked=1 WHERE project_id=?", (p["id"],))
            self.db.conn.execute("DELETE FROM quotas WHERE project_id=?", (p["id"],))  # its overrides go too
            self.db.conn.execute("DELETE FROM projects WHERE id=?", (p["id"],))
        self._cache.clear()

    # what a project owns, by table: (label, table, owner column, extra condition)
    _OWNED = (("instance(s)", "instances", "project_id", " AND deleted=0"),
              ("volume(s)", "volumes", "project_id", ""),
              ("image(s)", "images", "owner", ""),
              ("port(s)", "ports", "project_id", ""),
              ("network(s)", "networks", "project_id", ""),
              ("server group(s)", "server_groups", "project_id", ""))

    def _owned_by(self, project_id: str) -> list[str]:
        out = []
        for label, table, col, extra in self._OWNED:
            n = dbm.row(self.db, f"SELECT count(*) n FROM {table} WHERE {col}=?{extra}", (project_id,))["n"]
            if n:
                out.append(f"{n} {label}")
        return out

    def list_roles(self, ctx, domain=None):
        """The global roles, or with domain those specific to it (keystone lists them apart)."""
        if domain is not None:
            return dbm.rows(self.db, "SELECT id, name, description, domain_id FROM roles WHERE domain_id=?"
                                     " ORDER BY name", (domain,))
        return dbm.rows(self.db, "SELECT id, name, description, domain_id FROM roles WHERE domain_id IS NULL"
                                 " ORDER BY name")

    def get_role(self, ctx, role):
        r = (dbm.row(self.db, "SELECT id, name, description, domain_id FROM roles WHERE id=?", (role,)) or
             dbm.row(self.db, "SELECT id, name, description, domain_id FROM roles WHERE name=?", (role,)))
        if not r:
            raise NotFound(f"role {role!r} not found")
        return r

    def create_role(self, ctx, name, description=None, domain=None):
        """domain: a domain-specific role (held only for the global roles it implies)."""
        self._admin(ctx)
        check_name("role", name)
        if description is not None:
            check_text("role description", description, 255)
        if domain is not None:
            domain = self._find_domain(domain)["id"]
        if dbm.row(self.db, "SELECT 1 x FROM roles WHERE name=?", (name,)):
            raise Conflict(f"a role named {name!r} already exists")
        rid = uuid.uuid4().hex
        self.db["roles"].insert({"id": rid, "name": name, "description": description, "domain_id": domain})
        return self.get_role(ctx, rid)

    def _own_role(self, ctx, role):
        self._admin(ctx)
        r = dbm.row(self.db, "SELECT * FROM roles WHERE id=?", (role,))
        if not r:
            raise NotFound(f"could not find role: {role}")
        return r

    def update_role(self, ctx, role, name=None, description=None):
        r = self._own_role(ctx, role)
        values = {}
        if name is not None and name != r["name"]:
            check_name("role", name)
            if r["name"] in ROLE_NAMES:
                raise Forbidden(f"the role {r['name']!r} is built in: it cannot be renamed")
            if dbm.row(self.db, "SELECT 1 x FROM roles WHERE name=?", (name,)):
                raise Conflict(f"a role named {name!r} already exists")
            values["name"] = name
        if description is not None:
            values["description"] = check_text("role description", description, 255)
        if values:
            cols = ", ".join(f"{k}=?" for k in values)
            self.db.conn.execute(f"UPDATE roles SET {cols} WHERE id=?", (*values.values(), r["id"]))
            self._cache.clear()
        return self.get_role(ctx, r["id"])

    def delete_role(self, ctx, role):
        """Its assignments go with it (keystone); the built-in roles stay (access rests on them)."""
        r = self._own_role(ctx, role)
        if r["name"] in ROLE_NAMES:
            raise Forbidden(f"the role {r['name']!r} is built in: it cannot be deleted")
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM assignments WHERE role_id=?", (r["id"],))
            self.db.conn.execute("DELETE FROM system_assignments WHERE role_id=?", (r["id"],))
            self.db.conn.execute("DELETE FROM grants WHERE role_id=?", (r["id"],))
            self.db.conn.execute("DELETE FROM implied_roles WHERE prior_role_id=?1 OR implied_role_id=?1", (r["id"],))
            self.db.conn.execute("DELETE FROM roles WHERE id=?", (r["id"],))
        self._cache.clear()

    def _assignment_parts(self, ctx, project, user, role):
        self._admin(ctx)
        p = self._find_project(project)
        if not p:
            raise NotFound(f"project {project!r} not found")
        u = self._find_user(user)
        if not u:
            raise NotFound(f"user {user!r} not found")
        return p, u, self.get_role(ctx, role)

    def grant_role(self, ctx, project, user, role):
        p, u, r = self._assignment_parts(ctx, project, user, role)
        self.db.conn.execute("INSERT OR IGNORE INTO assignments VALUES (?,?,?)", (u["id"], p["id"], r["id"]))
        self._cache.clear()

    def revoke_role(self, ctx, project, user, role):
        p, u, r = self._assignment_parts(ctx, project, user, role)
        cur = self.db.conn.execute("DELETE FROM assignments WHERE user_id=? AND project_id=? AND role_id=?",
                                   (u["id"], p["id"], r["id"]))
        if not cur.rowcount:
            raise NotFound(f"user {u['name']!r} has no role {r['name']!r} on project {p['name']!r}")
        self._cache.clear()

    def check_role(self, ctx, project, user, role):
        p, u, r = self._assignment_parts(ctx, project, user, role)
        return dbm.row(self.db, "SELECT 1 x FROM assignments WHERE user_id=? AND project_id=? AND role_id=?",
                       (u["id"], p["id"], r["id"])) is not None

    def list_role_assignments(self, ctx, project=None, user=None):
        if not self._reads_all(ctx):
            user = ctx.user_id
        sql = ("SELECT a.user_id, a.project_id, a.role_id, r.name role_name FROM assignments a"
               " JOIN roles r ON r.id=a.role_id WHERE 1=1")
        params = []
        if project:
            p = self._find_project(project)
            if not p:
                raise NotFound(f"project {project!r} not found")
            sql += " AND a.project_id=?"
            params.append(p["id"])
        if user:
            u = self._find_user(user)
            if not u:
                raise NotFound(f"user {user!r} not found")
            sql += " AND a.user_id=?"
            params.append(u["id"])
        return dbm.rows(self.db, sql + " ORDER BY a.project_id, a.user_id, r.name", params)
