"""Identity (keystone): users, projects, roles, assignments, tokens.

Passwords are bcrypt hashes. A token is 256 random bits; only its SHA-256 is stored, so a
copy of the database yields no usable token. password -> unscoped token (names the user
only); unscoped token + project -> scoped token carrying the roles on that project."""
from __future__ import annotations

import asyncio
import secrets
import time

import bcrypt

from backend.core import db as dbm
from backend.core.context import RequestContext, new_request_id
from backend.core.errors import BadRequest, Forbidden, NotFound, Unauthorized
from backend.identity.admin import IdentityAdmin
from backend.identity.appcreds import AppCredentials
from backend.identity.credentials import Credentials
from backend.identity.domains import Domains
from backend.identity.grants import Grants
from backend.identity.groups import Groups
from backend.identity.system import SystemRoles
from backend.identity.tags import ProjectTags
from backend.identity.common import (DEFAULT_DOMAIN, IMPLIES, MAX_PASSWORD, ROLE_NAMES, _hash_token, _iso,
                                     _pw_bytes, check_name, check_text)

__all__ = ["DEFAULT_DOMAIN", "IMPLIES", "MAX_PASSWORD", "ROLE_NAMES", "IdentityService", "check_name",
           "check_text"]


class _TokenCache(dict):
    """Validated tokens. Every identity change (a revocation, a role, a user or project
    disabled) clears it: epoch counts the clears, so a holder of a context (an event stream)
    can tell cheaply whether its token must be checked again."""
    epoch = 0

    def clear(self) -> None:
        self.epoch += 1
        super().clear()


