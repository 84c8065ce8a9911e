"""The same_host / different_host scheduler hints as nova's API schema takes them: one
instance uuid or a list of distinct uuids. The instances are not looked up here (nova does
not either): a uuid of no live instance reaches the scheduler, whose SameHostFilter then
passes no host."""
from __future__ import annotations

import uuid as uuidlib

from backend.core.errors import BadRequest


def _uuid(v, hint: str) -> str:
    try:
        if not isinstance(v, str):
            raise ValueError
        return str(uuidlib.UUID(v))
    except ValueError:
        raise BadRequest(f"Invalid input for field/attribute {hint}. Value: {v!r}. "
                         f"'{hint}' must be an instance uuid or a list of them") from None


def host_hints(hints: dict) -> dict:
    """{"same_host": [uuid, ...] | None, "different_host": [...] | None} from the hints."""
    out = {}
    for hint in ("same_host", "different_host"):
        v = hints.get(hint)
        if v is None:
            out[hint] = None
            continue
        items = v if isinstance(v, list) else [v]
        uuids = [_uuid(x, hint) for x in items]
        if len(set(uuids)) != len(uuids):
            raise BadRequest(f"Invalid input for field/attribute {hint}. Value: {v!r}. "
                             "has non-unique elements")
        out[hint] = uuids or None
    return out
