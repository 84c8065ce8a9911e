"""Keystone's credentials (/v3/credentials): a blob (an EC2 key pair, a certificate, a TOTP
secret) kept for a user. The blob is encrypted at rest with Fernet (as keystone's credential
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
