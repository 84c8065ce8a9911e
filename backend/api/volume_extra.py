"""Cinder v3 beside the volumes themselves: a volume's metadata (/volumes/{id}/metadata and
/metadata/{key}), the availability zones (os-availability-zone) and the volume types
(pocketstack has one, __DEFAULT__, as a fresh cinder does)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import read_json, token_of
from backend.api.compute import is_uuid
from backend.core.errors import BadRequest, NotFound

# cinder's default type's id is made per deployment; ours is fixed so it survives restarts
DEFAULT_TYPE = {"id": "7a2e1c4d-5b6f-4e8a-9c0d-1f2a3b4c5d6e", "name": "__DEFAULT__",
                "description": "Default Volume Type", "is_public": True,
                "os-volume-type-access:is_public": True, "qos_specs_id": None, "extra_specs": {}}


async def _volume_id(request: Request, token: str) -> str:
    from backend.api.volume import _project_in_path
    await _project_in_path(request, token)
    vid = request.path_params["id"]
    if not is_uuid(vid):
        raise NotFound(f"Volume {vid} could not be found.")
    return vid


def _metadata_body(body, key: str = "metadata") -> dict:
    if not isinstance(body, dict) or set(body) != {key} or not isinstance(body[key], dict):
        raise BadRequest(f"request body must be {{\"{key}\": {{...}}}} (an object of strings)")
    return body[key]


async def metadata(request: Request) -> Response:
    """GET the volume's metadata; POST merges into it; PUT replaces it (cinder)."""
    cloud, token = request.app.state.cloud, token_of(request)
    vid = await _volume_id(request, token)
    if request.method == "GET":
        return JSONResponse({"metadata": (await cloud.get_volume(token, vid))["metadata"]})
    given = _metadata_body(await read_json(request))
    got = await cloud.update_volume_metadata(token, vid, given, replace=request.method == "PUT")
    return JSONResponse({"metadata": got})


async def metadata_item(request: Request) -> Response:
    """GET, PUT ({"meta": {key: value}}, the key the path's) and DELETE one key."""
    cloud, token = request.app.state.cloud, token_of(request)
    vid = await _volume_id(request, token)
    key = request.path_params["key"]
    if request.method == "GET":
        have = (await cloud.get_volume(token, vid))["metadata"]
        if key not in have:
            raise NotFound(f"Volume {vid} has no metadata with key {key}.")
        return JSONResponse({"meta": {key: have[key]}})
    if request.method == "DELETE":
        await cloud.update_volume_metadata(token, vid, {key: None})
        return Response(status_code=200)
    meta = _metadata_body(await read_json(request), "meta")
    if set(meta) != {key}:
        raise BadRequest(f"'meta' must have exactly one key, the one in the URL ({key!r})")
    if meta[key] is None:
        raise BadRequest(f"'meta.{key}' must be a string")
    await cloud.update_volume_metadata(token, vid, meta)
    return JSONResponse({"meta": meta})


async def availability_zones(request: Request) -> Response:
    from backend.api.volume import _project_in_path
    token = token_of(request)
    await _project_in_path(request, token)
    await request.app.state.cloud.validate_token(token)
    return JSONResponse({"availabilityZoneInfo": [{"zoneName": "nova",
                                                   "zoneState": {"available": True}}]})


async def _admin(request: Request, token: str) -> bool:
    return bool((await request.app.state.cloud.validate_token(token)).get("is_admin"))


def _type_view(admin: bool) -> dict:
    # qos_specs_id and extra_specs are admin-only in cinder's view
    return {k: v for k, v in DEFAULT_TYPE.items()
            if admin or k not in ("qos_specs_id", "extra_specs")}


async def types(request: Request) -> Response:
    from backend.api.volume import _project_in_path
    token = token_of(request)
    await _project_in_path(request, token)
    return JSONResponse({"volume_types": [_type_view(await _admin(request, token))]})


async def type_one(request: Request) -> Response:
    from backend.api.volume import _project_in_path
    token = token_of(request)
    await _project_in_path(request, token)
    tid = request.path_params["type"]
    if tid not in ("default", DEFAULT_TYPE["id"]):
        raise NotFound(f"Volume type {tid} could not be found.")
    return JSONResponse({"volume_type": _type_view(await _admin(request, token))})


def routes(prefix: str) -> list[Route]:
    return [Route(f"{prefix}/volumes/{{id}}/metadata", metadata, methods=["GET", "POST", "PUT"]),
            Route(f"{prefix}/volumes/{{id}}/metadata/{{key}}", metadata_item,
                  methods=["GET", "PUT", "DELETE"]),
            Route(f"{prefix}/os-availability-zone", availability_zones, methods=["GET"]),
            Route(f"{prefix}/types", types, methods=["GET"]),
            Route(f"{prefix}/types/{{type}}", type_one, methods=["GET"])]
