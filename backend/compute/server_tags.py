"""Server tags as nova's /servers/{id}/tags (microversion 2.26): list, replace all, add one,
remove one or all, and the tags/tags-any/not-tags/not-tags-any list filters. A tag is 1-60
characters without '/' or ','; a server holds at most 50. Changes need the server settled
(no task running), as nova's."""
from __future__ import annotations

from backend.core import db as dbm
from backend.core.errors import BadRequest, Conflict, NotFound

MAX_TAGS = 50
MAX_TAG_LEN = 60
# nova's server_tags check: vm_states where tags may change (with no task in flight)
_TAGGABLE = {"active", "paused", "suspended", "stopped", "shelved", "shelved_offloaded"}


def check_tag(tag, where: str = "tag") -> str:
    if not isinstance(tag, str):
        raise BadRequest(f"'{where}' must be a string")
    if not 1 <= len(tag) <= MAX_TAG_LEN:
        raise BadRequest(f"'{where}' must be 1 to {MAX_TAG_LEN} characters long")
    if "/" in tag or "," in tag:
        raise BadRequest(f"'{where}' {tag!r} must not contain '/' or ','")
    if not tag.isprintable():
        raise BadRequest(f"'{where}' must hold printable characters only")
    return tag


def check_tags(tags, where: str = "tags") -> list[str]:
    """A list of valid tags, duplicates dropped (order kept), at most MAX_TAGS."""
    if not isinstance(tags, list):
        raise BadRequest(f"'{where}' must be a list of strings")
    out = list(dict.fromkeys(check_tag(t, f"{where}[{i}]") for i, t in enumerate(tags)))
    if len(out) > MAX_TAGS:
        raise BadRequest(f"'{where}' holds {len(out)} tags: a server has at most {MAX_TAGS}")
    return out


def tag_filters(filters: dict) -> tuple[str, list]:
    """SQL (ANDed) and parameters for nova's tag filters on instances.uuid; each value is a
    comma-separated list of tags."""
    where, params = [], []
    for key in ("tags", "tags-any", "not-tags", "not-tags-any"):
        v = filters.get(key)
        if v in (None, ""):
            continue
        tags = [t for t in str(v).split(",") if t]
        if not tags or len(tags) > MAX_TAGS or any(len(t) > MAX_TAG_LEN for t in tags):
            raise BadRequest(f"Invalid filter field: {key}: give 1 to {MAX_TAGS} comma-separated tags")
        marks = ",".join("?" * len(tags))
        having = (f"(SELECT count(DISTINCT tag) FROM server_tags WHERE instance_uuid=instances.uuid"
                  f" AND tag IN ({marks}))")
        if key == "tags":            # every one of them
            where.append(f"{having}={len(set(tags))}")
        elif key == "tags-any":      # at least one
            where.append(f"{having}>0")
        elif key == "not-tags":      # not every one of them
            where.append(f"{having}<{len(set(tags))}")
        else:                        # none of them
            where.append(f"{having}=0")
        params += tags
    return " AND ".join(where), params


class ServerTags:
    """A part of ComputeAPI: self.db, self.store, _instance and _need_write are its."""

    def tags_of(self, uuids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {u: [] for u in uuids}
        for i in range(0, len(uuids), 900):  # SQLite's bound-parameter limit
            part = uuids[i:i + 900]
            for r in dbm.rows(self.db, f"SELECT instance_uuid, tag FROM server_tags WHERE instance_uuid IN"
                                       f" ({','.join('?' * len(part))}) ORDER BY tag", part):
                out[r["instance_uuid"]].append(r["tag"])
        return out

    def list_server_tags(self, ctx, server_id) -> list[str]:
        r = self._instance(ctx, server_id)
        return self.tags_of([r["uuid"]])[r["uuid"]]

    def _taggable(self, ctx, server_id) -> dict:
        self._need_write(ctx)
        r = self._instance(ctx, server_id)
        if r["vm_state"] not in _TAGGABLE or r["task_state"]:
            raise Conflict(f"Cannot change the tags of instance {r['uuid']} while it is in vm_state "
                           f"{r['vm_state']}, task_state {r['task_state']}")
        return r

    def set_server_tags(self, ctx, server_id, tags) -> list[str]:
        """Replace every tag (PUT /tags)."""
        tags = check_tags(tags)
        r = self._taggable(ctx, server_id)
        with dbm.transaction(self.db):
            self.write_tags(r["uuid"], tags)
        return sorted(tags)

    def write_tags(self, uuid: str, tags: list[str]) -> None:
        self.db.conn.execute("DELETE FROM server_tags WHERE instance_uuid=?", (uuid,))
        self.db.conn.executemany("INSERT INTO server_tags VALUES (?,?)", [(uuid, t) for t in tags])

    def add_server_tag(self, ctx, server_id, tag) -> bool:
        """Add one tag; True when it is new (201), False when it was there (204)."""
        check_tag(tag)
        r = self._taggable(ctx, server_id)
        with dbm.transaction(self.db):
            have = self.tags_of([r["uuid"]])[r["uuid"]]
            if tag in have:
                return False
            if len(have) >= MAX_TAGS:
                raise BadRequest(f"instance {r['uuid']} already has {MAX_TAGS} tags, the most a server holds")
            self.db.conn.execute("INSERT INTO server_tags VALUES (?,?)", (r["uuid"], tag))
        return True

    def has_server_tag(self, ctx, server_id, tag) -> None:
        if tag not in self.list_server_tags(ctx, server_id):
            raise NotFound(f"Tag {tag!r} could not be found on instance {server_id}.")

    def delete_server_tag(self, ctx, server_id, tag) -> None:
        r = self._taggable(ctx, server_id)
        cur = self.db.conn.execute("DELETE FROM server_tags WHERE instance_uuid=? AND tag=?", (r["uuid"], tag))
        if not cur.rowcount:
            raise NotFound(f"Tag {tag!r} could not be found on instance {r['uuid']}.")

    def delete_server_tags(self, ctx, server_id) -> None:
        r = self._taggable(ctx, server_id)
        self.db.conn.execute("DELETE FROM server_tags WHERE instance_uuid=?", (r["uuid"],))
