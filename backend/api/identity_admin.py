"""Keystone v3's users, projects, roles, role assignments and domains (admins change them;
users see themselves and their projects; a system reader sees all)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import (no_content, parse_object, read_json, read_object, this_url, token_of,
                                url_for, want_bool, want_str)
from backend.core.errors import BadRequest, Forbidden, NotFound

DEFAULT_DOMAIN = {"id": "default", "name": "Default"}


# ---- views ----------------------------------------------------------------------------
def _links(request: Request, kind: str, id_: str) -> dict:
    return {"self": url_for(request, "identity", "v3", kind, id_)}


def user_view(request: Request, u: dict) -> dict:
    out = {**_user_extra(u), "id": u["id"], "name": u["name"], "domain_id": u.get("domain_id") or "default",
           "enabled": u.get("enabled", True), "password_expires_at": None, "options": {},
           "links": _links(request, "users", u["id"])}
    if u.get("default_project_id"):
        out["default_project_id"] = u["default_project_id"]
    return out


def project_view(request: Request, p: dict) -> dict:
    dom = p.get("domain_id") or "default"
    return {"id": p["id"], "name": p["name"], "domain_id": dom, "parent_id": p.get("parent_id") or dom,
            "description": p.get("description") or "", "enabled": p.get("enabled", True),
            "is_domain": False, "tags": p.get("tags") or [], "options": {},
            "links": _links(request, "projects", p["id"])}


def role_view(request: Request, r: dict) -> dict:
    return {"id": r["id"], "name": r["name"], "domain_id": r.get("domain_id"), "description": r.get("description"),
            "options": {}, "links": _links(request, "roles", r["id"])}


def _collection(request: Request, key: str, items: list[dict]) -> JSONResponse:
    # keystone filters collections by query attributes (?name=, ?domain_id=, ?enabled=)
    for k, v in request.query_params.items():
        if k in ("name", "domain_id", "id", "parent_id"):
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
async def _reads_all(request: Request) -> bool:
    t = await request.app.state.cloud.validate_token(token_of(request))
    return bool(t.get("is_admin") or (t.get("system") and t.get("roles")))


async def _reader_only(request: Request, what: str) -> None:
    # keystone's default policy: listing all users or projects is for admins and readers on
    # the system; a user lists their own projects at /v3/auth/projects or /v3/users/{id}/projects
    if not await _reads_all(request):
        raise Forbidden(f"listing {what} needs an admin or a system reader")


USER_FIELDS = ("name", "password", "default_project_id", "domain_id", "enabled", "options")


def _user_extra(u: dict) -> dict:
    # keystone keeps a user's other attributes (email, description, project_id...) as given
    return {k: v for k, v in u.items() if k not in USER_FIELDS and k not in ("id", "links")}


async def _read_user(request: Request, required=()) -> dict:
    u = await read_json(request)
    if isinstance(u, dict) and isinstance(u.get("user"), dict):
        allowed = (*USER_FIELDS, *_user_extra(u["user"]), *(("id",) if request.method == "PATCH" else ()))
    else:
        allowed = USER_FIELDS
    return parse_object(u, "user", allowed, required)


async def users(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "POST":
        u = await _read_user(request, required=("name",))
        name = want_str(u, "name", "user", empty=False)
        pw = want_str(u, "password", "user", empty=False, max_len=4096)
        if pw is None:
            raise BadRequest("'user.password' is required: pocketstack users log in by password")
        enabled = want_bool(u.get("enabled", True), "user.enabled")
        created = await cloud.create_user(token, name, pw, u.get("default_project_id"), enabled,
                                          _user_extra(u), want_str(u, "domain_id", "user", empty=False) or "default")
        return JSONResponse({"user": user_view(request, created)}, status_code=201)
    await _reader_only(request, "users")
    items = [user_view(request, u) for u in await cloud.list_users(token)]
    return _collection(request, "users", items)


async def user_one(request: Request) -> Response:
    cloud, token, uid = request.app.state.cloud, token_of(request), request.path_params["id"]
    u = _exact(await cloud.get_user(token, uid), uid, "user")
    if request.method == "DELETE":
        await cloud.delete_user(token, uid)
        return no_content()
    if request.method == "PATCH":
        b = await _read_user(request)
        if b.pop("id", uid) != uid:  # keystone takes the user's own id in the body, no other
            raise BadRequest("'user.id' cannot be changed")
        if "domain_id" in b and b["domain_id"] != u["domain_id"]:
            raise BadRequest("'user.domain_id' cannot be changed")
        enabled = want_bool(b["enabled"], "user.enabled") if "enabled" in b else None
        u = await cloud.update_user(token, uid, name=want_str(b, "name", "user", empty=False),
                                    password=want_str(b, "password", "user", empty=False, max_len=4096),
                                    enabled=enabled, default_project=b.get("default_project_id"),
                                    extra=_user_extra(b))
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
        domain = want_str(p, "domain_id", "project", empty=False)
        parent = want_str(p, "parent_id", "project", empty=False)
        if want_bool(p.get("is_domain", False), "project.is_domain"):
            raise BadRequest("'project.is_domain': a project acting as a domain is not supported (POST /v3/domains)")
        name = want_str(p, "name", "project", empty=False, max_len=64)
        desc = want_str(p, "description", "project", max_len=1024) or ""
        enabled = want_bool(p.get("enabled", True), "project.enabled")
        created = await cloud.create_project(token, name, desc, domain, enabled, p.get("tags") or [], parent)
        return JSONResponse({"project": project_view(request, created)}, status_code=201)
    await _reader_only(request, "projects")
    items = [project_view(request, p) for p in await cloud.list_projects(token)]
    return _collection(request, "projects", items)


async def project_one(request: Request) -> Response:
    cloud, token, pid = request.app.state.cloud, token_of(request), request.path_params["id"]
    try:
        p = _exact(await cloud.get_project(token, pid), pid, "project")
    except NotFound:
        # keystone checks the policy first: a user who may not change projects hears 403
        if request.method != "GET" and not await _reads_all(request):
            raise Forbidden("only an admin may change or delete a project") from None
        raise
    if request.method == "DELETE":
        await cloud.delete_project(token, pid)
        return no_content()
    if request.method == "PATCH":
        b = await read_object(request, "project", ("name", "description", "enabled", "tags", "options"))
        enabled = want_bool(b["enabled"], "project.enabled") if "enabled" in b else None
        p = await cloud.update_project(token, pid, name=want_str(b, "name", "project", empty=False, max_len=64),
                                       description=want_str(b, "description", "project", max_len=1024),
                                       enabled=enabled, tags=b.get("tags"))
    view = project_view(request, p)
    q = request.query_params
    if "subtree_as_list" in q or "parents_as_list" in q:
        visible = {x["id"]: x for x in await cloud.list_projects(token)}
        if "parents_as_list" in q:
            view["parents"], up = [], visible.get(p.get("parent_id"))
            while up and len(view["parents"]) < len(visible):
                view["parents"].append({"project": project_view(request, up)})
                up = visible.get(up.get("parent_id"))
        if "subtree_as_list" in q:
            below, todo = [], [p["id"]]
            while todo:
                here = todo.pop(0)
                kids = [x for x in visible.values() if x.get("parent_id") == here]
                below += kids
                todo += [k["id"] for k in kids]
            view["subtree"] = [{"project": project_view(request, x)} for x in below]
    return JSONResponse({"project": view})


async def roles(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "POST":
        b = await read_object(request, "role", ("name", "description", "domain_id", "options"),
                              required=("name",))
        r = await cloud.create_role(token, want_str(b, "name", "role", empty=False),
                                    want_str(b, "description", "role"), want_str(b, "domain_id", "role", empty=False))
        return JSONResponse({"role": role_view(request, r)}, status_code=201)
    items = [role_view(request, r) for r in await cloud.list_roles(token, request.query_params.get("domain_id"))]
    return _collection(request, "roles", items)


async def role_one(request: Request) -> Response:
    cloud, token, rid = request.app.state.cloud, token_of(request), request.path_params["id"]
    if request.method == "DELETE":
        await cloud.delete_role(token, rid)
        return no_content()
    if request.method == "PATCH":
        b = await read_object(request, "role", ("name", "description", "options"))
        r = await cloud.update_role(token, rid, want_str(b, "name", "role", empty=False),
                                    want_str(b, "description", "role"))
    else:
        r = _exact(await cloud.get_role(token, rid), rid, "role")
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


def domain_view(request: Request, d: dict) -> dict:
    return {**d, "tags": [], "options": {}, "links": _links(request, "domains", d["id"])}


async def domains(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "POST":
        b = await read_object(request, "domain", ("name", "description", "enabled", "tags", "options"),
                              required=("name",))
        if b.get("tags") or b.get("options"):
            raise BadRequest("'domain.tags' and 'domain.options' are not supported")
        enabled = want_bool(b.get("enabled", True), "domain.enabled")
        d = await cloud.create_domain(token, want_str(b, "name", "domain", empty=False, max_len=64),
                                      want_str(b, "description", "domain", max_len=1024) or "", enabled)
        return JSONResponse({"domain": domain_view(request, d)}, status_code=201)
    items = [domain_view(request, d) for d in await cloud.list_domains(token)]
    return _collection(request, "domains", items)


async def domain_one(request: Request) -> Response:
    cloud, token, did = request.app.state.cloud, token_of(request), request.path_params["id"]
    if request.method == "DELETE":
        await cloud.delete_domain(token, did)
        return no_content()
    if request.method == "PATCH":
        b = await read_object(request, "domain", ("name", "description", "enabled"))
        enabled = want_bool(b["enabled"], "domain.enabled") if "enabled" in b else None
        d = await cloud.update_domain(token, did, name=want_str(b, "name", "domain", empty=False, max_len=64),
                                      description=want_str(b, "description", "domain", max_len=1024),
                                      enabled=enabled)
    else:
        d = await cloud.get_domain(token, did)
    return JSONResponse({"domain": domain_view(request, d)})


def routes() -> list[Route]:
    v3 = "/identity/v3"
    return [
        Route(f"{v3}/users", users, methods=["GET", "POST"]),
        Route(f"{v3}/users/{{id}}", user_one, methods=["GET", "PATCH", "DELETE"]),
        Route(f"{v3}/users/{{id}}/projects", user_projects, methods=["GET"]),
        Route(f"{v3}/users/{{id}}/password", user_password, methods=["POST"]),
        Route(f"{v3}/projects", projects, methods=["GET", "POST"]),
        Route(f"{v3}/projects/{{id}}", project_one, methods=["GET", "PATCH", "DELETE"]),
        Route(f"{v3}/projects/{{project}}/users/{{user}}/roles", project_user_roles, methods=["GET"]),
        Route(f"{v3}/projects/{{project}}/users/{{user}}/roles/{{role}}", project_user_role,
              methods=["PUT", "GET", "HEAD", "DELETE"]),
        Route(f"{v3}/roles", roles, methods=["GET", "POST"]),
        Route(f"{v3}/roles/{{id}}", role_one, methods=["GET", "PATCH", "DELETE"]),
        Route(f"{v3}/domains", domains, methods=["GET", "POST"]),
        Route(f"{v3}/domains/{{id}}", domain_one, methods=["GET", "PATCH", "DELETE"]),
    ]
