"""Nova's os-quota-class-sets/{class} (GET, PUT; admins), with each microversion's keys:
before 2.50 the network proxies' keys and no server-group ones, from 2.50 the reverse
(2.57, which drops the file-injection keys, is above this cloud's range). The PUT answer
has no 'id', as nova's."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import microversion
from backend.api.common import read_json, token_of
from backend.core.errors import BadRequest

V = "/compute/v2.1"
_COMMON = ("instances", "cores", "ram", "metadata_items", "key_pairs", "injected_files",
           "injected_file_content_bytes", "injected_file_path_bytes")
_NETWORK = ("floating_ips", "fixed_ips", "security_groups", "security_group_rules")
_GROUPS = ("server_groups", "server_group_members")


def _keys(request: Request) -> tuple[str, ...]:
    return _COMMON + (_GROUPS if microversion.at_least(request, "2.50") else _NETWORK)


async def quota_class_set(request: Request) -> Response:
    cloud, token, name = request.app.state.cloud, token_of(request), request.path_params["id"]
    keys = _keys(request)
    if request.method == "PUT":
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"quota_class_set"}:
            raise BadRequest("request body must be a JSON object with the key 'quota_class_set' (an object)")
        got = await cloud.update_quota_class(token, name, body["quota_class_set"], keys)
        return JSONResponse({"quota_class_set": {k: got[k] for k in keys}})
    got = await cloud.get_quota_class(token, name)
    return JSONResponse({"quota_class_set": {"id": name, **{k: got[k] for k in keys}}})


def routes() -> list[Route]:
    return [Route(f"{V}/os-quota-class-sets/{{id}}", quota_class_set, methods=["GET", "PUT"])]
