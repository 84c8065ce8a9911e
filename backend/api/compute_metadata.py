"""Nova v2.1 server metadata: /servers/{id}/metadata (GET, POST merges, PUT replaces) and
/servers/{id}/metadata/{key} (GET, PUT, DELETE), with nova's bodies and status codes."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import read_json, token_of
from backend.api.compute import _server_id
from backend.core.errors import BadRequest


async def _body(request: Request, key: str) -> dict:
    body = await read_json(request)
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"the body must be an object with '{key}'")
    extra = set(body) - {key}
    if extra:
        raise BadRequest(f"unknown field(s) in the body: {', '.join(sorted(extra))}")
    if not isinstance(body[key], dict):
        raise BadRequest(f"'{key}' must be an object mapping keys to strings")
    return body[key]


async def metadata_list(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    return JSONResponse({"metadata": await cloud.get_server_metadata(token, sid)})


async def metadata_set(request: Request) -> Response:
    """POST merges into what is there, PUT replaces it; both answer the whole set (200)."""
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    meta = await _body(request, "metadata")
    new = await cloud.set_server_metadata(token, sid, meta, replace=request.method == "PUT")
    return JSONResponse({"metadata": new})


async def metadata_item(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    key = request.path_params["key"]
    return JSONResponse({"meta": {key: await cloud.get_server_metadata_item(token, sid, key)}})


async def metadata_item_set(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    key = request.path_params["key"]
    meta = await _body(request, "meta")
    if len(meta) != 1:
        raise BadRequest("Request body contains too many items: 'meta' holds exactly one key")
    (k, v), = meta.items()
    if k != key:
        raise BadRequest(f"Request body and URI mismatch: 'meta' holds {k!r}, the URI {key!r}")
    return JSONResponse({"meta": await cloud.set_server_metadata_item(token, sid, key, v)})


async def metadata_item_delete(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    await cloud.delete_server_metadata_item(token, sid, request.path_params["key"])
    return Response(status_code=204)


def routes() -> list[Route]:
    p = "/compute/v2.1/servers/{id}/metadata"
    return [
        Route(p, metadata_list, methods=["GET"]),
        Route(p, metadata_set, methods=["POST", "PUT"]),
        Route(p + "/{key}", metadata_item, methods=["GET"]),
        Route(p + "/{key}", metadata_item_set, methods=["PUT"]),
        Route(p + "/{key}", metadata_item_delete, methods=["DELETE"]),
    ]
