"""Keystone v3's role grants beyond a user's on a project: to groups, on domains, for groups on
the system, OS-INHERIT's inherited ones, implied roles (role inference rules), the
role-assignment list with its filters, and /v3/auth/domains."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import no_content, this_url, token_of, url_for, want_bool
from backend.api.identity_admin import _collection, domain_view, role_view
from backend.core.errors import BadRequest, NotFound

V3 = "/identity/v3"
INHERIT = f"{V3}/OS-INHERIT"
_PLURAL = {"users": "user", "groups": "group", "projects": "project", "domains": "domain"}


def _grant_routes(path: str, actor_type: str, target_type: str, inherited: bool) -> list[Route]:
    """GET {path} (the roles) and PUT/GET/HEAD/DELETE {path}/{role}[/inherited_to_projects]."""
    tail = "/inherited_to_projects" if inherited else ""

    def parts(request: Request):
        p = request.path_params
        return actor_type, p["actor"], target_type, p.get("target", "all"), inherited

    async def one(request: Request) -> Response:
        cloud, token = request.app.state.cloud, token_of(request)
        args, role = parts(request), request.path_params["role"]
        if request.method == "PUT":
            await cloud.grant(token, *args[:4], role, inherited)
        elif request.method == "DELETE":
            await cloud.revoke_grant(token, *args[:4], role, inherited)
        elif not await cloud.check_grant(token, *args[:4], role, inherited):
            raise NotFound(f"{actor_type} {args[1]} has no {'inherited ' if inherited else ''}role {role} "
                           f"on {target_type} {args[3]}")
        return no_content()

    async def listing(request: Request) -> Response:
        cloud, token = request.app.state.cloud, token_of(request)
        items = [role_view(request, r) for r in await cloud.list_grants(token, *parts(request))]
        return _collection(request, "roles", items)
    return [Route(f"{path}{tail}", listing, methods=["GET"]),
            Route(f"{path}/{{role}}{tail}", one, methods=["PUT", "GET", "HEAD", "DELETE"])]


# ---- GET /v3/role_assignments ----------------------------------------------------------------
FILTERS = {"user.id", "group.id", "role.id", "scope.project.id", "scope.domain.id", "scope.system",
           "scope.OS-INHERIT:inherited_to", "include_names", "effective", "include_subtree"}


def _flag(q, name: str) -> bool:
    # keystone: a flag is on when present without a value, or with a true one
    return name in q and (q[name] == "" or want_bool(q[name], name))


async def role_assignments(request: Request) -> Response:
    cloud, token, q = request.app.state.cloud, token_of(request), request.query_params
    unknown = sorted(set(q) - FILTERS)
    if unknown:
        raise BadRequest(f"unsupported filter '{unknown[0]}'")
    if "scope.system" in q and q["scope.system"] != "all":
        raise BadRequest("'scope.system' must be 'all' (the only system)")
    if q.get("scope.OS-INHERIT:inherited_to", "projects") != "projects":
        raise BadRequest("'scope.OS-INHERIT:inherited_to' must be 'projects'")
    effective, subtree = _flag(q, "effective"), _flag(q, "include_subtree")
    if subtree and "scope.project.id" not in q:
        raise BadRequest("'include_subtree' needs 'scope.project.id'")
    if effective and "group.id" in q:
        raise BadRequest("'effective' and 'group.id' cannot be combined: effective assignments are users'")
    items = await cloud.list_assignments(
        token, user=q.get("user.id"), group=q.get("group.id"), project=q.get("scope.project.id"),
        domain=q.get("scope.domain.id"), system="scope.system" in q, role=q.get("role.id"),
        effective=effective, include_subtree=subtree,
        inherited=True if "scope.OS-INHERIT:inherited_to" in q else None)
    names = _Names(cloud, token) if _flag(q, "include_names") else None
    out = [await _assignment_view(request, a, names) for a in items]
    return JSONResponse({"role_assignments": out,
                         "links": {"self": this_url(request), "previous": None, "next": None}})


class _Names:
    """Names for include_names, each collection read once."""

    def __init__(self, cloud, token):
        self.cloud, self.token, self.cache = cloud, token, {}

    async def of(self, kind: str, id_: str) -> dict:
        if kind not in self.cache:
            lister = {"user": self.cloud.list_users, "group": self.cloud.list_groups,
                      "project": self.cloud.list_projects, "domain": self.cloud.list_domains,
                      "role": self.cloud.list_roles}[kind]
            self.cache[kind] = {x["id"]: x for x in await lister(self.token)}
        if id_ not in self.cache[kind] and kind == "role":  # a domain's own role is not in the global list
            self.cache[kind][id_] = await self.cloud.get_role(self.token, id_)
        return self.cache[kind].get(id_) or {}

    async def ref(self, kind: str, id_: str) -> dict:
        x = await self.of(kind, id_)
        out = {"id": id_, "name": x.get("name")}
        if kind in ("user", "group", "project"):
            dom = x.get("domain_id") or "default"
            out["domain"] = {"id": dom, "name": (await self.of("domain", dom)).get("name")}
        return out


async def _assignment_view(request: Request, a: dict, names: _Names | None) -> dict:
    async def ref(kind, id_):
        return await names.ref(kind, id_) if names else {"id": id_}
    out = {"role": await ref("role", a["role_id"])}
    actor = "user" if a.get("user_id") else "group"
    out[actor] = await ref(actor, a[f"{actor}_id"])
    if a.get("system"):
        out["scope"] = {"system": {"all": True}}
        target = ["system"]
    else:
        kind = "project" if a.get("project_id") else "domain"
        out["scope"] = {kind: await ref(kind, a[f"{kind}_id"])}
        target = [f"{kind}s", a[f"{kind}_id"]]
    path = [*target, f"{actor}s", a[f"{actor}_id"], "roles", a["role_id"]]
    if a.get("inherited"):
        out["scope"]["OS-INHERIT:inherited_to"] = "projects"
        path = ["OS-INHERIT", *path, "inherited_to_projects"]
    out["links"] = {"assignment": url_for(request, "identity", "v3", *path)}
    return out


# ---- implied roles -----------------------------------------------------------------------
def _role_ref(request: Request, r: dict) -> dict:
    return {"id": r["id"], "name": r["name"], "links": {"self": url_for(request, "identity", "v3", "roles", r["id"])}}


async def implied_one(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    prior, implied = request.path_params["prior"], request.path_params["implied"]
    if request.method == "DELETE":
        await cloud.delete_implied_role(token, prior, implied)
        return no_content()
    if request.method == "PUT":
        p, i = await cloud.create_implied_role(token, prior, implied)
    else:
        p, i = await cloud.get_implied_role(token, prior, implied)
        if request.method == "HEAD":
            return no_content()
    body = {"role_inference": {"prior_role": _role_ref(request, p), "implies": _role_ref(request, i)},
            "links": {"self": this_url(request)}}
    return JSONResponse(body, status_code=201 if request.method == "PUT" else 200)


async def implied_list(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    prior = request.path_params.get("prior")
    rules = [{"prior_role": _role_ref(request, r["prior"]), "implies": [_role_ref(request, i) for i in r["implies"]]}
             for r in await cloud.list_implied_roles(token, prior)]
    if prior:
        return JSONResponse({"role_inference": rules[0], "links": {"self": this_url(request)}})
    return JSONResponse({"role_inferences": rules, "links": {"self": this_url(request)}})


async def auth_domains(request: Request) -> Response:
    items = [domain_view(request, d) for d in await request.app.state.cloud.auth_domains(token_of(request))]
    return _collection(request, "domains", items)


def routes() -> list[Route]:
    out = [Route(f"{V3}/role_assignments", role_assignments, methods=["GET"]),
           Route(f"{V3}/auth/domains", auth_domains, methods=["GET"]),
           Route(f"{V3}/role_inferences", implied_list, methods=["GET"]),
           Route(f"{V3}/roles/{{prior}}/implies", implied_list, methods=["GET"]),
           Route(f"{V3}/roles/{{prior}}/implies/{{implied}}", implied_one,
                 methods=["PUT", "GET", "HEAD", "DELETE"])]
    # a user's roles on a project or the system have their own routes (identity_admin, identity_system)
    for targets, actors in (("projects", "groups"), ("domains", "users"), ("domains", "groups")):
        out += _grant_routes(f"{V3}/{targets}/{{target}}/{actors}/{{actor}}/roles", _PLURAL[actors],
                             _PLURAL[targets], False)
    out += _grant_routes(f"{V3}/system/groups/{{actor}}/roles", "group", "system", False)
    for targets in ("projects", "domains"):
        for actors in ("users", "groups"):
            out += _grant_routes(f"{INHERIT}/{targets}/{{target}}/{actors}/{{actor}}/roles", _PLURAL[actors],
                                 _PLURAL[targets], True)
    return out
