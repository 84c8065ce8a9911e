"""Nova's os-flavor-access: GET /flavors/{id}/os-flavor-access and the flavor actions
addTenantAccess / removeTenantAccess (admins), answered with the flavor's access list."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import microversion
from backend.api.common import read_json, token_of
from backend.core.errors import BadRequest

V = "/compute/v2.1"
_ACTIONS = ("addTenantAccess", "removeTenantAccess")


async def flavor_access(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    fid = request.path_params["id"]
    return JSONResponse({"flavor_access": await cloud.list_flavor_access(token, fid)})


async def flavor_action(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    body = await read_json(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("the body must name one action: addTenantAccess or removeTenantAccess")
    (action, args), = body.items()
    if action not in _ACTIONS:
        raise BadRequest(f"There is no such action: {action}")
    # nova's schema: {"tenant": "<project id>"} and nothing else
    if not isinstance(args, dict) or set(args) != {"tenant"}:
        raise BadRequest(f"'{action}' must be an object with exactly the key 'tenant'")
    tenant = args["tenant"]
    if not isinstance(tenant, str) or not 0 < len(tenant) <= 255:
        raise BadRequest(f"'{action}.tenant' must be a project id of 1 to 255 characters")
    fid = request.path_params["id"]
    if action == "addTenantAccess":
        access = await cloud.add_flavor_access(token, fid, tenant,
                                               refuse_public=microversion.at_least(request, "2.7"))
    else:
        access = await cloud.remove_flavor_access(token, fid, tenant)
    return JSONResponse({"flavor_access": access})


def routes() -> list[Route]:
    return [Route(f"{V}/flavors/{{id}}/os-flavor-access", flavor_access, methods=["GET"]),
            Route(f"{V}/flavors/{{id}}/action", flavor_action, methods=["POST"])]
