"""A flavor's extra specs as nova's /flavors/{id}/os-extra_specs: read by anyone who sees the
flavor, set (merged) and removed per key by admins. Kept and shown; the scheduler and the
drivers do not act on them (nova's would, through its filters and the virt driver)."""
from __future__ import annotations

import re

from backend.core import db as dbm
from backend.core.errors import BadRequest, Forbidden, NotFound

# nova's schema (before 2.86 validates known keys): key 1-255 of [a-zA-Z0-9-_:. ], value a
# string (numbers and booleans are taken and kept as strings) of at most 255
_KEY = re.compile(r"[a-zA-Z0-9\-_:. ]{1,255}")


def check_extra_specs(specs) -> dict:
    if not isinstance(specs, dict):
        raise BadRequest("'extra_specs' must be an object of string keys and values")
    out = {}
    for k, v in specs.items():
        if not isinstance(k, str) or not _KEY.fullmatch(k):
            raise BadRequest(f"extra spec key {k!r} must be 1 to 255 characters of letters, digits, "
                             "'-', '_', ':', '.' and spaces")
        if isinstance(v, bool):
            v = str(v)
        elif isinstance(v, (int, float)):
            v = str(v)
        if not isinstance(v, str) or len(v) > 255:
            raise BadRequest(f"extra spec {k!r} must be a string of at most 255 characters")
        out[k] = v
    return out


class FlavorExtraSpecs:
    """A part of ComputeAPI: self.db, find_flavor and get_flavor are its."""

    def get_flavor_extra_specs(self, ctx, ref) -> dict:
        self.get_flavor(ctx, ref)  # a private flavor: not found for members
        return dbm.jload(self.find_flavor(ref).get("extra_specs"), {})

    def set_flavor_extra_specs(self, ctx, ref, specs: dict) -> dict:
        """Merged into the flavor's; answers what was given, as nova."""
        if not ctx.is_admin:
            raise Forbidden("only an admin may set a flavor's extra specs")
        specs = check_extra_specs(specs)
        with dbm.transaction(self.db):
            f = self.find_flavor(ref)
            have = {**dbm.jload(f.get("extra_specs"), {}), **specs}
            self.db.conn.execute("UPDATE flavors SET extra_specs=? WHERE id=?", (dbm.jdump(have), f["id"]))
        return specs

    def delete_flavor_extra_spec(self, ctx, ref, key: str) -> None:
        if not ctx.is_admin:
            raise Forbidden("only an admin may remove a flavor's extra specs")
        with dbm.transaction(self.db):
            f = self.find_flavor(ref)
            have = dbm.jload(f.get("extra_specs"), {})
            if key not in have:
                raise NotFound(f"Flavor {f['id']} has no extra specs with key {key}.")
            del have[key]
            self.db.conn.execute("UPDATE flavors SET extra_specs=? WHERE id=?", (dbm.jdump(have), f["id"]))
