"""Keystone v3 under /identity: version documents, tokens (password and token methods, project
and system scope) and the catalog; users, projects, roles and assignments are in
identity_admin.py."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import (base, check_fields, iso, no_content, read_json, this_url, token_of, url_for,
                                want_str)
from backend.api.identity_admin import DEFAULT_DOMAIN, _collection, project_view
from backend.core.errors import BadRequest, Unauthorized

V3_UPDATED = "2024-04-03T00:00:00Z"
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
    if t.get("application_credential"):
        body["application_credential"] = t["application_credential"]
    if t.get("domain"):
        body["domain"] = dict(t["domain"])
        body["roles"] = [{"id": r["id"], "name": r["name"]} for r in t.get("roles", [])]
        if with_catalog:
            body["catalog"] = catalog(request, None)
    elif t.get("system"):
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


def _check_domain(d, where: str) -> str:
    """The domain a name is looked up in (its id or name; Default when none is given)."""
    if d is None:
        return "Default"
    if not isinstance(d, dict):
        raise BadRequest(f"'{where}.domain' must be an object")
    check_fields(d, ("id", "name"), f"{where}.domain")
    return (want_str(d, "id", f"{where}.domain", empty=False) or want_str(d, "name", f"{where}.domain", empty=False)
            or _missing(f"{where}.domain.id"))


SYSTEM = object()  # the scope {"system": {"all": true}}


UNSCOPED = object()  # the scope "unscoped": not even the user's default project


class DomainScope(str):
    """The scope {"domain": {"id" | "name"}}: the domain's id or name."""


def _scope_project(auth: dict):
    """(the project asked for (name or id), SYSTEM, UNSCOPED or None (none asked); its domain)."""
    scope = auth.get("scope")
    if scope is None:
        return None, "Default"
    if scope == "unscoped":
        return UNSCOPED, "Default"
    if not isinstance(scope, dict):
        raise BadRequest("'auth.scope' must be an object")
    check_fields(scope, ("project", "domain", "system", "OS-TRUST:trust", "unscoped"), "auth.scope")
    if "system" in scope:
        if scope["system"] != {"all": True}:
            raise BadRequest("'auth.scope.system' must be {\"all\": true} (the only system)")
        return SYSTEM, "Default"
    if "project" not in scope:
        if "unscoped" in scope:
            return UNSCOPED, "Default"
        if "domain" in scope:
            return DomainScope(_check_domain(scope["domain"], "auth.scope")), "Default"
        raise BadRequest("give 'auth.scope.project', 'auth.scope.domain' or 'auth.scope.system'")
    p = scope["project"]
    if not isinstance(p, dict):
        raise BadRequest("'auth.scope.project' must be an object")
    check_fields(p, ("id", "name", "domain"), "auth.scope.project")
    if p.get("id"):
        return want_str(p, "id", "auth.scope.project", empty=False), "Default"
    domain = _check_domain(p.get("domain"), "auth.scope.project")
    return (want_str(p, "name", "auth.scope.project", empty=False) or _missing("auth.scope.project.name"),
            domain)


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
    project, project_domain = _scope_project(auth)
    if "password" in methods:
        pw = ident.get("password")
        if not isinstance(pw, dict) or not isinstance(pw.get("user"), dict):
            raise BadRequest("'auth.identity.password.user' is required")
        u = pw["user"]
        check_fields(u, ("id", "name", "domain", "password"), "auth.identity.password.user")
        domain = _check_domain(u.get("domain"), "auth.identity.password.user")
        who = want_str(u, "id", "user") or want_str(u, "name", "user") or _missing(
            "auth.identity.password.user.name")
        password = u.get("password")
        if not isinstance(password, str) or not password:
            raise Unauthorized("the request you have made requires authentication: no password")
        if isinstance(project, DomainScope):
            t = await cloud.login_domain(who, password, str(project), domain)
        elif project is SYSTEM:
            t = await cloud.login(who, password, None, domain, system=True)
        elif project in (None, UNSCOPED):
            t = await cloud.login(who, password, None, domain, default_project=project is None)
        else:
            t = await cloud.login(who, password, project, domain, project_domain)
    elif "token" in methods:
        tk = ident.get("token")
        if not isinstance(tk, dict) or not isinstance(tk.get("id"), str) or not tk["id"]:
            raise BadRequest("'auth.identity.token.id' is required")
        if project in (None, UNSCOPED):
            t = await cloud.validate_token(tk["id"])
        elif isinstance(project, DomainScope):
            t = await cloud.scope_domain(tk["id"], str(project))
        elif project is SYSTEM:
            t = await cloud.scope(tk["id"], None, system=True)
        else:
            t = await cloud.scope(tk["id"], project, project_domain=project_domain)
    elif "application_credential" in methods:
        t = await _app_credential_login(cloud, ident, auth)
    else:
        raise Unauthorized(f"unsupported authentication method {methods[0]!r}: use password, token or "
                           "application_credential")
    nocatalog = "nocatalog" in request.query_params
    return JSONResponse(token_body(request, t, not nocatalog), status_code=201,
                        headers={"X-Subject-Token": t["token"]})


async def _app_credential_login(cloud, ident: dict, auth: dict) -> dict:
    ac = ident.get("application_credential")
    if not isinstance(ac, dict):
        raise BadRequest("'auth.identity.application_credential' is required")
    check_fields(ac, ("id", "name", "user", "secret"), "auth.identity.application_credential")
    if auth.get("scope") is not None:
        raise Unauthorized("an application credential's token is scoped to its project: ask no scope")
    user, user_domain = None, "Default"
    if ac.get("user") is not None:
        u = ac["user"]
        if not isinstance(u, dict):
            raise BadRequest("'auth.identity.application_credential.user' must be an object")
        check_fields(u, ("id", "name", "domain"), "auth.identity.application_credential.user")
        user_domain = _check_domain(u.get("domain"), "auth.identity.application_credential.user")
        user = want_str(u, "id", "user") or want_str(u, "name", "user")
    where = "auth.identity.application_credential"
    return await cloud.login_app_credential(ac.get("secret"), want_str(ac, "id", where, empty=False),
                                            want_str(ac, "name", where, empty=False), user, user_domain)


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
    if not t.get("project") and not t.get("system") and not t.get("domain"):
        raise Unauthorized("an unscoped token has no catalog: scope it to a project first")
    return JSONResponse({"catalog": catalog(request, t["project"]["id"] if t.get("project") else None),
                         "links": {"self": this_url(request)}})


async def auth_projects(request: Request) -> Response:
    items = [project_view(request, p)
             for p in await request.app.state.cloud.auth_projects(token_of(request))]
    return _collection(request, "projects", items)


def routes() -> list[Route]:
    v3 = "/identity/v3"
    return [
        Route("/identity", versions, methods=["GET"]),
        Route(v3, version_v3, methods=["GET"]),
        Route(f"{v3}/auth/tokens", issue_token, methods=["POST"]),
        Route(f"{v3}/auth/tokens", check_token, methods=["GET", "HEAD", "DELETE"]),
        Route(f"{v3}/auth/catalog", auth_catalog, methods=["GET"]),
        Route(f"{v3}/auth/projects", auth_projects, methods=["GET"]),
    ]
