"""Keystone's system role assignments (/v3/system/users/{user}/roles/{role}), as far as
pocketstack can honestly answer them: it has no system scope, and an admin on any project
is the cloud's admin. So the admin role "on the system" is exactly what a user that is an
admin somewhere already holds: granting it to such a user is accepted (204) and changes
nothing; any other system grant is refused (403), naming what to do instead."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.api.common import no_content, token_of
from backend.core.errors import Forbidden, NotFound

V3 = "/identity/v3"


async def _holds(request: Request) -> tuple[bool, dict]:
    cloud, token = request.app.state.cloud, token_of(request)
    uid, rid = request.path_params["user"], request.path_params["role"]
    if not (await cloud.validate_token(token)).get("is_admin"):
        raise Forbidden("only an admin may see or change system role assignments")
    role = await cloud.get_role(token, rid)
    await cloud.get_user(token, uid)
    held = [a for a in await cloud.list_role_assignments(token, user=uid) if a["role_id"] == role["id"]]
    return role["name"] == "admin" and bool(held), role


async def grant(request: Request) -> Response:
    ok, role = await _holds(request)
    if not ok:
        raise Forbidden(
            f"pocketstack has no system scope: grant the role {role['name']!r} on a project "
            "(the admin role on any project is the cloud's admin)")
    return no_content()


async def check(request: Request) -> Response:
    ok, role = await _holds(request)
    if not ok:
        raise NotFound(f"user {request.path_params['user']} has no role {role['name']!r} on the system")
    return no_content()


def routes() -> list[Route]:
    return [Route(f"{V3}/system/users/{{user}}/roles/{{role}}", grant, methods=["PUT"]),
            Route(f"{V3}/system/users/{{user}}/roles/{{role}}", check, methods=["GET", "HEAD"])]
