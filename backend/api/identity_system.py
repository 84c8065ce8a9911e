"""Keystone's system role assignments: /v3/system/users/{user}/roles[/{role}]. A role on the
system is held on the whole cloud; a token scoped {"system": {"all": true}} carries it
(backend/identity/system.py)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import no_content, this_url, token_of
from backend.api.identity_admin import role_view
from backend.core.errors import NotFound

V3 = "/identity/v3"


async def user_role(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    uid, rid = request.path_params["user"], request.path_params["role"]
    if request.method == "PUT":
        await cloud.grant_system_role(token, uid, rid)
        return no_content()
    if request.method == "DELETE":
        await cloud.revoke_system_role(token, uid, rid)
        return no_content()
    role = await cloud.get_role(token, rid)
    if role["id"] not in {r["id"] for r in await cloud.list_system_roles(token, uid)}:
        raise NotFound(f"user {uid} has no role {role['name']!r} on the system")
    return no_content()


async def user_roles(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    items = [role_view(request, r) for r in await cloud.list_system_roles(token, request.path_params["user"])]
    return JSONResponse({"roles": items, "links": {"self": this_url(request), "previous": None, "next": None}})


def routes() -> list[Route]:
    return [Route(f"{V3}/system/users/{{user}}/roles", user_roles, methods=["GET"]),
            Route(f"{V3}/system/users/{{user}}/roles/{{role}}", user_role,
                  methods=["PUT", "GET", "HEAD", "DELETE"])]
