"""Key pairs as nova's os-keypairs (microversion 2.1): per user, created (a new RSA key whose
private half is answered once and never stored) or imported from an OpenSSH public key.
A server created with key_name keeps a copy of the public key (nova's instance key_data), which
the config drive carries in meta_data.json's public_keys."""
from __future__ import annotations

import base64
import hashlib
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from backend.compute import x509_keys
from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound

# nova's keypair name before 2.92: letters, digits, spaces, '_' and '-', 1-255 characters
_NAME = re.compile(r"^[a-zA-Z0-9 _-]{1,255}$")
MAX_PUBLIC_KEY = 16 * 1024


def check_keypair_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("'keypair.name' is required (1-255 characters)")
    if not _NAME.match(name):
        raise BadRequest(f"'keypair.name' {name[:64]!r} is not allowed: 1-255 letters, digits, "
                         "spaces, '_' or '-'")
    return name


def fingerprint_of(public_key: str) -> str:
    """nova's fingerprint of an OpenSSH key: the MD5 of its blob, as colon-separated hex."""
    blob = base64.b64decode(public_key.split()[1])
    return ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())


def check_public_key(public_key) -> str:
    if not isinstance(public_key, str) or not public_key.strip():
        raise BadRequest("'keypair.public_key' must be an OpenSSH public key, not empty")
    key = public_key.strip()
    if len(key) > MAX_PUBLIC_KEY:
        raise BadRequest(f"'keypair.public_key' is longer than {MAX_PUBLIC_KEY} characters")
    try:
        serialization.load_ssh_public_key(key.encode())
    except (ValueError, TypeError, IndexError) as e:
        raise BadRequest(f"'keypair.public_key' is not a valid OpenSSH public key: {e}") from None
    return key


def generate() -> tuple[str, str]:
    """A new RSA key pair: (OpenSSH public key, PEM private key)."""
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = k.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()
    private = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode()
    return public + " Generated-by-Nova", private


class KeyPairs:
    """A part of ComputeAPI: self.db, self.config, _need_project and _need_write are its."""

    def _keypair_owner(self, ctx, user_id: str | None) -> str:
        # nova: only an admin may act on another user's key pairs (?user_id=)
        if user_id and user_id != ctx.user_id:
            if not ctx.is_admin:
                raise Forbidden("only an admin may see or change another user's key pairs (user_id)")
            return user_id
        return ctx.user_id

    def create_keypair(self, ctx, name, public_key=None, user_id=None, key_type="ssh") -> dict:
        self._need_write(ctx)
        owner = self._keypair_owner(ctx, user_id)
        check_keypair_name(name)
        if key_type not in ("ssh", "x509"):
            raise BadRequest(f"'keypair.type' must be 'ssh' or 'x509', not {str(key_type)[:32]!r}")
        private = None
        if key_type == "x509":  # a certificate (microversion 2.2)
            if public_key is None:
                public_key, private = x509_keys.generate(owner)
            else:
                public_key = x509_keys.check_certificate(public_key)
            fp = x509_keys.fingerprint(public_key)
        else:
            if public_key is None:
                public_key, private = generate()
            else:
                public_key = check_public_key(public_key)
            fp = fingerprint_of(public_key)
        with dbm.transaction(self.db):
            n = dbm.row(self.db, "SELECT count(*) n FROM key_pairs WHERE user_id=?", (owner,))["n"]
            # per user, as nova counts key_pairs
            quota.check(self.db, self.config, ctx.project_id, {"key_pairs": 1}, "compute",
                        used={"key_pairs": n})
            if dbm.row(self.db, "SELECT 1 FROM key_pairs WHERE user_id=? AND name=?", (owner, name)):
                raise Conflict(f"Key pair '{name}' already exists.")
            self.db.conn.execute("INSERT INTO key_pairs (name, user_id, fingerprint, public_key, type, created_at)"
                                 " VALUES (?,?,?,?,?,?)", (name, owner, fp, public_key, key_type, dbm.now_iso()))
        out = {"name": name, "public_key": public_key, "fingerprint": fp, "user_id": owner, "type": key_type}
        if private is not None:
            out["private_key"] = private
        return out

    def list_keypairs(self, ctx, user_id=None) -> list[dict]:
        self._need_project(ctx)
        owner = self._keypair_owner(ctx, user_id)
        return dbm.rows(self.db, "SELECT * FROM key_pairs WHERE user_id=? ORDER BY name", (owner,))

    def get_keypair(self, ctx, name, user_id=None) -> dict:
        self._need_project(ctx)
        owner = self._keypair_owner(ctx, user_id)
        kp = dbm.row(self.db, "SELECT * FROM key_pairs WHERE user_id=? AND name=?", (owner, name))
        if kp is None:
            raise NotFound(f"Keypair {name} not found for user {owner}")
        return kp

    def keypair_for_server(self, ctx, name) -> dict:
        try:
            return self.get_keypair(ctx, name)
        except NotFound:  # nova: a create naming a missing key pair is the request's fault
            raise BadRequest(f"Invalid key_name provided: 'server.key_name' {name!r} is not a key pair "
                             "of this user") from None

    def delete_keypair(self, ctx, name, user_id=None) -> None:
        self._need_write(ctx)
        kp = self.get_keypair(ctx, name, user_id)
        self.db.conn.execute("DELETE FROM key_pairs WHERE id=?", (kp["id"],))
