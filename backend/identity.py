"""Identity (keystone): users, projects, roles, assignments, tokens.

Passwords are bcrypt hashes. A token is 256 random bits; only its SHA-256 is stored, so a
copy of the database yields no usable token. password -> unscoped token (names the user
only); unscoped token + project -> scoped token carrying the roles on that project."""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import time
import uuid

import bcrypt

from backend import db as dbm
from backend.context import RequestContext, new_request_id
from backend.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from backend.inputs import refused_char

DEFAULT_DOMAIN = {"id": "default", "name": "Default"}
ROLE_NAMES = ("admin", "member", "reader")
# keystone's default implied roles: admin => member => reader
IMPLIES = {"admin": ("admin", "member", "reader"), "member": ("member", "reader"), "reader": ("reader",)}
MAX_PASSWORD = 72  # bcrypt only reads 72 bytes; refuse longer rather than truncate silently


def _pw_bytes(password: str) -> bytes:
    try:
        return password.encode()
    except UnicodeEncodeError:
        raise BadRequest("password must be valid text (it holds a lone surrogate)") from None


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def check_text(what: str, text, max_len: int = 255, empty: bool = True) -> str:
    """A user-facing string (name, description): one line of printable text, so no
    terminal escape or bidi override reaches a table, a log or another user's screen."""
    if not isinstance(text, str) or (not empty and not text.strip()):
        raise BadRequest(f"{what} must be a non-empty string" if not empty else f"{what} must be a string")
    if len(text) > max_len:
        raise BadRequest(f"{what} is longer than {max_len} characters")
    bad = refused_char(text)
    if bad:
        raise BadRequest(f"{what} contains the character {bad}: control, line-separator and "
                         "bidi-control characters are not allowed")
    return text


def check_name(kind: str, name, max_len: int = 255, empty: bool = False) -> str:
    return check_text(f"{kind} name", name, max_len, empty)


