"""nova's /flavors/{id}/os-extra_specs and /os-extra_specs/{key}."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api.common import read_json, token_of
from backend.core.errors import BadRequest, NotFound


async def flavor_extra_specs(request: Request) -> Response:
    """nova's os-extra_specs: GET all, POST merges (and answers what was given)."""
    cloud, token, fid = request.app.state.cloud, token_of(request), request.path_params["id"]
    f = await cloud.get_flavor(token, fid)
    if str(f["id"]) != fid:
        raise NotFound(f"Flavor {fid} could not be found.")
    if request.method == "POST":
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"extra_specs"}:
            raise BadRequest("the body must be {\"extra_specs\": {...}}")
        return JSONResponse({"extra_specs": await cloud.set_flavor_extra_specs(token, fid, body["extra_specs"])})
    return JSONResponse({"extra_specs": await cloud.get_flavor_extra_specs(token, fid)})


async def flavor_extra_spec(request: Request) -> Response:
    """One extra spec: GET, PUT (the body names the key of the URL, and only it), DELETE (200)."""
    cloud, token, fid = request.app.state.cloud, token_of(request), request.path_params["id"]
    key = request.path_params["key"]
    f = await cloud.get_flavor(token, fid)
    if str(f["id"]) != fid:
        raise NotFound(f"Flavor {fid} could not be found.")
    if request.method == "PUT":
        body = await read_json(request)
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Request body contains too many items" if isinstance(body, dict) and body
                             else "the body must be {\"<key>\": \"<value>\"}")
        if key not in body:
            raise BadRequest("Request body and URI mismatch")
        return JSONResponse(await cloud.set_flavor_extra_specs(token, fid, body))
    if request.method == "DELETE":
        await cloud.delete_flavor_extra_spec(token, fid, key)
        return Response(status_code=200)
    specs = await cloud.get_flavor_extra_specs(token, fid)
    if key not in specs:
        raise NotFound(f"Flavor {fid} has no extra specs with key {key}.")
    return JSONResponse({key: specs[key]})
