"""Keystone's credentials (/v3/credentials, and OS-EC2's /v3/users/{user}/credentials/OS-EC2):
a blob (an EC2 key pair, a certificate, a TOTP secret) kept for a user. The blob is encrypted at rest with Fernet (as keystone's credential
provider does) under a key made on first use beside the database, readable by the state
directory's owner only; a copy of the database alone yields no blob. Only the credential's
user, an admin or a system reader sees it; the blob is never put in an error or a log."""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from backend.core import db as dbm
from backend.core.errors import BadRequest, CloudError, Conflict, Forbidden, NotFound
from backend.identity.common import check_text

MAX_BLOB = 65535
KEY_FILE = "credential-key"


class Credentials:
    """Mixed into IdentityService, which provides db, config, _admin, _reads_all, _find_user
    and _find_project."""

    def _fernet(self) -> Fernet:
        if getattr(self, "_fernet_key", None) is None:
            path = Path(self.config.home) / KEY_FILE
            if not path.exists():
                # O_EXCL: two processes never both make one; 0600 from the first byte
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    pass
                else:
                    with os.fdopen(fd, "wb") as f:
                        f.write(Fernet.generate_key())
            self._fernet_key = Fernet(path.read_bytes().strip())
        return self._fernet_key

    def _cred_view(self, c: dict) -> dict:
        try:
            blob = self._fernet().decrypt(c["blob"].encode()).decode()
        except InvalidToken:
            raise CloudError(f"credential {c['id']} cannot be decrypted: the key in "
                             f"{KEY_FILE} is not the one it was stored with") from None
        return {"id": c["id"], "user_id": c["user_id"], "project_id": c["project_id"], "type": c["type"],
                "blob": blob}

    def _cred_checks(self, ctx, user, type_, blob, project):
        u = self._find_user(user) if isinstance(user, str) else None
        if not u:
            raise BadRequest(f"'credential.user_id': user {user!r} not found")
        if u["id"] != ctx.user_id and not ctx.is_admin:
            raise Forbidden("only an admin may keep a credential for another user")
        check_text("credential type", type_, 255, empty=False)
        if not isinstance(blob, str) or not blob:
            raise BadRequest("'credential.blob' must be a non-empty string")
        if len(blob) > MAX_BLOB:
            raise BadRequest(f"'credential.blob' is longer than {MAX_BLOB} characters")
        p = None
        if project is not None:
            p = self._find_project(project) if isinstance(project, str) else None
            if not p:
                raise BadRequest(f"'credential.project_id': project {project!r} not found")
        if type_ == "ec2":
            if p is None:
                raise BadRequest("'credential.project_id' is required for an ec2 credential")
            try:
                access = json.loads(blob)["access"]
            except (ValueError, TypeError, KeyError):
                raise BadRequest("'credential.blob' of an ec2 credential must be JSON with an 'access' key") from None
            if not isinstance(access, str) or not access:
                raise BadRequest("'credential.blob': 'access' must be a non-empty string")
        return u, p

    def create_credential(self, ctx, user, type_, blob, project=None) -> dict:
        u, p = self._cred_checks(ctx, user, type_, blob, project)
        if type_ == "ec2":
            # keystone: an ec2 credential's id is the SHA-256 of its access key (how it is looked up)
            cid = hashlib.sha256(json.loads(blob)["access"].encode()).hexdigest()
            if dbm.row(self.db, "SELECT 1 x FROM credentials WHERE id=?", (cid,)):
                raise Conflict("an ec2 credential with that access key already exists")
        else:
            cid = uuid.uuid4().hex
        self.db["credentials"].insert({"id": cid, "user_id": u["id"], "project_id": p["id"] if p else None,
                                       "type": type_, "blob": self._fernet().encrypt(blob.encode()).decode(),
                                       "created_at": dbm.now_iso()})
        return self.get_credential(ctx, cid)

    def _find_credential(self, ctx, credential) -> dict:
        c = dbm.row(self.db, "SELECT * FROM credentials WHERE id=?", (credential,))
        if not c or not (c["user_id"] == ctx.user_id or self._reads_all(ctx)):
            raise NotFound(f"could not find credential: {credential}")
        return c

    def get_credential(self, ctx, credential) -> dict:
        return self._cred_view(self._find_credential(ctx, credential))

    def list_credentials(self, ctx, user=None, type_=None) -> list[dict]:
        rows = dbm.rows(self.db, "SELECT * FROM credentials ORDER BY created_at, id")
        if not self._reads_all(ctx):
            rows = [c for c in rows if c["user_id"] == ctx.user_id]
        if user:
            rows = [c for c in rows if c["user_id"] == user]
        if type_:
            rows = [c for c in rows if c["type"] == type_]
        return [self._cred_view(c) for c in rows]

    def update_credential(self, ctx, credential, blob=None, type_=None, project=None, user=None) -> dict:
        c = self._find_credential(ctx, credential)
        if c["user_id"] != ctx.user_id and not ctx.is_admin:
            raise Forbidden("only an admin may change another user's credential")
        cur = self._cred_view(c)
        new = {"blob": cur["blob"] if blob is None else blob, "type": type_ or c["type"],
               "project": project if project is not None else c["project_id"], "user": user or c["user_id"]}
        u, p = self._cred_checks(ctx, new["user"], new["type"], new["blob"], new["project"])
        self.db.conn.execute("UPDATE credentials SET user_id=?, project_id=?, type=?, blob=? WHERE id=?",
                             (u["id"], p["id"] if p else None, new["type"],
                              self._fernet().encrypt(new["blob"].encode()).decode(), c["id"]))
        return self.get_credential(ctx, c["id"])

    def delete_credential(self, ctx, credential) -> None:
        c = self._find_credential(ctx, credential)
        if c["user_id"] != ctx.user_id and not ctx.is_admin:
            raise Forbidden("only an admin may delete another user's credential")
        self.db.conn.execute("DELETE FROM credentials WHERE id=?", (c["id"],))

    # ---- OS-EC2: /v3/users/{user}/credentials/OS-EC2 (ec2 credentials made by keystone) ----
    def _ec2_user(self, ctx, user) -> dict:
        u = self._find_user(user)
        if not u or (u["id"] != ctx.user_id and not self._reads_all(ctx)):
            raise NotFound(f"could not find user: {user}")
        return u

    def _ec2_view(self, c: dict) -> dict:
        blob = json.loads(self._cred_view(c)["blob"])
        return {"user_id": c["user_id"], "tenant_id": c["project_id"], "access": blob["access"],
                "secret": blob.get("secret"), "trust_id": blob.get("trust_id")}

    def create_ec2_credential(self, ctx, user, project) -> dict:
        """A new access/secret pair for user on project (which the user holds a role on)."""
        u = self._ec2_user(ctx, user)
        p = self._find_project(project) if isinstance(project, str) and project else None
        if not p:
            raise BadRequest(f"'tenant_id': project {project!r} not found")
        if not self._roles_on(u["id"], p["id"]):
            raise Forbidden(f"user {u['name']!r} holds no role on project {p['name']!r}")
        blob = json.dumps({"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex, "trust_id": None,
                           "app_cred_id": None, "access_token_id": None})
        c = self.create_credential(ctx, u["id"], "ec2", blob, p["id"])
        return self._ec2_view(dbm.row(self.db, "SELECT * FROM credentials WHERE id=?", (c["id"],)))

    def _find_ec2(self, ctx, user, access) -> dict:
        u = self._ec2_user(ctx, user)
        cid = hashlib.sha256(access.encode()).hexdigest() if isinstance(access, str) else ""
        c = dbm.row(self.db, "SELECT * FROM credentials WHERE id=? AND user_id=? AND type='ec2'", (cid, u["id"]))
        if not c:
            raise NotFound(f"could not find ec2 credential: {access}")
        return c

    def list_ec2_credentials(self, ctx, user) -> list[dict]:
        u = self._ec2_user(ctx, user)
        return [self._ec2_view(c) for c in dbm.rows(
            self.db, "SELECT * FROM credentials WHERE user_id=? AND type='ec2' ORDER BY created_at, id", (u["id"],))]

    def get_ec2_credential(self, ctx, user, access) -> dict:
        return self._ec2_view(self._find_ec2(ctx, user, access))

    def delete_ec2_credential(self, ctx, user, access) -> None:
        c = self._find_ec2(ctx, user, access)
        self.delete_credential(ctx, c["id"])
