"""Keystone v3's project tags: /v3/projects/{id}/tags[/{tag}]."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import no_content, read_json, this_url, token_of
from backend.core.errors import BadRequest, NotFound

V3 = "/identity/v3"


async def tags(request: Request) -> Response:
    cloud, token, pid = request.app.state.cloud, token_of(request), request.path_params["id"]
    if request.method == "PUT":
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"tags"}:
            raise BadRequest("request body must be {\"tags\": [...]}")
        got = await cloud.set_project_tags(token, pid, body["tags"])
    elif request.method == "DELETE":
        await cloud.set_project_tags(token, pid, [])
        return no_content()
    else:
        got = await cloud.list_project_tags(token, pid)
    return JSONResponse({"tags": got, "links": {"self": this_url(request), "previous": None, "next": None}})


async def tag(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    pid, name = request.path_params["id"], request.path_params["tag"]
    if request.method == "PUT":
        await cloud.add_project_tag(token, pid, name)
        return Response(status_code=201)
    if request.method == "DELETE":
        await cloud.remove_project_tag(token, pid, name)
        return no_content()
    if name not in await cloud.list_project_tags(token, pid):
        raise NotFound(f"project {pid} has no tag {name!r}")
    return no_content()


def routes() -> list[Route]:
    return [Route(f"{V3}/projects/{{id}}/tags", tags, methods=["GET", "PUT", "DELETE"]),
            Route(f"{V3}/projects/{{id}}/tags/{{tag}}", tag, methods=["GET", "HEAD", "PUT", "DELETE"])]
