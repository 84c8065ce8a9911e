"""Private flavors shared with projects, as nova's os-flavor-access: a flavor with is_public
false is seen (listed, shown, booted) by admins and by the projects on its access list only;
admins read and change the list."""
from __future__ import annotations

from backend.core import db as dbm
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound


class FlavorAccess:
    """A part of ComputeAPI: self.db and find_flavor are its."""

    def flavor_access_of(self, flavor_id: str, project_id: str | None) -> bool:
        return bool(project_id) and bool(dbm.row(
            self.db, "SELECT 1 x FROM flavor_projects WHERE flavor_id=? AND project_id=?",
            (flavor_id, project_id)))

    def may_see_flavor(self, ctx, f: dict) -> bool:
        return bool(f["is_public"]) or ctx.is_admin or self.flavor_access_of(f["id"], ctx.project_id)

    def visible_flavors(self, ctx, is_public: bool | None = None) -> list[dict]:
        """nova's flavor list query: members see the public flavors and those shared with their
        project (is_public is not theirs to choose); admins choose: True (public and shared
        with their project), False (private only), None (all)."""
        shared = "id IN (SELECT flavor_id FROM flavor_projects WHERE project_id=?)"
        if not ctx.is_admin or is_public is True:
            return dbm.rows(self.db, f"SELECT * FROM flavors WHERE is_public=1 OR {shared} ORDER BY ram, name",
                            (ctx.project_id or "",))
        if is_public is False:
            return dbm.rows(self.db, "SELECT * FROM flavors WHERE is_public=0 ORDER BY ram, name")
        return dbm.rows(self.db, "SELECT * FROM flavors ORDER BY ram, name")

    def _access_list(self, fid: str) -> list[dict]:
        return [{"flavor_id": fid, "tenant_id": r["project_id"]} for r in dbm.rows(
            self.db, "SELECT project_id FROM flavor_projects WHERE flavor_id=? ORDER BY project_id", (fid,))]

    def _admin_flavor(self, ctx, ref, what: str, project_id=None) -> dict:
        # nova's order: the policy (403), the project (400), then the flavor (404)
        if not ctx.is_admin:
            raise Forbidden(f"only an admin may {what}")
        if project_id is not None:
            self._check_project(project_id)
        f = dbm.row(self.db, "SELECT * FROM flavors WHERE id=?", (str(ref),))  # by id only, as nova
        if not f:
            raise NotFound(f"Flavor {ref} could not be found.")
        return f

    def list_flavor_access(self, ctx, ref) -> list[dict]:
        f = self._admin_flavor(ctx, ref, "read a flavor's access list")
        if f["is_public"]:
            raise NotFound("Access list not available for public flavors.")
        return self._access_list(f["id"])

    def add_flavor_access(self, ctx, ref, project_id: str, refuse_public: bool = True) -> list[dict]:
        """refuse_public: 409 for a public flavor (nova from 2.7; before, the row is kept)."""
        with dbm.transaction(self.db):
            f = self._admin_flavor(ctx, ref, "share a flavor", project_id)
            if refuse_public and f["is_public"]:
                raise Conflict("Can not add access to a public flavor.")
            if self.flavor_access_of(f["id"], project_id):
                raise Conflict(f"Flavor access already exists for flavor {f['id']} and project "
                               f"{project_id} combination.")
            self.db["flavor_projects"].insert({"flavor_id": f["id"], "project_id": project_id})
        return self._access_list(f["id"])

    def remove_flavor_access(self, ctx, ref, project_id: str) -> list[dict]:
        with dbm.transaction(self.db):
            f = self._admin_flavor(ctx, ref, "unshare a flavor", project_id)
            if not self.flavor_access_of(f["id"], project_id):
                raise NotFound(f"Flavor access not found for {f['id']} / {project_id} combination.")
            self.db.conn.execute("DELETE FROM flavor_projects WHERE flavor_id=? AND project_id=?",
                                 (f["id"], project_id))
        return self._access_list(f["id"])

    def _check_project(self, project_id) -> None:
        # nova asks keystone (identity.verify_project_id): an unknown project is a bad request
        if not isinstance(project_id, str) or not 0 < len(project_id) <= 255:
            raise BadRequest("'tenant' must be a project id of 1 to 255 characters")
        if not dbm.row(self.db, "SELECT 1 x FROM projects WHERE id=?", (project_id,)):
            raise BadRequest(f"Project ID {project_id} is not a valid project.")
