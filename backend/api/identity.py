"""Keystone v3 under /identity: version documents, tokens (password and token methods, project
scope), the catalog, and users/projects/roles/role assignments for admins."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import (base, check_fields, iso, no_content, read_json, read_object, this_url,
                                token_of, url_for, want_bool, want_str)
from backend.core.errors import BadRequest, NotFound, Unauthorized

V3_UPDATED = "2024-04-03T00:00:00Z"
DEFAULT_DOMAIN = {"id": "default", "name": "Default"}
# (type, name, path under the root); block-storage also as volumev3 for older clients
CATALOG = [("identity", "keystone", "identity/v3"), ("compute", "nova", "compute/v2.1"),
           ("image", "glance", "image"), ("network", "neutron", "network"),
           ("block-storage", "cinder", "volume/v3/{project_id}"),
           ("volumev3", "cinderv3", "volume/v3/{project_id}")]


def _v3_doc(request: Request) -> dict:
    return {"id": "v3.14", "status": "stable", "updated": V3_UPDATED,
            "links": [{"rel": "self", "href": url_for(request, "identity", "v3") + "/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


async def versions(request: Request) -> Response:
    # keystone answers its root with 300 Multiple Choices (a list to choose from)
    return JSONResponse({"versions": {"values": [_v3_doc(request)]}}, status_code=300)


async def version_v3(request: Request) -> Response:
    return JSONResponse({"version": _v3_doc(request)})


def catalog(request: Request, project_id: str | None) -> list[dict]:
    """project_id None (a system-scoped token): endpoints whose URL names a project are left
    out, as keystone leaves out those it cannot fill in."""
    root = base(request)
    out = []
    for stype, name, path in CATALOG:
        if project_id is None and "{project_id}" in path:
            continue
        url = f"{root}/{path.format(project_id=project_id)}"
        eid = f"{name}-{stype}-public"
        out.append({"id": f"{name}-{stype}", "type": stype, "name": name,
                    "endpoints": [{"id": eid, "interface": "public", "region": "RegionOne",
                                   "region_id": "RegionOne", "url": url}]})
    return out


def _domain(d: dict | None) -> dict:
    d = d or DEFAULT_DOMAIN
    return {"id": d.get("id", DEFAULT_DOMAIN["id"]), "name": d.get("name", DEFAULT_DOMAIN["name"])}


def token_body(request: Request, t: dict, with_catalog: bool = True) -> dict:
    user = t["user"]
    body = {"methods": t.get("methods") or ["password"],
            "user": {"id": user["id"], "name": user["name"], "domain": _domain(user.get("domain")),
                     "password_expires_at": None},
            "audit_ids": [],
            "expires_at": iso(t["expires_at"]), "issued_at": iso(t["issued_at"])}
    if t.get("system"):
        body["system"] = {"all": True}
        body["roles"] = [{"id": r["id"], "name": r["name"]} for r in t.get("roles", [])]
        if with_catalog:
            body["catalog"] = catalog(request, None)
    elif t.get("project"):
        p = t["project"]
        body["project"] = {"id": p["id"], "name": p["name"], "domain": _domain(p.get("domain"))}
        body["is_domain"] = False
        body["roles"] = [{"id": r["id"], "name": r["name"]} for r in t.get("roles", [])]
        if with_catalog:
            body["catalog"] = catalog(request, p["id"])
    return {"token": body}


def _check_domain(d, where: str) -> None:
    """One domain exists (Default); naming it is optional, naming another is an error."""
    if d is None:
        return
    if not isinstance(d, dict):
        raise BadRequest(f"'{where}.domain' must be an object")
    check_fields(d, ("id", "name"), f"{where}.domain")
    if d.get("id") not in (None, "default") or d.get("name") not in (None, "Default"):
        raise Unauthorized(f"unknown domain {d.get('id') or d.get('name')!r}: only 'Default' exists")


SYSTEM = object()  # the scope {"system": {"all": true}}


def _scope_project(auth: dict):
    """The project asked for (name or id), SYSTEM, or None (unscoped)."""
    scope = auth.get("scope")
    if scope in (None, "unscoped"):
        return None
    if not isinstance(scope, dict):
        raise BadRequest("'auth.scope' must be an object")
    check_fields(scope, ("project", "domain", "system", "OS-TRUST:trust", "unscoped"), "auth.scope")
    if "system" in scope:
        if scope["system"] != {"all": True}:
            raise BadRequest("'auth.scope.system' must be {\"all\": true} (the only system)")
        return SYSTEM
    if "project" not in scope:
        if "unscoped" in scope:
            return None
        raise BadRequest("only project and system scopes are supported: give 'auth.scope.project'")
    p = scope["project"]
    if not isinstance(p, dict):
        raise BadRequest("'auth.scope.project' must be an object")
    check_fields(p, ("id", "name", "domain"), "auth.scope.project")
    if p.get("id"):
        return want_str(p, "id", "auth.scope.project", empty=False)
    _check_domain(p.get("domain"), "auth.scope.project")
    return want_str(p, "name", "auth.scope.project", empty=False) or _missing("auth.scope.project.name")


def _missing(what: str):
    raise BadRequest(f"'{what}' is required")


async def issue_token(request: Request) -> Response:
    cloud = request.app.state.cloud
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("auth"), dict):
        raise BadRequest("request body must be {\"auth\": {\"identity\": ..., \"scope\": ...}}")
    check_fields(body, ("auth",), "body")
    auth = body["auth"]
    check_fields(auth, ("identity", "scope"), "auth")
    ident = auth.get("identity")
    if not isinstance(ident, dict) or not isinstance(ident.get("methods"), list) or not ident["methods"]:
        raise BadRequest("'auth.identity.methods' must be a non-empty list")
    methods = ident["methods"]
    project = _scope_project(auth)
    if "password" in methods:
        pw = ident.get("password")
        if not isinstance(pw, dict) or not isinstance(pw.get("user"), dict):
            raise BadRequest("'auth.identity.password.user' is required")
        u = pw["user"]
        check_fields(u, ("id", "name", "domain", "password"), "auth.identity.password.user")
        _check_domain(u.get("domain"), "auth.identity.password.user")
        who = want_str(u, "id", "user") or want_str(u, "name", "user") or _missing(
            "auth.identity.password.user.name")
        password = u.get("password")
        if not isinstance(password, str) or not password:
            raise Unauthorized("the request you have made requires authentication: no password")
        if project is SYSTEM:
            t = await cloud.login(who, password, None, system=True)
        else:
            t = await cloud.login(who, password, project)
    elif "token" in methods:
        tk = ident.get("token")
        if not isinstance(tk, dict) or not isinstance(tk.get("id"), str) or not tk["id"]:
            raise BadRequest("'auth.identity.token.id' is required")
        if project is None:
            t = await cloud.validate_token(tk["id"])
        elif project is SYSTEM:
            t = await cloud.scope(tk["id"], None, system=True)
        else:
            t = await cloud.scope(tk["id"], project)
    else:
        raise Unauthorized(f"unsupported authentication method {methods[0]!r}: use password or token")
    nocatalog = "nocatalog" in request.query_params
    return JSONResponse(token_body(request, t, not nocatalog), status_code=201,
                        headers={"X-Subject-Token": t["token"]})


async def check_token(request: Request) -> Response:
    cloud = request.app.state.cloud
    token = token_of(request)
    subject = request.headers.get("x-subject-token") or _missing("X-Subject-Token header")
    if request.method == "DELETE":
        await cloud.revoke_token(token, subject)
        return no_content()
    t = await cloud.validate_token(token, subject)
    if request.method == "HEAD":
        return Response(status_code=200, headers={"X-Subject-Token": subject})
    return JSONResponse(token_body(request, t, "nocatalog" not in request.query_params),
                        headers={"X-Subject-Token": subject})


async def auth_catalog(request: Request) -> Response:
    t = await request.app.state.cloud.validate_token(token_of(request))
    if not t.get("project") and not t.get("system"):
        raise Unauthorized("an unscoped token has no catalog: scope it to a project first")
    return JSONResponse({"catalog": catalog(request, t["project"]["id"] if t.get("project") else None),
                         "links": {"self": this_url(request)}})


# ---- views ----------------------------------------------------------------------------
def _links(request: Request, kind: str, id_: str) -> dict:
    return {"self": url_for(request, "identity", "v3", kind, id_)}


def user_view(request: Request, u: dict) -> dict:
    out = {"id": u["id"], "name": u["name"], "domain_id": u.get("domain_id") or "default",
           "enabled": u.get("enabled", True), "password_expires_at": None, "options": {},
           "links": _links(request, "users", u["id"])}
    if u.get("default_project_id"):
        out["default_project_id"] = u["default_project_id"]
    return out


def project_view(request: Request, p: dict) -> dict:
    dom = p.get("domain_id") or "default"
    return {"id": p["id"], "name": p["name"], "domain_id": dom, "parent_id": dom,
            "description": p.get("description") or "", "enabled": p.get("enabled", True),
            "is_domain": False, "tags": [], "options": {},
            "links": _links(request, "projects", p["id"])}


def role_view(request: Request, r: dict) -> dict:
    return {"id": r["id"], "name": r["name"], "domain_id": None, "description": None,
            "options": {}, "links": _links(request, "roles", r["id"])}


def _collection(request: Request, key: str, items: list[dict]) -> JSONResponse:
    # keystone filters collections by query attributes (?name=, ?domain_id=, ?enabled=)
    for k, v in request.query_params.items():
        if k in ("name", "domain_id", "id"):
            items = [i for i in items if str(i.get(k)) == v]
        elif k == "enabled":
            items = [i for i in items if i.get("enabled") == want_bool(v, "enabled")]
    return JSONResponse({key: items, "links": {"self": this_url(request), "previous": None,
                                               "next": None}})


def _exact(view: dict, asked: str, kind: str) -> dict:
    # the facade resolves names too; the REST API answers 404 for a name so clients search
    if view["id"] != asked:
        raise NotFound(f"could not find {kind}: {asked}")
    return view


# ---- users, projects, roles -----------------------------------------------------------
async def users(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "POST":
        u = await read_object(request, "user", ("name", "password", "default_project_id",
                                                "domain_id", "enabled", "description", "email",
                                                "options"), required=("name",))
        if u.get("domain_id") not in (None, "default"):
            raise BadRequest(f"unknown domain {u['domain_id']!r}: only 'default' exists")
        name = want_str(u, "name", "user", empty=False)
        pw = want_str(u, "password", "user", empty=False, max_len=4096)
        if pw is None:
            raise BadRequest("'user.password' is required: pocketstack users log in by password")
        enabled = want_bool(u.get("enabled", True), "user.enabled")
        created = await cloud.create_user(token, name, pw, u.get("default_project_id"), enabled)
        return JSONResponse({"user": user_view(request, created)}, status_code=201)
    items = [user_view(request, u) for u in await cloud.list_users(token)]
    return _collection(request, "users", items)


async def user_one(request: Request) -> Response:
    cloud, token, uid = request.app.state.cloud, token_of(request), request.path_params["id"]
    u = _exact(await cloud.get_user(token, uid), uid, "user")
    if request.method == "DELETE":
        await cloud.delete_user(token, uid)
        return no_content()
    if request.method == "PATCH":
        b = await read_object(request, "user", ("name", "password", "default_project_id", "enabled",
                                                "description", "email", "options"))
        enabled = want_bool(b["enabled"], "user.enabled") if "enabled" in b else None
        u = await cloud.update_user(token, uid, name=want_str(b, "name", "user", empty=False),
                                    password=want_str(b, "password", "user", empty=False, max_len=4096),
                                    enabled=enabled, default_project=b.get("default_project_id"))
    return JSONResponse({"user": user_view(request, u)})


async def user_password(request: Request) -> Response:
    """Self-service password change (keystone: POST /v3/users/{id}/password, 204)."""
    cloud, token, uid = request.app.state.cloud, token_of(request), request.path_params["id"]
    b = await read_object(request, "user", ("password", "original_password"), required=("password",
                                                                                      "original_password"))
    _exact(await cloud.get_user(token, uid), uid, "user")
    await cloud.update_user(token, uid, password=want_str(b, "password", "user", empty=False, max_len=4096),
                            original_password=want_str(b, "original_password", "user", max_len=4096))
    return no_content()


async def user_projects(request: Request) -> Response:
    cloud, token, uid = request.app.state.cloud, token_of(request), request.path_params["id"]
    _exact(await cloud.get_user(token, uid), uid, "user")
    pids = {a["project_id"] for a in await cloud.list_role_assignments(token, None, uid)}
    items = [project_view(request, p) for p in await cloud.list_projects(token) if p["id"] in pids]
    return _collection(request, "projects", items)


async def projects(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "POST":
        p = await read_object(request, "project", ("name", "description", "domain_id", "enabled",
                                                   "is_domain", "parent_id", "tags", "options"),
                              required=("name",))
        if p.get("domain_id") not in (None, "default") or p.get("parent_id") not in (None, "default"):
            raise BadRequest("projects live in the 'default' domain only")
        if p.get("is_domain"):
            raise BadRequest("'project.is_domain' true is not supported")
        name = want_str(p, "name", "project", empty=False, max_len=64)
        desc = want_str(p, "description", "project", max_len=1024) or ""
        created = await cloud.create_project(token, name, desc)
        return JSONResponse({"project": project_view(request, created)}, status_code=201)
    items = [project_view(request, p) for p in await cloud.list_projects(token)]
    return _collection(request, "projects", items)


async def project_one(request: Request) -> Response:
    cloud, token, pid = request.app.state.cloud, token_of(request), request.path_params["id"]
    p = _exact(await cloud.get_project(token, pid), pid, "project")
    if request.method == "DELETE":
        await cloud.delete_project(token, pid)
        return no_content()
    if request.method == "PATCH":
        b = await read_object(request, "project", ("name", "description", "enabled", "tags", "options"))
        enabled = want_bool(b["enabled"], "project.enabled") if "enabled" in b else None
        p = await cloud.update_project(token, pid, name=want_str(b, "name", "project", empty=False, max_len=64),
                                       description=want_str(b, "description", "project", max_len=1024),
                                       enabled=enabled)
    return JSONResponse({"project": project_view(request, p)})


async def auth_projects(request: Request) -> Response:
    items = [project_view(request, p)
             for p in await request.app.state.cloud.auth_projects(token_of(request))]
    return _collection(request, "projects", items)


async def roles(request: Request) -> Response:
    items = [role_view(request, r) for r in await request.app.state.cloud.list_roles(token_of(request))]
    return _collection(request, "roles", items)


async def role_one(request: Request) -> Response:
    rid = request.path_params["id"]
    r = _exact(await request.app.state.cloud.get_role(token_of(request), rid), rid, "role")
    return JSONResponse({"role": role_view(request, r)})


async def project_user_roles(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    p, u = request.path_params["project"], request.path_params["user"]
    items = [a for a in await cloud.list_role_assignments(token, p, u)]
    roles_ = {r["id"]: r for r in await cloud.list_roles(token)}
    out = [role_view(request, roles_.get(a["role_id"], {"id": a["role_id"], "name": a.get("role_name")}))
           for a in items]
    return _collection(request, "roles", out)


async def project_user_role(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    p, u, r = (request.path_params[k] for k in ("project", "user", "role"))
    if request.method == "PUT":
        await cloud.grant_role(token, p, u, r)
        return no_content()
    if request.method == "DELETE":
        await cloud.revoke_role(token, p, u, r)
        return no_content()
    if not await cloud.check_role(token, p, u, r):
        raise NotFound(f"user {u} has no role {r} on project {p}")
    return no_content()


async def role_assignments(request: Request) -> Response:
    cloud, token, q = request.app.state.cloud, token_of(request), request.query_params
    known = {"user.id", "scope.project.id", "scope.system", "role.id", "include_names", "effective",
             "include_subtree"}
    unknown = sorted(set(q) - known)
    if unknown:
        raise BadRequest(f"unsupported filter '{unknown[0]}' (pocketstack has project and system scopes)")
    if "scope.system" in q and q["scope.system"] != "all":
        raise BadRequest("'scope.system' must be 'all' (the only system)")
    items = []
    if "scope.system" not in q:
        items = await cloud.list_role_assignments(token, q.get("scope.project.id"), q.get("user.id"))
    if "scope.project.id" not in q:
        items += [dict(a, project_id=None)
                  for a in await cloud.list_system_assignments(token, q.get("user.id"))]
    if q.get("role.id"):
        items = [a for a in items if a["role_id"] == q["role.id"]]
    names = "include_names" in q
    if names:
        unames = {u["id"]: u["name"] for u in await cloud.list_users(token)}
        pnames = {p["id"]: p["name"] for p in await cloud.list_projects(token)}
    out = []
    for a in items:
        role, user, project = {"id": a["role_id"]}, {"id": a["user_id"]}, {"id": a["project_id"]}
        if names:
            role["name"] = a.get("role_name")
            user.update(name=unames.get(a["user_id"]), domain=dict(DEFAULT_DOMAIN))
            project.update(name=pnames.get(a["project_id"]), domain=dict(DEFAULT_DOMAIN))
        if a["project_id"] is None:  # on the system
            scope = {"system": {"all": True}}
            link = url_for(request, "identity", "v3", "system", "users", a["user_id"], "roles", a["role_id"])
        else:
            scope = {"project": project}
            link = url_for(request, "identity", "v3", "projects", a["project_id"], "users", a["user_id"],
                           "roles", a["role_id"])
        out.append({"role": role, "user": user, "scope": scope, "links": {"assignment": link}})
    return JSONResponse({"role_assignments": out,
                         "links": {"self": this_url(request), "previous": None, "next": None}})


async def domains(request: Request) -> Response:
    token_of(request)
    d = {**DEFAULT_DOMAIN, "description": "The default domain", "enabled": True, "tags": [],
         "options": {}, "links": _links(request, "domains", "default")}
    if "id" in request.path_params:
        if request.path_params["id"] != "default":
            raise NotFound(f"could not find domain: {request.path_params['id']}")
        return JSONResponse({"domain": d})
    items = [d] if request.query_params.get("name") in (None, "Default") else []
    return JSONResponse({"domains": items, "links": {"self": this_url(request), "previous": None,
                                                     "next": None}})


def routes() -> list[Route]:
    v3 = "/identity/v3"
    return [
        Route("/identity", versions, methods=["GET"]),
        Route(v3, version_v3, methods=["GET"]),
        Route(f"{v3}/auth/tokens", issue_token, methods=["POST"]),
        Route(f"{v3}/auth/tokens", check_token, methods=["GET", "HEAD", "DELETE"]),
        Route(f"{v3}/auth/catalog", auth_catalog, methods=["GET"]),
        Route(f"{v3}/auth/projects", auth_projects, methods=["GET"]),
        Route(f"{v3}/users", users, methods=["GET", "POST"]),
        Route(f"{v3}/users/{{id}}", user_one, methods=["GET", "PATCH", "DELETE"]),
        Route(f"{v3}/users/{{id}}/projects", user_projects, methods=["GET"]),
        Route(f"{v3}/users/{{id}}/password", user_password, methods=["POST"]),
        Route(f"{v3}/projects", projects, methods=["GET", "POST"]),
        Route(f"{v3}/projects/{{id}}", project_one, methods=["GET", "PATCH", "DELETE"]),
        Route(f"{v3}/projects/{{project}}/users/{{user}}/roles", project_user_roles, methods=["GET"]),
        Route(f"{v3}/projects/{{project}}/users/{{user}}/roles/{{role}}", project_user_role,
              methods=["PUT", "GET", "HEAD", "DELETE"]),
        Route(f"{v3}/roles", roles, methods=["GET"]),
        Route(f"{v3}/roles/{{id}}", role_one, methods=["GET"]),
        Route(f"{v3}/role_assignments", role_assignments, methods=["GET"]),
        Route(f"{v3}/domains", domains, methods=["GET"]),
        Route(f"{v3}/domains/{{id}}", domains, methods=["GET"]),
    ]
