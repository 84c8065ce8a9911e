"""Cinder v3 beside the volumes themselves: a volume's metadata (/volumes/{id}/metadata and
/metadata/{key}), the availability zones (os-availability-zone) and the volume types
(__DEFAULT__ built in, more made by admins, with extra specs)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import parse_object, read_json, token_of, want_bool, want_str
from backend.api.compute import is_uuid
from backend.core.errors import BadRequest, NotFound


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


def _type_view(t: dict, admin: bool, created: bool = False) -> dict:
    out = {"id": t["id"], "name": t["name"], "description": t["description"],
           "is_public": t["is_public"], "os-volume-type-access:is_public": t["is_public"]}
    if admin:  # qos_specs_id and extra_specs are admin-only in cinder's view
        out["extra_specs"] = dict(t["extra_specs"])
        if not created:
            out["qos_specs_id"] = None
    return out


async def _start(request: Request) -> tuple:
    from backend.api.volume import _project_in_path
    token = token_of(request)
    await _project_in_path(request, token)
    return request.app.state.cloud, token, await _admin(request, token)


_TYPE_FIELDS = ("name", "description", "is_public", "os-volume-type-access:is_public", "extra_specs")


def _public(t: dict, where: str):
    for k in ("is_public", "os-volume-type-access:is_public"):
        if k in t:
            return want_bool(t[k], f"{where}.{k}")
    return None


async def types(request: Request) -> Response:
    cloud, token, admin = await _start(request)
    if request.method == "POST":
        t = parse_object(await read_json(request), "volume_type", _TYPE_FIELDS, required=("name",))
        public = _public(t, "volume_type")
        made = await cloud.create_volume_type(token, want_str(t, "name", "volume_type", empty=False),
                                              want_str(t, "description", "volume_type"),
                                              True if public is None else public, t.get("extra_specs"))
        return JSONResponse({"volume_type": _type_view(made, admin, created=True)})
    return JSONResponse({"volume_types": [_type_view(t, admin) for t in await cloud.list_volume_types(token)]})


async def type_one(request: Request) -> Response:
    cloud, token, admin = await _start(request)
    tid = request.path_params["type"]
    if request.method == "DELETE":
        await cloud.delete_volume_type(token, tid)
        return Response(status_code=202)
    if request.method == "PUT":
        t = parse_object(await read_json(request), "volume_type", _TYPE_FIELDS[:4])
        changes = {k: t[k] for k in ("name", "description") if k in t}
        public = _public(t, "volume_type")
        if public is not None:
            changes["is_public"] = public
        view = _type_view(await cloud.update_volume_type(token, tid, changes), admin, created=True)
        view.pop("os-volume-type-access:is_public")  # cinder's update answer has only is_public
        return JSONResponse({"volume_type": view})
    return JSONResponse({"volume_type": _type_view(await cloud.get_volume_type(token, tid), admin)})


async def type_specs(request: Request) -> Response:
    cloud, token, _ = await _start(request)
    tid = request.path_params["type"]
    if request.method == "POST":
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"extra_specs"}:
            raise BadRequest("request body must be {\"extra_specs\": {...}}")
        await cloud.set_volume_type_specs(token, tid, body["extra_specs"])
        return JSONResponse({"extra_specs": body["extra_specs"]})  # cinder answers what was given
    return JSONResponse({"extra_specs": (await cloud.get_volume_type(token, tid))["extra_specs"]})


async def type_spec(request: Request) -> Response:
    cloud, token, _ = await _start(request)
    tid, key = request.path_params["type"], request.path_params["key"]
    if request.method == "DELETE":
        await cloud.set_volume_type_specs(token, tid, {}, remove=key)
        return Response(status_code=202)
    if request.method == "PUT":
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {key}:
            raise BadRequest(f"request body must be {{{key!r}: value}}, the key the one in the URL")
        await cloud.set_volume_type_specs(token, tid, body)
        return JSONResponse(body)
    have = (await cloud.get_volume_type(token, tid))["extra_specs"]
    if key not in have:
        raise NotFound(f"Volume type {tid} has no extra specs with key {key}.")
    return JSONResponse({key: have[key]})


def routes(prefix: str) -> list[Route]:
    return [Route(f"{prefix}/volumes/{{id}}/metadata", metadata, methods=["GET", "POST", "PUT"]),
            Route(f"{prefix}/volumes/{{id}}/metadata/{{key}}", metadata_item,
                  methods=["GET", "PUT", "DELETE"]),
            Route(f"{prefix}/os-availability-zone", availability_zones, methods=["GET"]),
            Route(f"{prefix}/types", types, methods=["GET", "POST"]),
            Route(f"{prefix}/types/{{type}}", type_one, methods=["GET", "PUT", "DELETE"]),
            Route(f"{prefix}/types/{{type}}/extra_specs", type_specs, methods=["GET", "POST"]),
            Route(f"{prefix}/types/{{type}}/extra_specs/{{key}}", type_spec, methods=["GET", "PUT", "DELETE"])]