class IdentityService(Grants, AppCredentials, Credentials, IdentityAdmin, SystemRoles, Domains, Groups, ProjectTags):
    def __init__(self, db, config):
        self.db = db
        self.config = config
        self._cache: _TokenCache = _TokenCache()  # token hash -> (context, expires_at)
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

    def _domain_id(self, domain: str | None) -> str:
        """A login's domain (id or name) -> its id; unknown or disabled is 401 (keystone)."""
        if domain in (None, "", "default", "Default"):
            return "default"
        d = (dbm.row(self.db, "SELECT * FROM domains WHERE id=?", (domain,)) or
             dbm.row(self.db, "SELECT * FROM domains WHERE name=?", (domain,)))
        if not d:
            raise Unauthorized(f"domain {domain!r} not found")
        if not d["enabled"]:
            raise Unauthorized(f"domain {d['name']!r} is disabled")
        return d["id"]

    def _domain_ref(self, domain_id: str) -> dict:
        d = dbm.row(self.db, "SELECT id, name FROM domains WHERE id=?", (domain_id,))
        return {"id": domain_id, "name": d["name"] if d else domain_id}

    def _issue(self, user: dict, project: dict | None, methods: list[str],
               expires_at: float | None = None, system: bool = False, domain: dict | None = None,
               app_cred: dict | None = None) -> dict:
        if domain is not None:
            roles = self._domain_roles(user["id"], domain["id"])
            if not roles:
                raise Unauthorized(f"user {user['name']!r} has no role on domain {domain['name']!r}")
        elif system:
            roles = self._system_roles(user["id"])
            if not roles:
                raise Unauthorized(f"user {user['name']!r} has no role on the system")
        elif project is not None:
            if not project["enabled"]:
                raise Unauthorized(f"project {project['name']!r} is disabled")
            roles = self._roles_on(user["id"], project["id"])
            if app_cred is not None:  # its roles that the user still holds; never outliving it
                roles = self._app_cred_roles(app_cred, roles)
                if app_cred["expires_at"]:
                    expires_at = min(expires_at or app_cred["expires_at"], app_cred["expires_at"])
            if not roles:
                raise Unauthorized(f"user {user['name']!r} has no role on project {project['name']!r}")
        else:
            roles = []
        token = secrets.token_urlsafe(32)
        now = time.time()
        exp = min(expires_at or now + self.config.token_ttl, now + self.config.token_ttl)
        self.db.conn.execute(
            "INSERT INTO tokens (id_hash, user_id, project_id, methods, issued_at, expires_at, system, domain_id,"
            " app_cred_id) VALUES (?,?,?,?,?,?,?,?,?)",
            (_hash_token(token), user["id"], None if system or not project else project["id"],
             dbm.jdump(methods), now, exp, int(system), domain["id"] if domain else None,
             app_cred["id"] if app_cred else None))
        return self._view(token, user, None if system else project, roles, methods, now, exp, system, domain)

    def _view(self, token, user, project, roles, methods, issued, exp, system=False, domain=None) -> dict:
        return {"domain": {"id": domain["id"], "name": domain["name"]} if domain else None,"token": token, "issued_at": _iso(issued), "expires_at": _iso(exp), "methods": methods,
                "user": {"id": user["id"], "name": user["name"], "domain": self._domain_ref(user["domain_id"])},
                "project": ({"id": project["id"], "name": project["name"],
                             "domain": self._domain_ref(project["domain_id"])} if project else None),
                "roles": roles, "is_admin": any(r["name"] == "admin" for r in roles), "system": system}

    async def authenticate_password(self, username: str, password: str, project: str | None,
                                    domain: str = "Default", system: bool = False,
                                    project_domain: str = "Default", default_project: bool = False,
                                    domain_scope: str | None = None) -> dict:
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
        self._domain_id(user["domain_id"])  # a disabled domain's users do not log in
        proj = None
        if project is not None:
            proj = self._find_project(project, project_domain)
            if not proj:
                raise Unauthorized(f"project {project!r} not found")
        elif default_project and not system and user["default_project_id"]:
            # keystone's REST API: no scope asked, the user's default project if it may be used
            p = self._find_project(user["default_project_id"])
            if p and p["enabled"] and self._roles_on(user["id"], p["id"]):
                proj = p
        return self._issue(user, proj, ["password"], system=system, domain=self._scope_domain(domain_scope))

    def operator_token(self) -> str:
        user = dbm.row(self.db, "SELECT * FROM users WHERE name='admin' AND domain_id='default'")
        proj = dbm.row(self.db, "SELECT * FROM projects WHERE name='admin' AND domain_id='default'")
        if not user or not proj:
            raise Unauthorized("no admin user or project: run `pocketstack init` first")
        return self._issue(user, proj, ["local"])["token"]

    def authenticate_token(self, token: str, project: str | None, system: bool = False,
                           project_domain: str = "Default", domain_scope: str | None = None) -> dict:
        ctx, row = self._validate(token)
        if row["app_cred_id"]:
            raise Unauthorized("a token from an application credential cannot be rescoped")
        user = dbm.row(self.db, "SELECT * FROM users WHERE id=?", (ctx.user_id,))
        proj, domain = None, self._scope_domain(domain_scope)
        if domain is not None:
            pass
        elif row["domain_id"] and project is None and not system:
            domain = self._scope_domain(row["domain_id"])  # rescoping nothing keeps the domain
        elif project is not None:
            proj = self._find_project(project, project_domain)
            if not proj:
                raise Unauthorized(f"project {project!r} not found")
        elif row["project_id"]:
            proj = self._find_project(row["project_id"])
        elif row["system"] and not system:
            system = True  # rescoping nothing keeps the system scope
        # a token-method token never outlives the one it came from, and names the methods
        # that one was got by too (keystone)
        methods = list(dict.fromkeys([*dbm.jload(row["methods"]), "token"]))
        return self._issue(user, proj, methods, expires_at=row["expires_at"], system=system, domain=domain)

    def _scope_domain(self, domain: str | None) -> dict | None:
        """A domain scope asked for (id or name) -> the domain; unknown or disabled is 401."""
        if domain is None:
            return None
        d = (dbm.row(self.db, "SELECT * FROM domains WHERE id=?", (domain,)) or
             dbm.row(self.db, "SELECT * FROM domains WHERE name=?", (domain,)))
        if not d:
            raise Unauthorized(f"domain {domain!r} not found")
        if not d["enabled"]:
            raise Unauthorized(f"domain {d['name']!r} is disabled")
        return d

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
        if row["system"]:
            roles = tuple(r["name"] for r in self._system_roles(user["id"]))
            if not roles:
                raise Unauthorized("the token's user no longer has a role on the system")
        elif row["project_id"]:
            proj = dbm.row(self.db, "SELECT * FROM projects WHERE id=?", (row["project_id"],))
            if not proj or not proj["enabled"]:
                raise Unauthorized("the token's project no longer exists or is disabled")
            roles = tuple(r["name"] for r in self._token_roles(row, user["id"], proj["id"]))
            if not roles:
                raise Unauthorized("the token's user no longer has a role on its project")
        elif row["domain_id"]:
            d = dbm.row(self.db, "SELECT * FROM domains WHERE id=?", (row["domain_id"],))
            if not d or not d["enabled"] or not self._domain_roles(user["id"], d["id"]):
                raise Unauthorized("the token's domain no longer exists, is disabled or holds no role of its user")
            # a domain-scoped token's roles are shown, not yet honoured: it acts as its user only
        ctx = RequestContext(user["id"], user["name"], proj["id"] if proj else None,
                             proj["name"] if proj else None, roles, token_issued_at=_iso(row["issued_at"]),
                             token_expires_at=_iso(row["expires_at"]), system_scope=bool(row["system"]))
        return ctx, row

    @property
    def epoch(self) -> int:
        """Changes whenever a context given before may no longer hold (see _TokenCache)."""
        return self._cache.epoch

    def context_for(self, token: str, system: bool = False) -> RequestContext:
        """The request context of a valid token (cached until the token's expiry or any
        identity change). A system-scoped token only where system is true (identity)."""
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
        if ctx.system_scope and not system:
            # other services' resources belong to projects: a token naming none cannot act there
            raise Forbidden("a system-scoped token is accepted by the identity API only: "
                            "use a project-scoped token")
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
        caller = self.context_for(token, system=True)
        ctx, row = self._subject(caller, token, subject)
        subject = subject or token
        # keystone's identity:validate_token: admins, services and the token's owner
        if ctx.user_id != caller.user_id and not self._reads_all(caller):
            raise Forbidden("only an admin, a system reader or the token's owner may validate a token")
        user = dbm.row(self.db, "SELECT * FROM users WHERE id=?", (ctx.user_id,))
        proj = dbm.row(self.db, "SELECT * FROM projects WHERE id=?", (ctx.project_id,)) if ctx.project_id else None
        domain = self._scope_domain(row["domain_id"]) if row["domain_id"] else None
        roles = (self._system_roles(user["id"]) if row["system"] else
                 self._token_roles(row, user["id"], proj["id"]) if proj else
                 self._domain_roles(user["id"], domain["id"]) if domain else [])
        view = self._view(subject, user, proj, roles, dbm.jload(row["methods"]), row["issued_at"],
                          row["expires_at"], bool(row["system"]), domain)
        ac = row["app_cred_id"] and dbm.row(self.db, "SELECT * FROM app_credentials WHERE id=?", (row["app_cred_id"],))
        if ac:
            view["application_credential"] = {"id": ac["id"], "name": ac["name"], "restricted": not ac["unrestricted"]}
        return view

    def revoke(self, token: str, subject: str | None) -> None:
        ctx = self.context_for(token, system=True)
        sctx, _ = self._subject(ctx, token, subject)
        subject = subject or token
        if sctx.user_id != ctx.user_id and not ctx.is_admin:
            raise Forbidden("only an admin may revoke another user's token")
        self.db.conn.execute("UPDATE tokens SET revoked=1 WHERE id_hash=?", (_hash_token(subject),))
        self._cache.clear()

    def auth_projects(self, token: str) -> list[dict]:
        ctx = self.context_for(token, system=True)
        return [p for p in self.auth_projects_for(ctx.user_id) if p["enabled"]]
