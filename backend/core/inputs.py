"""The two checks every entry point shares: integers as people and clients write them (ASCII
digits only, a bounded length) and the characters a user-facing name may not hold."""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from backend.core.errors import BadRequest

# int() also reads "٣" and "１" and fails on "²" (str.isdigit is true for all three); the
# upstream APIs take ASCII digits only. 18 digits fit every field, and keep int() cheap.
_INT = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
# bidi embeddings, overrides and isolates reorder the text around them (CVE-2021-42574)
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Cc: C0, DEL and C1 controls; Cs: lone surrogates (JSON can carry them, UTF-8 cannot);
# Zl/Zp: line and paragraph separators (a name is one line)
_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}


def shown(value: Any, limit: int = 40) -> str:
    """A short printable rendering of a value for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def parse_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer from JSON or a query string. Bools, fractions, other digit systems and
    over-long numbers are refused with a 400 that names the field."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadRequest(f"'{name}' must be an integer, not {shown(value)}")
    if isinstance(value, str):
        s = value.strip()
        if not _INT.fullmatch(s):
            if re.fullmatch(r"[+-]?[0-9]+", s, re.ASCII):
                raise BadRequest(f"'{name}' has too many digits (at most 18)")
            raise BadRequest(f"'{name}' must be an integer written with the digits 0-9, not {shown(value)}")
        value = int(s)
    if minimum is not None and value < minimum:
        raise BadRequest(f"'{name}' must be at least {minimum}, not {shown(value)}")
    if maximum is not None and value > maximum:
        raise BadRequest(f"'{name}' must be at most {maximum}, not {shown(value)}")
    return value


def refused_char(text: str) -> str | None:
    """The first character a name may not hold, as 'U+XXXX', or None."""
    for c in text:
        if c in _BIDI or unicodedata.category(c) in _CATEGORIES:
            return f"U+{ord(c):04X}"
    return None


def check_metadata(meta, where: str = "metadata") -> dict:
    """nova's metadata schema: an object of 1-255 character keys to strings of at most 255."""
    if not isinstance(meta, dict):
        raise BadRequest(f"'{where}' must be an object mapping keys to strings")
    for k, v in meta.items():
        if not isinstance(k, str) or not 0 < len(k) <= 255:
            raise BadRequest(f"'{where}': a key must be 1 to 255 characters, not {shown(k)}")
        if not isinstance(v, str) or len(v) > 255:
            raise BadRequest(f"'{where}.{k}' must be a string of at most 255 characters")
    return meta


def check_access_ip(value, field: str, version: int) -> str | None:
    """nova's accessIPv4/accessIPv6: an address of that version, or empty/None (none)."""
    import ipaddress
    if value in (None, ""):
        return None
    try:
        ip = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        ip = None
    if ip is None or ip.version != version:
        raise BadRequest(f"Invalid input for field/attribute {field}: {shown(value)} is not an IPv{version} address")
    return str(ip)
