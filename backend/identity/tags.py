"""Keystone's project tags: at most 80 per project, each 1-255 characters of plain text
without '/' or ',' (they are path segments and list separators)."""
from __future__ import annotations

from backend.core import db as dbm
from backend.core.errors import BadRequest, NotFound
from backend.identity.common import check_text

MAX_TAGS = 80


def check_tags(tags) -> list[str]:
    if not isinstance(tags, list):
        raise BadRequest("'tags' must be a list of strings")
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"'tags': at most {MAX_TAGS} tags per project")
    for t in tags:
        check_text("tag", t, 255, empty=False)
        if "/" in t or "," in t:
            raise BadRequest(f"tag {t!r} contains '/' or ','")
    return list(dict.fromkeys(tags))  # once each, in the order given


class ProjectTags:
    """Mixed into IdentityService, which provides db, _admin, _find_project and get_project."""

    def _tags_of(self, ctx, project) -> tuple[dict, list[str]]:
        p = self.get_project(ctx, project)
        row = dbm.row(self.db, "SELECT tags FROM projects WHERE id=?", (p["id"],))
        return p, dbm.jload(row["tags"] or "[]")

    def _set_tags(self, pid, tags):
        self.db.conn.execute("UPDATE projects SET tags=? WHERE id=?", (dbm.jdump(tags), pid))

    def list_project_tags(self, ctx, project) -> list[str]:
        return self._tags_of(ctx, project)[1]

    def set_project_tags(self, ctx, project, tags) -> list[str]:
        self._admin(ctx)
        tags = check_tags(tags)
        p, _ = self._tags_of(ctx, project)
        self._set_tags(p["id"], tags)
        return tags

    def add_project_tag(self, ctx, project, tag) -> None:
        self._admin(ctx)
        p, tags = self._tags_of(ctx, project)
        self._set_tags(p["id"], check_tags(tags + [tag]))

    def remove_project_tag(self, ctx, project, tag) -> None:
        self._admin(ctx)
        p, tags = self._tags_of(ctx, project)
        if tag not in tags:
            raise NotFound(f"project {p['name']!r} has no tag {tag!r}")
        self._set_tags(p["id"], [t for t in tags if t != tag])
