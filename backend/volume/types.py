"""cinder's volume types: __DEFAULT__ is built in (what a volume without a type has); admins
make more, with a name, a description, public or private, and extra specs (string pairs that
pocketstack keeps and shows but has no backend to apply them to). A private type is usable
by admins only (there is no type-access list)."""
from __future__ import annotations

import uuid

from backend.core import db as dbm
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound

DEFAULT_TYPE_ID = "7a2e1c4d-5b6f-4e8a-9c0d-1f2a3b4c5d6e"  # fixed: it survives restarts
DEFAULT = {"id": DEFAULT_TYPE_ID, "name": "__DEFAULT__", "description": "Default Volume Type",
           "is_public": True, "extra_specs": {}}


def _check_specs(specs) -> dict:
    if not isinstance(specs, dict):
        raise BadRequest("'extra_specs' must be an object of string keys and values")
    for k, v in specs.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 255:
            raise BadRequest(f"extra spec key {k!r} must be a string of 1 to 255 characters")
        if not isinstance(v, str) or len(v) > 255:
            raise BadRequest(f"extra spec {k!r} must be a string of at most 255 characters")
    return dict(specs)


class VolumeTypes:
    """Mixed into VolumeService (backend/volume/api.py)."""

    @staticmethod
    def _type_view(t) -> dict:
        if t is None:
            return dict(DEFAULT)
        return {"id": t["id"], "name": t["name"], "description": t["description"],
                "is_public": bool(t["is_public"]), "extra_specs": dbm.jload(t["extra_specs"], {})}

    @staticmethod
    def _admin(ctx):
        if not ctx.is_admin:
            raise Forbidden("only an admin may change volume types")

    def list_types(self, ctx):
        rows = dbm.rows(self.db, "SELECT * FROM volume_types ORDER BY created_at")
        return [dict(DEFAULT)] + [self._type_view(t) for t in rows if ctx.is_admin or t["is_public"]]

    def find_type(self, ctx, ref) -> dict:
        """By id or name; 'default' is the default type. A private type is not found for others."""
        if ref in (DEFAULT_TYPE_ID, "__DEFAULT__", "default", None, ""):
            return dict(DEFAULT)
        t = (dbm.row(self.db, "SELECT * FROM volume_types WHERE id=?", (ref,)) or
             dbm.row(self.db, "SELECT * FROM volume_types WHERE name=?", (ref,)))
        if t is None or not (ctx.is_admin or t["is_public"]):
            raise NotFound(f"Volume type {ref} could not be found.")
        return self._type_view(t)

    def create_type(self, ctx, name, description=None, is_public=True, extra_specs=None):
        self._admin(ctx)
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("volume type 'name' must be a non-empty string of at most 255 characters")
        if description is not None and (not isinstance(description, str) or len(description) > 255):
            raise BadRequest("volume type 'description' must be a string of at most 255 characters")
        specs = _check_specs(extra_specs or {})
        tid = str(uuid.uuid4())
        with dbm.transaction(self.db):
            if name == DEFAULT["name"] or dbm.row(self.db, "SELECT 1 x FROM volume_types WHERE name=?", (name,)):
                raise Conflict(f"Volume Type {name} already exists.")
            self.db.conn.execute("INSERT INTO volume_types VALUES (?,?,?,?,?,?)",
                                 (tid, name, description, int(bool(is_public)), dbm.jdump(specs), dbm.now_iso()))
        return self.find_type(ctx, tid)

    def _own_type(self, ctx, ref):
        self._admin(ctx)
        t = self.find_type(ctx, ref)
        if t["id"] == DEFAULT_TYPE_ID:
            raise BadRequest("the default volume type cannot be changed or deleted")
        return t

    def update_type(self, ctx, ref, changes: dict):
        t = self._own_type(ctx, ref)
        values = {}
        if "name" in changes:
            n = changes["name"]
            if not isinstance(n, str) or not n.strip() or len(n) > 255:
                raise BadRequest("volume type 'name' must be a non-empty string of at most 255 characters")
            if n != t["name"] and (n == DEFAULT["name"] or
                                   dbm.row(self.db, "SELECT 1 x FROM volume_types WHERE name=?", (n,))):
                raise Conflict(f"Volume Type {n} already exists.")
            values["name"] = n
        if "description" in changes:
            d = changes["description"]
            if d is not None and (not isinstance(d, str) or len(d) > 255):
                raise BadRequest("volume type 'description' must be a string of at most 255 characters")
            values["description"] = d
        if "is_public" in changes:
            values["is_public"] = int(bool(changes["is_public"]))
        if values:
            cols = ", ".join(f"{k}=?" for k in values)  # this method's own keys
            self.db.conn.execute(f"UPDATE volume_types SET {cols} WHERE id=?", (*values.values(), t["id"]))
        return self.find_type(ctx, t["id"])

    def delete_type(self, ctx, ref):
        t = self._own_type(ctx, ref)
        with dbm.transaction(self.db):
            if dbm.row(self.db, "SELECT 1 x FROM volumes WHERE volume_type_id=?", (t["id"],)):
                raise BadRequest(f"Volume type {t['id']} is still in use by volumes")
            self.db.conn.execute("DELETE FROM volume_types WHERE id=?", (t["id"],))

    def set_type_specs(self, ctx, ref, specs: dict, remove: str | None = None) -> dict:
        """Merge specs into the type's extra specs, or (remove) drop one key (404 if absent)."""
        t = self._own_type(ctx, ref)
        have = dict(t["extra_specs"])
        if remove is not None:
            if remove not in have:
                raise NotFound(f"Volume type {t['id']} has no extra specs with key {remove}.")
            del have[remove]
        else:
            have.update(_check_specs(specs))
        self.db.conn.execute("UPDATE volume_types SET extra_specs=? WHERE id=?", (dbm.jdump(have), t["id"]))
        return have