class IdentityService:
    def __init__(self, db, config):
        self.db = db
        self.config = config
        self._cache: dict[str, tuple[RequestContext, float]] = {}
        # checked against when the user does not exist, so timing does not tell
        self._dummy = bcrypt.hashpw(b"-", bcrypt.gensalt(config.password_hash_rounds)).decode()

    # ---- passwords and tokens -------------------------------------------------------
    def hash_password(self, password: str) -> str:
        if not isinstance(password, str) or not password:
            raise BadRequest("password must be a non-empty string")
        if len(_pw_bytes(password)) > MAX_PASSWORD:
            raise BadRequest(f"password is longer than {MAX_PASSWORD} bytes (UTF-8), bcrypt's limit")
        rounds = self.config.password_hash_rounds
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()

    def _find_user(self, name_or_id: str, domain: str = "Default") -> dict | None:
        dom = self._domain_id(domain)
        return (dbm.row(self.db, "SELECT * FROM users WHERE id=?", (name_or_id,)) or
                dbm.row(self.db, "SELECT * FROM users WHERE name=? AND domain_id=?", (name_or_id, dom)))

    def _find_project(self, name_or_id: str, domain: str = "Default") -> dict | None:
        dom = self._domain_id(domain)
        return (dbm.row(self.db, "SELECT * FROM projects WHERE id=?", (name_or_id,)) or
                dbm.row(self.db, "SELECT * FROM projects WHERE name=? AND domain_id=?", (name_or_id, dom)))

    @staticmethod
    def _domain_id(domain: str | None) -> str:
        if domain in (None, "", "default", "Default"):
            return "default"
        raise Unauthorized(f"domain {domain!r} not found (only 'Default' exists)")

    def _roles_on(self, user_id: str, project_id: str) -> list[dict]:
        names: set[str] = set()
        for r in dbm.rows(self.db, "SELECT r.name FROM assignments a JOIN roles r ON r.id=a.role_id"
                                   " WHERE a.user_id=? AND a.project_id=?", (user_id, project_id)):
            names.update(IMPLIES.get(r["name"], (r["name"],)))
        roles = dbm.rows(self.db, "SELECT id, name FROM roles")
        return sorted((r for r in roles if r["name"] in names), key=lambda r: r["name"])

    def _issue(self, user: dict, project: dict | None, methods: list[str],
               expires_at: float | None = None) -> dict:
        if project is not None:
            if not project["enabled"]:
                raise Unauthorized(f"project {project['name']!r} is disabled")
            roles = self._roles_on(user["id"], project["id"])
            if not roles:
                raise Unauthorized(f"user {user['name']!r} has no role on project {project['name']!r}")
        else:
            roles = []
        token = secrets.token_urlsafe(32)
        now = time.time()
        exp = min(expires_at or now + self.config.token_ttl, now + self.config.token_ttl)
        self.db.conn.execute(
            "INSERT INTO tokens (id_hash, user_id, project_id, methods, issued_at, expires_at)"
            " VALUES (?,?,?,?,?,?)",
            (_hash_token(token), user["id"], project["id"] if project else None,
             dbm.jdump(methods), now, exp))
        return self._view(token, user, project, roles, methods, now, exp)

    @staticmethod
    def _view(token, user, project, roles, methods, issued, exp) -> dict:
        return {"token": token, "issued_at": _iso(issued), "expires_at": _iso(exp), "methods": methods,
                "user": {"id": user["id"], "name": user["name"], "domain": DEFAULT_DOMAIN},
                "project": ({"id": project["id"], "name": project["name"], "domain": DEFAULT_DOMAIN}
                            if project else None),
                "roles": roles, "is_admin": any(r["name"] == "admin" for r in roles)}

    async def authenticate_password(self, username: str, password: str, project: str | None,
                                    domain: str = "Default") -> dict:
        if not isinstance(username, str) or not username or not isinstance(password, str):
            raise BadRequest("username and password are required")
        user = self._find_user(username, domain)
        # always spend one bcrypt check so timing does not reveal which users exist
        stored = user["password_hash"] if user else self._dummy
        raw = _pw_bytes(password)
        ok = await asyncio.to_thread(bcrypt.checkpw, raw[:MAX_PASSWORD], stored.encode())
        # no stored password is longer (set time refuses it): a longer one never matches,
        # though its first 72 bytes would
        if not user or not ok or len(raw) > MAX_PASSWORD:
            raise Unauthorized("the request you have made requires authentication: wrong user name or password")
        if not user["enabled"]:
            raise Unauthorized(f"user {username!r} is disabled")
        proj = None
        if project is not None:
            proj = self._find_project(project)
            if not proj:
                raise Unauthorized(f"project {project!r} not found")
        return self._issue(user, proj, ["password"])

    def operator_token(self) -> str:
        user = dbm.row(self.db, "SELECT * FROM users WHERE name='admin' AND domain_id='default'")
        proj = dbm.row(self.db, "SELECT * FROM projects WHERE name='admin' AND domain_id='default'")
        if not user or not proj:
            raise Unauthorized("no admin user or project: run `pocketstack init` first")
        return self._issue(user, proj, ["local"])["token"]

    def authenticate_token(self, token: str, project: str | None) -> dict:
        ctx, row = self._validate(token)
        user = dbm.row(self.db, "SELECT * FROM users WHERE id=?", (ctx.user_id,))
        proj = None
        if project is not None:
            proj = self._find_project(project)
            if not proj:
                raise Unauthorized(f"project {project!r} not found")
        elif row["project_id"]:
            proj = self._find_project(row["project_id"])
        # a token-method token never outlives the one it came from (keystone)
        return self._issue(user, proj, ["token"], expires_at=row["expires_at"])

    def _validate(self, token: str) -> tuple[RequestContext, dict]:
        if not token or not isinstance(token, str):
            raise Unauthorized("authentication required: no token given")
        row = dbm.row(self.db, "SELECT * FROM tokens WHERE id_hash=?", (_hash_token(token),))
        if row is None:
            raise Unauthorized("the token is not valid")
        if row["revoked"]:
            raise Unauthorized("the token has been revoked")
        if row["expires_at"] <= time.time():
            raise Unauthorized("the token has expired")
        user = dbm.row(self.db, "SELECT * FROM users WHERE id=?", (row["user_id"],))
        if not user or not user["enabled"]:
            raise Unauthorized("the token's user no longer exists or is disabled")
        proj, roles = None, ()
        if row["project_id"]:
            proj = dbm.row(self.db, "SELECT * FROM projects WHERE id=?", (row["project_id"],))
            if not proj or not proj["enabled"]:
                raise Unauthorized("the token's project no longer exists or is disabled")
            roles = tuple(r["name"] for r in self._roles_on(user["id"], proj["id"]))
            if not roles:
                raise Unauthorized("the token's user no longer has a role on its project")
        ctx = RequestContext(user["id"], user["name"], proj["id"] if proj else None,
                             proj["name"] if proj else None, roles)
        return ctx, row

    def context_for(self, token: str) -> RequestContext:
        """The request context of a valid token (cached until the token's expiry or any
        identity change)."""
        t0 = time.perf_counter()
        h = _hash_token(token) if isinstance(token, str) else ""
        hit = self._cache.get(h)
        now = time.time()
        if hit and hit[1] > now:
            ctx = hit[0]
        else:
            ctx, row = self._validate(token)
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[h] = (ctx, row["expires_at"])
        return ctx.with_request_id(new_request_id(), (time.perf_counter() - t0) * 1000)

    def _subject(self, caller: RequestContext, token: str, subject: str | None):
        """The subject token of a validate or revoke: 404 when it is not valid (keystone),
        once the caller's own token has passed (401 otherwise)."""
        if not subject or subject == token:
            return self._validate(token)
        try:
            return self._validate(subject)
        except Unauthorized as e:
            raise NotFound(f"could not find the subject token: {e.message}") from None

    def validate(self, token: str, subject: str | None) -> dict:
        caller = self.context_for(token)
        ctx, row = self._subject(caller, token, subject)
        subject = subject or token
        # keystone's identity:validate_token: admins, services and the token's owner
        if ctx.user_id != caller.user_id and not caller.is_admin:
            raise Forbidden("only an admin or the token's owner may validate a token")
        user = dbm.row(self.db, "SELECT * FROM users WHERE id=?", (ctx.user_id,))
        proj = dbm.row(self.db, "SELECT * FROM projects WHERE id=?", (ctx.project_id,)) if ctx.project_id else None
        roles = self._roles_on(user["id"], proj["id"]) if proj else []
        return self._view(subject, user, proj, roles, dbm.jload(row["methods"]), row["issued_at"],
                          row["expires_at"])

    def revoke(self, token: str, subject: str | None) -> None:
        ctx = self.context_for(token)
        sctx, _ = self._subject(ctx, token, subject)
        subject = subject or token
        if sctx.user_id != ctx.user_id and not ctx.is_admin:
            raise Forbidden("only an admin may revoke another user's token")
        self.db.conn.execute("UPDATE tokens SET revoked=1 WHERE id_hash=?", (_hash_token(subject),))
        self._cache.clear()

    def auth_projects(self, token: str) -> list[dict]:
        ctx = self.context_for(token)
        return [self._project_view(p) for p in dbm.rows(
            self.db, "SELECT DISTINCT p.* FROM projects p JOIN assignments a ON a.project_id=p.id"
                     " WHERE a.user_id=? AND p.enabled=1 ORDER BY p.name", (ctx.user_id,))]

    # ---- administration -----------------------------------------------------------------
    @staticmethod
    def _admin(ctx: RequestContext):
        if not ctx.is_admin:
            raise Forbidden("only an admin may do this")

    @staticmethod
    def _user_view(u):
        return {"id": u["id"], "name": u["name"], "domain_id": u["domain_id"], "enabled": bool(u["enabled"]),
                "default_project_id": u["default_project_id"]}

    @staticmethod
    def _project_view(p):
        return {"id": p["id"], "name": p["name"], "domain_id": p["domain_id"],
                "description": p["description"], "enabled": bool(p["enabled"])}

    def list_users(self, ctx):
        if not ctx.is_admin:
            return [self._user_view(self._find_user(ctx.user_id))]
        return [self._user_view(u) for u in dbm.rows(self.db, "SELECT * FROM users ORDER BY name")]

    def get_user(self, ctx, user):
        u = self._find_user(user)
        if not u or (not ctx.is_admin and u["id"] != ctx.user_id):
            raise NotFound(f"user {user!r} not found")
        return self._user_view(u)

    def create_user(self, ctx, name, password, default_project=None, enabled=True):
        self._admin(ctx)
        check_name("user", name)
        if self._find_user(name):
            raise Conflict(f"a user named {name!r} already exists")
        proj = None
        if default_project:
            proj = self._find_project(default_project)
            if not proj:
                raise NotFound(f"project {default_project!r} not found")
        uid = uuid.uuid4().hex
        self.db["users"].insert({"id": uid, "name": name, "domain_id": "default",
                                 "password_hash": self.hash_password(password), "enabled": int(bool(enabled)),
                                 "default_project_id": proj["id"] if proj else None,
                                 "created_at": dbm.now_iso()})
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

    def update_user(self, ctx, user, name=None, password_hash=None, enabled=None, default_project=None):
        """Admins change anyone; a user may change only their own password. A new password
        or disabling revokes the user's tokens (keystone does the same)."""
        u = self._find_user(user)
        if not u or (not ctx.is_admin and u["id"] != ctx.user_id):
            raise NotFound(f"user {user!r} not found")
        if not ctx.is_admin and (name is not None or enabled is not None or default_project is not None):
            raise Forbidden("only an admin may change a user's name, state or default project")
        values = {}
        if name is not None and name != u["name"]:
            check_name("user", name)
            if self._find_user(name):
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
            self.db.conn.execute("UPDATE tokens SET revoked=1 WHERE user_id=?", (u["id"],))
            self.db.conn.execute("DELETE FROM users WHERE id=?", (u["id"],))
        self._cache.clear()

    def list_projects(self, ctx):
        if not ctx.is_admin:
            return self.auth_projects_for(ctx.user_id)
        return [self._project_view(p) for p in dbm.rows(self.db, "SELECT * FROM projects ORDER BY name")]

    def auth_projects_for(self, user_id):
        return [self._project_view(p) for p in dbm.rows(
            self.db, "SELECT DISTINCT p.* FROM projects p JOIN assignments a ON a.project_id=p.id"
                     " WHERE a.user_id=? ORDER BY p.name", (user_id,))]

    def get_project(self, ctx, project):
        p = self._find_project(project)
        if not p or (not ctx.is_admin and p["id"] not in {x["id"] for x in self.auth_projects_for(ctx.user_id)}):
            raise NotFound(f"project {project!r} not found")
        return self._project_view(p)

    def create_project(self, ctx, name, description=""):
        self._admin(ctx)
        check_name("project", name, 64)
        if not isinstance(description, str):
            raise BadRequest("project description must be a string")
        if self._find_project(name):
            raise Conflict(f"a project named {name!r} already exists")
        pid = uuid.uuid4().hex
        self.db["projects"].insert({"id": pid, "name": name, "domain_id": "default",
                                    "description": description, "enabled": 1, "created_at": dbm.now_iso()})
        return self._project_view(self._find_project(pid))

    def update_project(self, ctx, project, name=None, description=None, enabled=None):
        self._admin(ctx)
        p = self._find_project(project)
        if not p:
            raise NotFound(f"project {project!r} not found")
        values = {}
        if name is not None and name != p["name"]:
            check_name("project", name, 64)
            if self._find_project(name):
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
        owned = self._owned_by(p["id"])
        if owned:
            # keystone leaves a deleted project's resources behind, owned by nobody
            raise Conflict(f"project {p['name']!r} still owns {', '.join(owned)}: delete them first")
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM assignments WHERE project_id=?", (p["id"],))
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

    def list_roles(self, ctx):
        return dbm.rows(self.db, "SELECT id, name FROM roles ORDER BY name")

    def get_role(self, ctx, role):
        r = (dbm.row(self.db, "SELECT id, name FROM roles WHERE id=?", (role,)) or
             dbm.row(self.db, "SELECT id, name FROM roles WHERE name=?", (role,)))
        if not r:
            raise NotFound(f"role {role!r} not found")
        return r

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
        if not ctx.is_admin:
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

