"""glance's image members: the owner of a 'shared' image names projects (members); each
member accepts, rejects or leaves it pending. A member sees the image (show, download, boot)
whatever its answer; lists show it once accepted (glance's member_status=accepted default)."""
from __future__ import annotations

from backend.core import db as dbm
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound

MEMBER_STATUSES = ("pending", "accepted", "rejected")
MAX_MEMBERS = 128  # glance's image_member_quota


class ImageMembers:
    """Mixed into ImageService (backend/image/api.py)."""

    def member_status(self, image_id, project_id):
        m = dbm.row(self.db, "SELECT status FROM image_members WHERE image_id=? AND member_id=?",
                    (image_id, project_id))
        return m["status"] if m else None

    @staticmethod
    def member_view(m) -> dict:
        return {"image_id": m["image_id"], "member_id": m["member_id"], "status": m["status"],
                "created_at": m["created_at"], "updated_at": m["updated_at"]}

    def add_member(self, ctx, ref, member_id):
        r = self._owned(ctx, ref)
        if r["visibility"] != "shared":
            raise Forbidden(f"Only shared images have members (image {r['id']} is {r['visibility']}).")
        if not isinstance(member_id, str) or not member_id or len(member_id) > 255:
            raise BadRequest("'member' must be a project id")
        with dbm.transaction(self.db):
            if dbm.row(self.db, "SELECT 1 x FROM image_members WHERE image_id=? AND member_id=?",
                       (r["id"], member_id)):
                raise Conflict(f"Member {member_id} already exists for image {r['id']}")
            n = dbm.row(self.db, "SELECT count(*) c FROM image_members WHERE image_id=?", (r["id"],))["c"]
            if n >= MAX_MEMBERS:
                raise BadRequest(f"image {r['id']} already has {MAX_MEMBERS} members")
            now = dbm.now_iso()
            self.db.conn.execute("INSERT INTO image_members VALUES (?,?,?,?,?)",
                                 (r["id"], member_id, "pending", now, now))
        return self.get_member(ctx, r["id"], member_id)

    def list_members(self, ctx, ref):
        """The owner (and admins) see every member; a member sees only itself."""
        r = self.find(ctx, ref)
        rows = dbm.rows(self.db, "SELECT * FROM image_members WHERE image_id=? ORDER BY created_at", (r["id"],))
        if not (ctx.is_admin or r["owner"] == ctx.project_id):
            rows = [m for m in rows if m["member_id"] == ctx.project_id]
        return [self.member_view(m) for m in rows]

    def get_member(self, ctx, ref, member_id):
        for m in self.list_members(ctx, ref):
            if m["member_id"] == member_id:
                return m
        raise NotFound(f"{member_id} is not a member of image {ref}")

    def update_member(self, ctx, ref, member_id, status):
        """Only the member itself answers (the owner may not accept for it: 403)."""
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")
        if status not in MEMBER_STATUSES:
            raise BadRequest(f"'status' must be one of {', '.join(MEMBER_STATUSES)}, not {status!r}")
        m = self.get_member(ctx, ref, member_id)
        if member_id != ctx.project_id:
            raise Forbidden("only the member itself may accept or reject a shared image")
        self.db.conn.execute("UPDATE image_members SET status=?, updated_at=? WHERE image_id=? AND member_id=?",
                             (status, dbm.now_iso(), m["image_id"], member_id))
        return self.get_member(ctx, ref, member_id)

    def delete_member(self, ctx, ref, member_id):
        r = self.find(ctx, ref)
        self.get_member(ctx, r["id"], member_id)
        if r["owner"] != ctx.project_id and not ctx.is_admin:
            raise Forbidden("only the image's owner may remove a member")
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")
        self.db.conn.execute("DELETE FROM image_members WHERE image_id=? AND member_id=?", (r["id"], member_id))
