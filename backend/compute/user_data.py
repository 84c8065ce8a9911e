"""nova's user_data field: base64 text of at most 65535 characters (nova's request schema,
`format: base64, maxLength: 65535`), kept with the instance as given and written decoded to
the config drive's openstack/latest/user_data."""
from __future__ import annotations

import base64
import binascii

from backend.core.errors import BadRequest

MAX_LENGTH = 65535


def check_user_data(value, where: str = "server.user_data") -> str | None:
    """The base64 text to store (None when there is none), or 400 naming the field."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{where}' must be a base64 string")
    if len(value) > MAX_LENGTH:
        raise BadRequest(f"'{where}' is longer than {MAX_LENGTH} characters ({len(value)})")
    try:
        # MIME-style line breaks are allowed (what `base64` prints); anything else is not
        base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"'{where}' is not valid base64") from None
    return value
