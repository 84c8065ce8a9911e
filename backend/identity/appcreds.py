"""Keystone's application credentials: a user delegates some of their roles on one project
to a named secret an application logs in with (auth method application_credential). The
secret is shown once, at creation; only its bcrypt hash is kept (of its SHA-256, so a secret
longer than bcrypt's 72 bytes counts in full), and checked in constant time. A token from
one carries the credential's roles that its user still holds, never outlives it, and is
revoked when it is deleted."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import secrets
import time
import uuid

import bcrypt

from backend.core import db as dbm
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from backend.identity.common import check_name, check_text

MAX_SECRET = 4096


def _prehash(secret: str) -> bytes:
    return base64.b64encode(hashlib.sha256(secret.encode()).digest())


def _parse_expiry(value) -> float | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        raise BadRequest("'application_credential.expires_at' must be an ISO 8601 time (2030-01-31T12:00:00)")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)  # keystone reads a naive time as UTC
    if when.timestamp() <= time.time():
        raise BadRequest("'application_credential.expires_at' is in the past")
    return when.timestamp()


def _show_expiry(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


class AppCredentials:
    """Mixed into IdentityService, which provides db, config, _cache, _validate, _find_user,
    _find_project, _roles_on, _implied, _reads_all and _issue."""

    def _app_cred_view(self, c: dict, secret: str | None = None) -> dict:
        names = {r["id"]: r["name"] for r in dbm.rows(self.db, "SELECT id, name FROM roles")}
        out = {"id": c["id"], "name": c["name"], "description": c["description"], "user_id": c["user_id"],
               "project_id": c["project_id"], "expires_at": _show_expiry(c["expires_at"]),
               "unrestricted": bool(c["unrestricted"]), "system": None, "access_rules": [],
               "roles": [{"id": r, "name": names.get(r), "domain_id": None} for r in dbm.jload(c["roles"])]}
        if secret is not None:
            out["secret"] = secret
        return out

    def _app_cred_roles(self, c: dict, held: list[dict]) -> list[dict]:
        """The credential's roles (and what they imply) that its user still holds on its project."""
        held_ids = {r["id"] for r in held}
        return [r for r in self._implied(set(dbm.jload(c["roles"]))) if r["id"] in held_ids]

    def _token_roles(self, row: dict, user_id: str, project_id: str) -> list[dict]:
        held = self._roles_on(user_id, project_id)
        if not row.get("app_cred_id"):
            return held
        c = dbm.row(self.db, "SELECT * FROM app_credentials WHERE id=?", (row["app_cred_id"],))
        if not c or (c["expires_at"] and c["expires_at"] <= time.time()):
            return []
        return self._app_cred_roles(c, held)

    def _own_user(self, token: str, user: str):
        ctx, row = self._validate(token)
        u = self._find_user(user)
        if not u or u["id"] != ctx.user_id:
            raise Forbidden("application credentials are made by their own user only")
        return ctx, row, u

    async def create_app_credential(self, token, user, name, secret=None, description=None, expires_at=None,
                              roles=None, unrestricted=False) -> dict:
        ctx, row, u = self._own_user(token, user)
        if not row["project_id"]:
            raise Forbidden("an application credential is made with a project-scoped token (its project)")
        if row["app_cred_id"]:
            c = dbm.row(self.db, "SELECT unrestricted FROM app_credentials WHERE id=?", (row["app_cred_id"],))
            if not c or not c["unrestricted"]:
                raise Forbidden("a restricted application credential cannot make another")
        check_name("application credential", name)
        if description is not None:
            check_text("application credential description", description, 1024)
        if secret is None:
            secret = secrets.token_urlsafe(64)
        elif not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET:
            raise BadRequest(f"'application_credential.secret' must be a string of 1-{MAX_SECRET} characters")
        exp = _parse_expiry(expires_at)
        held = {r["id"]: r for r in self._token_roles(row, u["id"], row["project_id"])}
        by_name = {r["name"]: r for r in held.values()}
        if roles is None:
            wanted = list(held)
        else:
            if not isinstance(roles, list):
                raise BadRequest("'application_credential.roles' must be a list of {id} or {name}")
            wanted = []
            for r in roles:
                ref = r.get("id") if isinstance(r, dict) else None
                found = held.get(ref) or by_name.get(r.get("name") if isinstance(r, dict) else None)
                if not found:
                    raise BadRequest(f"'application_credential.roles': you hold no role {ref or r!r} on this project")
                wanted.append(found["id"])
        if not isinstance(unrestricted, bool):
            raise BadRequest("'application_credential.unrestricted' must be true or false")
        hashed = (await asyncio.to_thread(bcrypt.hashpw, _prehash(secret),
                                          bcrypt.gensalt(self.config.password_hash_rounds))).decode()
        # checked after the hash (the loop ran others meanwhile), right before the insert
        if dbm.row(self.db, "SELECT 1 x FROM app_credentials WHERE user_id=? AND name=?", (u["id"], name)):
            raise Conflict(f"an application credential named {name!r} already exists")
        cid = uuid.uuid4().hex
        self.db["app_credentials"].insert({
            "id": cid, "name": name, "user_id": u["id"], "project_id": row["project_id"],
            "description": description, "secret_hash": hashed, "expires_at": exp,
            "unrestricted": int(unrestricted), "roles": dbm.jdump(sorted(set(wanted))), "created_at": dbm.now_iso()})
        return self._app_cred_view(dbm.row(self.db, "SELECT * FROM app_credentials WHERE id=?", (cid,)), secret)

    def _find_app_cred(self, ctx, user, credential) -> dict:
        u = self._find_user(user)
        if not u or (u["id"] != ctx.user_id and not self._reads_all(ctx)):
            raise NotFound(f"could not find user: {user}")
        c = dbm.row(self.db, "SELECT * FROM app_credentials WHERE id=? AND user_id=?", (credential, u["id"]))
        if not c:
            raise NotFound(f"could not find application credential: {credential}")
        return c

    def list_app_credentials(self, ctx, user, name=None) -> list[dict]:
        u = self._find_user(user)
        if not u or (u["id"] != ctx.user_id and not self._reads_all(ctx)):
            raise NotFound(f"could not find user: {user}")
        return [self._app_cred_view(c) for c in dbm.rows(
            self.db, "SELECT * FROM app_credentials WHERE user_id=? ORDER BY created_at, id", (u["id"],))
            if name is None or c["name"] == name]

    def get_app_credential(self, ctx, user, credential) -> dict:
        return self._app_cred_view(self._find_app_cred(ctx, user, credential))

    def delete_app_credential(self, ctx, user, credential) -> None:
        c = self._find_app_cred(ctx, user, credential)
        if c["user_id"] != ctx.user_id and not ctx.is_admin:
            raise Forbidden("only its user or an admin may delete an application credential")
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM app_credentials WHERE id=?", (c["id"],))
            self.db.conn.execute("UPDATE tokens SET revoked=1 WHERE app_cred_id=?", (c["id"],))
        self._cache.clear()

    async def authenticate_app_credential(self, secret, credential_id=None, name=None, user=None,
                                          user_domain="Default") -> dict:
        if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET:
            raise Unauthorized("the request you have made requires authentication: no application credential secret")
        c = None
        if credential_id:
            c = dbm.row(self.db, "SELECT * FROM app_credentials WHERE id=?", (credential_id,))
        elif name and user:
            u = self._find_user(user, user_domain)
            c = u and dbm.row(self.db, "SELECT * FROM app_credentials WHERE user_id=? AND name=?", (u["id"], name))
        else:
            raise BadRequest("'application_credential' needs its id, or its name and its user")
        # one bcrypt check either way, so timing does not tell which credentials exist
        stored = c["secret_hash"] if c else self._dummy
        ok = await asyncio.to_thread(bcrypt.checkpw, _prehash(secret), stored.encode())
        if not c or not ok:
            raise Unauthorized("the request you have made requires authentication: wrong application credential")
        if c["expires_at"] and c["expires_at"] <= time.time():
            raise Unauthorized("the application credential has expired")
        user_row = self._find_user(c["user_id"])
        if not user_row or not user_row["enabled"]:
            raise Unauthorized("the application credential's user no longer exists or is disabled")
        self._domain_id(user_row["domain_id"])
        project = self._find_project(c["project_id"])
        if not project:
            raise Unauthorized("the application credential's project no longer exists")
        t = self._issue(user_row, project, ["application_credential"], app_cred=c)
        t["application_credential"] = {"id": c["id"], "name": c["name"], "restricted": not c["unrestricted"]}
        return t
