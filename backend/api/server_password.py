"""nova's /servers/{id}/os-server-password: the password a guest posts (encrypted with the
server's key) through the metadata service. pocketstack has no metadata service, so there is
never one: GET answers "", DELETE (project members) clears nothing and answers 204."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import token_of
from backend.api.server_views import _server_id
from backend.core.errors import Forbidden


async def server_password(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    await cloud.get_server(token, sid)  # 404 for a server the token cannot see
    if request.method == "GET":
        return JSONResponse({"password": ""})
    roles = {r.get("name") for r in (await cloud.validate_token(token)).get("roles") or []}
    if not roles & {"member", "admin"}:  # nova's os-server-password:clear is a member's
        raise Forbidden("clearing a server's password needs the member role")
    return Response(status_code=204)


def routes(v: str) -> list[Route]:
    return [Route(f"{v}/servers/{{id}}/os-server-password", server_password, methods=["GET", "DELETE"])]
