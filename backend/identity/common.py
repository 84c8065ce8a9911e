"""Identity's shared pieces: the roles, bcrypt's limit, and the checks of user-facing names."""
from __future__ import annotations

import datetime as dt
import hashlib

from backend.core.errors import BadRequest
from backend.core.inputs import refused_char

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


def check_extra(kind: str, extra) -> dict:
    """Keystone keeps a user's attributes beyond its schema (email, description, ...) as they
    were given; here each must be a short plain-text name with a scalar value."""
    if not isinstance(extra, dict):
        raise BadRequest(f"{kind} attributes must be an object")
    for key, value in extra.items():
        check_text(f"{kind} attribute name", key, 64, empty=False)
        if isinstance(value, str):
            check_text(f"{kind}.{key}", value, 1024)
        elif value is not None and not isinstance(value, (bool, int, float)):
            raise BadRequest(f"'{kind}.{key}' must be a string, number, boolean or null")
    return extra
