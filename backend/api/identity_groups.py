"""Keystone v3's groups: /v3/groups, /v3/groups/{g}/users[/{u}], /v3/users/{u}/groups."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import no_content, parse_object, read_json, read_object, token_of, url_for, want_str
from backend.api.identity_admin import _collection, user_view
from backend.core.errors import NotFound

V3 = "/identity/v3"
GROUP_FIELDS = ("name", "description", "domain_id")


def group_view(request: Request, g: dict) -> dict:
    return {**g, "links": {"self": url_for(request, "identity", "v3", "groups", g["id"])}}


async def groups(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "POST":
        body = await read_json(request)
        # keystone keeps a group's other attributes (project_id, ...) as given
        inner = body.get("group") if isinstance(body, dict) else None
        extra = {k: v for k, v in inner.items() if k not in GROUP_FIELDS} if isinstance(inner, dict) else {}
        b = parse_object(body, "group", (*GROUP_FIELDS, *extra), required=("name",))
        g = await cloud.create_group(token, want_str(b, "name", "group", empty=False, max_len=64),
                                     want_str(b, "description", "group", max_len=1024) or "",
                                     want_str(b, "domain_id", "group", empty=False) or "default", extra)
        return JSONResponse({"group": group_view(request, g)}, status_code=201)
    return _collection(request, "groups", [group_view(request, g) for g in await cloud.list_groups(token)])


async def group_one(request: Request) -> Response:
    cloud, token, gid = request.app.state.cloud, token_of(request), request.path_params["id"]
    if request.method == "DELETE":
        await cloud.delete_group(token, gid)
        return no_content()
    if request.method == "PATCH":
        b = await read_object(request, "group", ("name", "description"))
        g = await cloud.update_group(token, gid, want_str(b, "name", "group", empty=False, max_len=64),
                                     want_str(b, "description", "group", max_len=1024))
    else:
        g = await cloud.get_group(token, gid)
    return JSONResponse({"group": group_view(request, g)})


async def group_users(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    items = [user_view(request, u) for u in await cloud.list_group_users(token, request.path_params["id"])]
    return _collection(request, "users", items)


async def group_user(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    gid, uid = request.path_params["id"], request.path_params["user"]
    if request.method == "PUT":
        await cloud.add_group_user(token, gid, uid)
    elif request.method == "DELETE":
        await cloud.remove_group_user(token, gid, uid)
    elif not await cloud.check_group_user(token, gid, uid):
        raise NotFound(f"user {uid} is not in group {gid}")
    return no_content()


async def user_groups(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    items = [group_view(request, g) for g in await cloud.list_user_groups(token, request.path_params["user"])]
    return _collection(request, "groups", items)


def routes() -> list[Route]:
    return [Route(f"{V3}/groups", groups, methods=["GET", "POST"]),
            Route(f"{V3}/groups/{{id}}", group_one, methods=["GET", "PATCH", "DELETE"]),
            Route(f"{V3}/groups/{{id}}/users", group_users, methods=["GET"]),
            Route(f"{V3}/groups/{{id}}/users/{{user}}", group_user, methods=["PUT", "GET", "HEAD", "DELETE"]),
            Route(f"{V3}/users/{{user}}/groups", user_groups, methods=["GET"])]
