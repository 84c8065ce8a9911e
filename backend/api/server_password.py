"""nova's /servers/{id}/os-server-password: the password a guest posts (encrypted with the
server's key) through the metadata service. pocketstack has no metadata service, so there is
never one: GET answers "", DELETE (project members) clears nothing and answers 204.
The changePassword action answers as nova does for a guest without an agent to set it: 409
after the checks (404, 400, 403, state); the password is neither stored nor logged."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import check_fields, token_of
from backend.api.server_views import _server_id
from backend.core.errors import BadRequest, Conflict, Forbidden


async def server_password(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    await cloud.get_server(token, sid)  # 404 for a server the token cannot see
    if request.method == "GET":
        return JSONResponse({"password": ""})
    await _need_member(cloud, token, "clearing a server's password")  # nova's os-server-password:clear
    return Response(status_code=204)


async def _need_member(cloud, token: str, what: str) -> None:
    roles = {r.get("name") for r in (await cloud.validate_token(token)).get("roles") or []}
    if not roles & {"member", "admin"}:
        raise Forbidden(f"{what} needs the member role")


async def change_password(request: Request, sid: str, arg) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    s = await cloud.get_server(token, sid)  # a missing server is 404 before a bad body's 400
    if not isinstance(arg, dict):
        raise BadRequest("'changePassword' must be an object like {\"adminPass\": \"...\"}")
    check_fields(arg, ("adminPass",), "changePassword")
    if not isinstance(arg.get("adminPass"), str):
        raise BadRequest("'changePassword.adminPass' is required (a string)")
    await _need_member(cloud, token, "changing a server's password")  # nova's os-admin-password
    if s["status"] != "ACTIVE":
        raise Conflict(f"Cannot 'changePassword' instance {sid} while it is in vm_state {s['vm_state']}")
    raise Conflict(f"Unable to set the password on instance {sid}: the guest has no agent to set it "
                   "(nova: the QEMU guest agent is not enabled)")


def routes(v: str) -> list[Route]:
    return [Route(f"{v}/servers/{{id}}/os-server-password", server_password, methods=["GET", "DELETE"])]
