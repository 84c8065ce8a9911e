"""Nova's /servers/{id}/tags (microversion 2.26; 404 below it, as nova's routes): GET the
list, PUT the whole list, DELETE all; per tag GET (204 or 404), PUT (201 new, 204 had it),
DELETE (204 or 404)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import microversion
from backend.api.common import base, read_json, token_of
from backend.api.server_views import _server_id
from backend.core.errors import BadRequest, NotFound


def _since_226(request: Request) -> tuple:
    if not microversion.at_least(request, "2.26"):
        raise NotFound(f"no such resource: {request.method} {request.url.path} "
                       "(server tags need compute microversion 2.26 or later)")
    return request.app.state.cloud, token_of(request), _server_id(request)


async def tags(request: Request) -> Response:
    cloud, token, sid = _since_226(request)
    if request.method == "GET":
        return JSONResponse({"tags": await cloud.list_server_tags(token, sid)})
    if request.method == "DELETE":
        await cloud.delete_server_tags(token, sid)
        return Response(status_code=204)
    await cloud.get_server(token, sid)  # a missing server is 404 before a bad body's 400
    body = await read_json(request)
    if not isinstance(body, dict) or set(body) != {"tags"}:
        raise BadRequest("the request body must be {\"tags\": [...]}")
    return JSONResponse({"tags": await cloud.set_server_tags(token, sid, body["tags"])})


async def tag(request: Request) -> Response:
    cloud, token, sid = _since_226(request)
    name = request.path_params["tag"]
    if request.method == "GET":
        await cloud.check_server_tag(token, sid, name)
        return Response(status_code=204)
    if request.method == "DELETE":
        await cloud.delete_server_tag(token, sid, name)
        return Response(status_code=204)
    if await cloud.add_server_tag(token, sid, name):
        return Response(status_code=201, headers={"Location": base(request) + request.url.path})
    return Response(status_code=204)


def routes(v: str) -> list[Route]:
    return [Route(f"{v}/servers/{{id}}/tags", tags, methods=["GET", "PUT", "DELETE"]),
            Route(f"{v}/servers/{{id}}/tags/{{tag}}", tag, methods=["GET", "PUT", "DELETE"])]
