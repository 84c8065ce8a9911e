"""Keystone's role assignments beyond a user's on a project: to groups (every member holds
the role), on domains, on the system for groups, OS-INHERIT's inherited ones (held on every
project below a domain or project, not on the target itself) and implied roles (a prior role
brings the roles it implies). A user's effective roles on a target are all of these
together: what tokens carry and `GET /v3/role_assignments?effective` lists."""
from __future__ import annotations

from backend.core import db as dbm
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.identity.common import IMPLIES

ACTORS = ("user", "group")
TARGETS = ("project", "domain", "system")


class Grants:
    """Mixed into IdentityService, which provides db, _cache, _admin, _reads_all, _find_user,
    _find_project, _find_domain and get_role."""

    # ---- effective roles ---------------------------------------------------------------
    def _groups_of(self, user_id: str) -> list[str]:
        return [r["group_id"] for r in dbm.rows(self.db, "SELECT group_id FROM group_members WHERE user_id=?",
                                                (user_id,))]

    def _ancestors(self, project: dict) -> list[str]:
        """The ids of the projects above project, nearest first (a cycle cannot be made)."""
        out, parent = [], project.get("parent_id")
        while parent and parent not in out:
            out.append(parent)
            p = dbm.row(self.db, "SELECT parent_id FROM projects WHERE id=?", (parent,))
            parent = p["parent_id"] if p else None
        return out

    def _grant_role_ids(self, user_id: str, targets: list[tuple[str, str, int]]) -> set[str]:
        """Role ids granted to the user or one of their groups on any (type, id, inherited)."""
        actors = [("user", user_id)] + [("group", g) for g in self._groups_of(user_id)]
        ids: set[str] = set()
        for atype, aid in actors:
            for ttype, tid, inh in targets:
                ids.update(r["role_id"] for r in dbm.rows(
                    self.db, "SELECT role_id FROM grants WHERE actor_type=? AND actor_id=? AND target_type=?"
                             " AND target_id=? AND inherited=?", (atype, aid, ttype, tid, inh)))
        return ids

    def _held_role_ids(self, user_id: str, target_type: str, target_id: str | None) -> set[str]:
        """The roles the user holds on the target before implication."""
        if target_type == "system":
            ids = {r["role_id"] for r in dbm.rows(self.db, "SELECT role_id FROM system_assignments WHERE user_id=?",
                                                  (user_id,))}
            return ids | self._grant_role_ids(user_id, [("system", "all", 0)])
        if target_type == "domain":
            return self._grant_role_ids(user_id, [("domain", target_id, 0)])
        p = dbm.row(self.db, "SELECT id, domain_id, parent_id FROM projects WHERE id=?", (target_id,))
        if not p:
            return set()
        ids = {r["role_id"] for r in dbm.rows(self.db, "SELECT role_id FROM assignments WHERE user_id=?"
                                                       " AND project_id=?", (user_id, p["id"]))}
        targets = [("project", p["id"], 0), ("domain", p["domain_id"], 1)]
        targets += [("project", a, 1) for a in self._ancestors(p)]
        return ids | self._grant_role_ids(user_id, targets)

    def _closure(self, role_ids: set[str], roles: dict[str, dict]) -> set[str]:
        """role_ids with every role they imply (the built-in chain admin > member > reader and
        the inference rules), domain-specific ones included."""
        by_name = {r["name"]: i for i, r in roles.items()}
        rules: dict[str, set[str]] = {}
        for r in dbm.rows(self.db, "SELECT prior_role_id, implied_role_id FROM implied_roles"):
            rules.setdefault(r["prior_role_id"], set()).add(r["implied_role_id"])
        for prior, implied in IMPLIES.items():
            if prior in by_name:
                rules.setdefault(by_name[prior], set()).update(by_name[n] for n in implied if n in by_name)
        seen, todo = set(), [i for i in role_ids if i in roles]
        while todo:
            i = todo.pop()
            if i not in seen:
                seen.add(i)
                todo.extend(rules.get(i, ()))
        return seen

    def _implied(self, role_ids: set[str]) -> list[dict]:
        """The roles role_ids bring, as [{id, name}] sorted by name."""
        roles = {r["id"]: r for r in dbm.rows(self.db, "SELECT id, name, domain_id FROM roles")}
        seen = self._closure(role_ids, roles)
        # a domain-specific role is never held itself, only the global roles it implies (keystone)
        return sorted(({"id": i, "name": roles[i]["name"]} for i in seen if not roles[i]["domain_id"]),
                      key=lambda r: r["name"])

    def _roles_on(self, user_id: str, project_id: str) -> list[dict]:
        return self._implied(self._held_role_ids(user_id, "project", project_id))

    def _system_roles(self, user_id: str) -> list[dict]:
        return self._implied(self._held_role_ids(user_id, "system", None))

    def _domain_roles(self, user_id: str, domain_id: str) -> list[dict]:
        return self._implied(self._held_role_ids(user_id, "domain", domain_id))

    def auth_projects_for(self, user_id: str) -> list[dict]:
        """The projects the user holds any role on, however it is held."""
        return [self._project_view(p) for p in dbm.rows(self.db, "SELECT * FROM projects ORDER BY name")
                if self._held_role_ids(user_id, "project", p["id"])]

    def auth_domains_for(self, user_id: str) -> list[dict]:
        return [self._domain_view(d) for d in dbm.rows(self.db, "SELECT * FROM domains ORDER BY name")
                if d["enabled"] and self._held_role_ids(user_id, "domain", d["id"])]

    # ---- grants --------------------------------------------------------------------------
    def _grant_parts(self, ctx, actor_type, actor, target_type, target, role):
        if actor_type == "user":
            a = self._find_user(actor)
        else:
            a = dbm.row(self.db, "SELECT * FROM groups WHERE id=?", (actor,))
        if not a:
            raise NotFound(f"could not find {actor_type}: {actor}")
        if target_type == "project":
            t = self._find_project(target)
            if not t:
                raise NotFound(f"could not find project: {target}")
        elif target_type == "domain":
            t = self._find_domain(target)
        else:
            t = {"id": "all", "name": "the system"}
        return a, t, self.get_role(ctx, role)

    def grant(self, ctx, actor_type, actor, target_type, target, role, inherited=False):
        """Grant role to a user or group on a project, domain or the system (inherited: on
        every project below it instead). A user's direct role on a project or the system is
        kept where it always was (assignments, system_assignments)."""
        self._admin(ctx)
        a, t, r = self._grant_parts(ctx, actor_type, actor, target_type, target, role)
        if actor_type == "user" and not inherited and target_type == "project":
            self.db.conn.execute("INSERT OR IGNORE INTO assignments VALUES (?,?,?)", (a["id"], t["id"], r["id"]))
        elif actor_type == "user" and target_type == "system":
            self.db.conn.execute("INSERT OR IGNORE INTO system_assignments VALUES (?,?)", (a["id"], r["id"]))
        else:
            self.db.conn.execute("INSERT OR IGNORE INTO grants VALUES (?,?,?,?,?,?)",
                                 (actor_type, a["id"], target_type, t["id"], r["id"], int(bool(inherited))))
        self._cache.clear()

    def _grant_where(self, actor_type, a, target_type, t, r, inherited):
        if actor_type == "user" and not inherited and target_type == "project":
            return "assignments", "user_id=? AND project_id=? AND role_id=?", (a["id"], t["id"], r["id"])
        if actor_type == "user" and target_type == "system":
            return "system_assignments", "user_id=? AND role_id=?", (a["id"], r["id"])
        return ("grants", "actor_type=? AND actor_id=? AND target_type=? AND target_id=? AND role_id=? AND inherited=?",
                (actor_type, a["id"], target_type, t["id"], r["id"], int(bool(inherited))))

    def revoke_grant(self, ctx, actor_type, actor, target_type, target, role, inherited=False):
        self._admin(ctx)
        a, t, r = self._grant_parts(ctx, actor_type, actor, target_type, target, role)
        table, where, params = self._grant_where(actor_type, a, target_type, t, r, inherited)
        if not self.db.conn.execute(f"DELETE FROM {table} WHERE {where}", params).rowcount:
            raise NotFound(f"{actor_type} {a['name']!r} has no {'inherited ' if inherited else ''}role "
                           f"{r['name']!r} on {target_type} {t['name']!r}")
        self._cache.clear()

    def check_grant(self, ctx, actor_type, actor, target_type, target, role, inherited=False) -> bool:
        if not self._reads_all(ctx):
            self._admin(ctx)
        a, t, r = self._grant_parts(ctx, actor_type, actor, target_type, target, role)
        table, where, params = self._grant_where(actor_type, a, target_type, t, r, inherited)
        return dbm.row(self.db, f"SELECT 1 x FROM {table} WHERE {where}", params) is not None

    def list_grants(self, ctx, actor_type, actor, target_type, target, inherited=False) -> list[dict]:
        """The roles granted (as assigned, not implied) to the actor on the target."""
        if not self._reads_all(ctx):
            self._admin(ctx)
        a, t, _ = self._grant_parts(ctx, actor_type, actor, target_type, target, "admin")
        key = "system" if target_type == "system" else f"{target_type}_id"
        ids = {x["role_id"] for x in self._raw_assignments()
               if x[f"{actor_type}_id"] == a["id"] and x.get(key) == t["id"] and x["inherited"] == bool(inherited)}
        return [r for r in dbm.rows(self.db, "SELECT id, name, description FROM roles ORDER BY name")
                if r["id"] in ids]

    # ---- implied roles (keystone's role inference rules) -----------------------------------
    def _rule_parts(self, ctx, prior, implied):
        p = dbm.row(self.db, "SELECT id, name, domain_id FROM roles WHERE id=?", (prior,))
        i = dbm.row(self.db, "SELECT id, name, domain_id FROM roles WHERE id=?", (implied,)) if implied else None
        if not p:
            raise NotFound(f"could not find role: {prior}")
        if implied and not i:
            raise NotFound(f"could not find role: {implied}")
        return p, i

    def create_implied_role(self, ctx, prior, implied):
        self._admin(ctx)
        p, i = self._rule_parts(ctx, prior, implied)
        if i["name"] == "admin":
            raise Forbidden("the admin role cannot be implied (keystone's prohibited_implied_role)")
        if i["domain_id"] and not p["domain_id"]:
            raise Forbidden(f"a global role cannot imply the domain-specific role {i['name']!r}")
        roles = {r["id"]: r for r in dbm.rows(self.db, "SELECT id, name FROM roles")}
        if p["id"] in self._closure({i["id"]}, roles):
            raise Conflict(f"role {i['name']!r} already implies {p['name']!r}: a rule cannot make a cycle")
        self.db.conn.execute("INSERT OR IGNORE INTO implied_roles VALUES (?,?)", (p["id"], i["id"]))
        self._cache.clear()
        return self._rule_parts(ctx, p["id"], i["id"])

    def get_implied_role(self, ctx, prior, implied):
        p, i = self._rule_parts(ctx, prior, implied)
        if not dbm.row(self.db, "SELECT 1 x FROM implied_roles WHERE prior_role_id=? AND implied_role_id=?",
                       (p["id"], i["id"])):
            raise NotFound(f"role {p['name']!r} does not imply {i['name']!r}")
        return p, i

    def delete_implied_role(self, ctx, prior, implied):
        self._admin(ctx)
        p, i = self.get_implied_role(ctx, prior, implied)
        self.db.conn.execute("DELETE FROM implied_roles WHERE prior_role_id=? AND implied_role_id=?",
                             (p["id"], i["id"]))
        self._cache.clear()

    def list_implied_roles(self, ctx, prior=None) -> list[dict]:
        """[{prior: {id,name}, implies: [{id,name}]}], the rules as made (one level)."""
        if prior:
            self._rule_parts(ctx, prior, None)
        out: dict[str, dict] = {}
        for r in dbm.rows(self.db, "SELECT p.id pid, p.name pname, i.id iid, i.name iname FROM implied_roles x"
                                   " JOIN roles p ON p.id=x.prior_role_id JOIN roles i ON i.id=x.implied_role_id"
                                   " ORDER BY p.name, i.name"):
            if prior in (None, r["pid"]):
                out.setdefault(r["pid"], {"prior": {"id": r["pid"], "name": r["pname"]}, "implies": []})
                out[r["pid"]]["implies"].append({"id": r["iid"], "name": r["iname"]})
        if prior and prior not in out:
            p, _ = self._rule_parts(ctx, prior, None)
            out[prior] = {"prior": dict(p), "implies": []}
        return list(out.values())

    # ---- listing (GET /v3/role_assignments) ------------------------------------------------
    def _raw_assignments(self) -> list[dict]:
        """Every assignment as {role_id, user_id|group_id, project_id|domain_id|system, inherited}."""
        out = [{"role_id": a["role_id"], "user_id": a["user_id"], "group_id": None, "project_id": a["project_id"],
                "inherited": False} for a in dbm.rows(self.db, "SELECT * FROM assignments")]
        out += [{"role_id": a["role_id"], "user_id": a["user_id"], "group_id": None, "system": "all",
                 "inherited": False} for a in dbm.rows(self.db, "SELECT * FROM system_assignments")]
        for g in dbm.rows(self.db, "SELECT * FROM grants"):
            a = {"role_id": g["role_id"], "user_id": None, "group_id": None, "inherited": bool(g["inherited"])}
            a[f"{g['actor_type']}_id"] = g["actor_id"]
            a["system" if g["target_type"] == "system" else f"{g['target_type']}_id"] = g["target_id"]
            out.append(a)
        return out

    def _effective(self, items: list[dict]) -> list[dict]:
        """Keystone's ?effective: group assignments become their members', inherited ones the
        projects' below their target, and implied roles are added; each row once."""
        projects = dbm.rows(self.db, "SELECT id, domain_id, parent_id FROM projects")
        out, seen = [], set()

        def add(a):
            key = (a["role_id"], a["user_id"], a.get("project_id"), a.get("domain_id"), a.get("system"))
            if key not in seen:
                seen.add(key)
                out.append(a)
        for a in items:
            users = ([a["user_id"]] if a["user_id"] else
                     [m["user_id"] for m in dbm.rows(self.db, "SELECT user_id FROM group_members WHERE group_id=?",
                                                     (a["group_id"],))])
            if a["inherited"]:
                if a.get("domain_id"):
                    targets = [p["id"] for p in projects if p["domain_id"] == a["domain_id"]]
                else:
                    targets = [p["id"] for p in projects if a["project_id"] in self._ancestors(p)]
                scopes = [{"project_id": t} for t in targets]
            else:
                scopes = [{k: a[k] for k in ("project_id", "domain_id", "system") if a.get(k)}]
            for r in self._implied({a["role_id"]}):
                for u in users:
                    for s in scopes:
                        add({"role_id": r["id"], "user_id": u, "group_id": None, "inherited": False, **s})
        return out

    def list_assignments(self, ctx, user=None, group=None, project=None, domain=None, system=None, role=None,
                         effective=False, inherited=None, include_subtree=False) -> list[dict]:
        """Filtered as keystone's GET /v3/role_assignments; a caller who may not read all
        sees only their own (their user's, effectively)."""
        if not self._reads_all(ctx):
            if (user and self._find_user(user) and self._find_user(user)["id"] != ctx.user_id) or group:
                raise Forbidden("listing other users' role assignments needs an admin or a system reader")
            user = ctx.user_id
        if project and domain or (system and (project or domain)):
            raise BadRequest("give at most one of scope.project.id, scope.domain.id and scope.system")
        if user and group:
            raise BadRequest("give at most one of user.id and group.id")
        items = self._raw_assignments()
        if effective:
            items = self._effective(items)
        if inherited is not None:
            items = [a for a in items if a["inherited"] == inherited]
        if user:
            u = self._find_user(user)
            items = [a for a in items if u and a["user_id"] == u["id"]]
        if group:
            items = [a for a in items if a["group_id"] == group]
        if project:
            ids = {project}
            if include_subtree:
                ids |= {p["id"] for p in dbm.rows(self.db, "SELECT id, parent_id FROM projects")
                        if project in self._ancestors(p)}
            items = [a for a in items if a.get("project_id") in ids]
        if domain:
            items = [a for a in items if a.get("domain_id") == domain]
        if system:
            items = [a for a in items if a.get("system")]
        if role:
            items = [a for a in items if a["role_id"] == role]
        names = {r["id"]: r["name"] for r in dbm.rows(self.db, "SELECT id, name FROM roles")}
        return [dict(a, role_name=names.get(a["role_id"])) for a in items]
