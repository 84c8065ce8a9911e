"""Glance v2 under /image: version document, images list/show/create/update (JSON patch)/delete,
and streaming upload (PUT /file) and download (GET /file)."""
from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from backend.api import image_members
from backend.api.common import (iso, limit_marker, page, read_json, token_of, url_for, want_int,
                                want_str)
from backend.api.compute import is_uuid
from backend.core.errors import BadRequest, Forbidden, NotFound

CORE = ("name", "disk_format", "container_format", "visibility", "min_ram", "min_disk",
        "protected", "tags", "os_hidden", "owner")
READ_ONLY = ("status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
             "created_at", "updated_at", "self", "file", "schema", "direct_url", "locations",
             "stores")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
# glance takes both JSON-patch dialects (v2.0's draft 4 and v2.1's RFC 6902) the same way here
PATCH_TYPES = ("application/openstack-images-v2.1-json-patch",
               "application/openstack-images-v2.0-json-patch")


def _version(request: Request, vid: str, status: str) -> dict:
    return {"id": vid, "status": status,
            "links": [{"rel": "self", "href": url_for(request, "image", "v2") + "/"}]}


async def versions(request: Request) -> Response:
    vals = [_version(request, "v2.9", "CURRENT")] + [
        _version(request, f"v2.{i}", "SUPPORTED") for i in range(8, -1, -1)]
    # glance answers its root with 300 Multiple Choices, as a version list should
    return JSONResponse({"versions": vals}, status_code=300 if request.url.path == "/image" else 200)


def image_view(i: dict) -> dict:
    iid = i["id"]
    out = {"id": iid, "name": i.get("name"), "status": i["status"],
           "disk_format": i.get("disk_format"), "container_format": i.get("container_format"),
           "visibility": i.get("visibility", "private"), "size": i.get("size"),
           "virtual_size": None, "checksum": i.get("checksum"),
           "os_hash_algo": i.get("os_hash_algo") or ("sha256" if i.get("os_hash_value") else None),
           "os_hash_value": i.get("os_hash_value") or i.get("sha256"),
           "min_ram": i.get("min_ram", 0), "min_disk": i.get("min_disk", 0), "protected": False,
           "os_hidden": False, "owner": i.get("owner"), "tags": list(i.get("tags") or []),
           "created_at": iso(i.get("created_at")), "updated_at": iso(i.get("updated_at")),
           "self": f"/v2/images/{iid}", "file": f"/v2/images/{iid}/file",
           "schema": "/v2/schemas/image"}
    for k, v in (i.get("properties") or {}).items():
        out.setdefault(k, v)
    return out


def _props_and_core(obj: dict) -> tuple[dict, dict]:
    """Split a create body into core fields and extra properties (glance allows any string
    property; read-only attributes are refused with 403 as glance does)."""
    core, props = {}, {}
    for k, v in obj.items():
        if k in READ_ONLY:
            raise Forbidden(f"Attribute '{k}' is read-only.")
        if k in CORE:
            core[k] = v
        elif k == "id":
            continue
        else:
            if not isinstance(k, str) or not k or len(k) > 255:
                raise BadRequest(f"invalid property name {k!r}")
            if not isinstance(v, str) or len(v) > 65535:
                raise BadRequest(f"property '{k}' must be a string")
            props[k] = v
    return core, props


def _check_core(core: dict) -> dict:
    out = {}
    if "name" in core:
        out["name"] = want_str(core, "name", "image")
    for k, allowed in (("disk_format", DISK_FORMATS), ("container_format", CONTAINER_FORMATS),
                       ("visibility", VISIBILITIES)):
        if core.get(k) is not None:
            if core[k] not in allowed:
                raise BadRequest(f"invalid value {core[k]!r} for '{k}': one of {', '.join(allowed)}")
            out[k] = core[k]
    for k in ("min_ram", "min_disk"):
        if core.get(k) is not None:
            out[k] = want_int(core[k], k, minimum=0, maximum=2 ** 31 - 1)
    if core.get("protected") not in (None, False):
        raise BadRequest("'protected' images are not supported by pocketstack")
    if core.get("os_hidden") not in (None, False):
        raise BadRequest("'os_hidden' images are not supported by pocketstack")
    if core.get("tags") is not None:
        out["tags"] = core["tags"]  # the image service checks them
    if "owner" in core:  # another project than the caller's: admins only (the service checks)
        if core["owner"] is None:
            raise BadRequest("'owner' must be a project id, not null")
        out["owner"] = want_str(core, "owner", "image", empty=False)
    return out


_FILTERS = ("name", "status", "visibility", "disk_format", "container_format", "owner", "id")


def _values(v: str) -> list[str]:
    if v.startswith("in:"):
        return [x.strip().strip('"') for x in v[3:].split(",") if x.strip()]
    return [v]


async def images(request: Request) -> Response:
    cloud, token, q = request.app.state.cloud, token_of(request), request.query_params
    if request.method in ("GET", "DELETE") and request.scope.get("trailing_slash"):
        raise NotFound("No image found with ID ''")  # /v2/images/ names an image with an empty id
    if request.method == "DELETE":
        raise HTTPException(405)
    if request.method == "POST":
        return await image_create(request)
    limit, marker = limit_marker(request)
    wanted = {k: _values(q[k]) for k in _FILTERS if q.get(k)}
    # the service gets the plain filters; `in:a,b` lists (glance's operator) are applied here
    filters = {k: v[0] for k, v in wanted.items() if len(v) == 1 and not q[k].startswith("in:")}
    if q.get("member_status"):
        filters["member_status"] = q["member_status"]
    items = [image_view(i) for i in await cloud.list_images(token, filters)]
    for k, vals in wanted.items():
        items = [i for i in items if str(i.get(k)) in vals]
    items, more = page(items, limit, marker)
    body = {"images": items, "schema": "/v2/schemas/images", "first": "/v2/images"}
    if more and items:
        body["next"] = f"/v2/images?limit={limit}&marker={items[-1]['id']}"
    return JSONResponse(body)


async def image_create(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    obj = await read_json(request)
    if not isinstance(obj, dict):
        raise BadRequest("request body must be a JSON object of image attributes")
    iid = obj.get("id")
    if iid is not None and not (isinstance(iid, str) and is_uuid(iid)):
        raise BadRequest(f"image 'id' must be a UUID, not {iid!r}")
    core, props = _props_and_core(obj)
    c = _check_core(core)
    created = await cloud.create_image(
        token, c.get("name") or "", c.get("disk_format") or "raw",
        # glance's default visibility: shared (only the owner sees it until it has members)
        c.get("container_format") or "bare", c.get("visibility") or "shared",
        c.get("min_ram", 0), c.get("min_disk", 0), props, iid, c.get("tags"), c.get("owner"))
    return JSONResponse(image_view(created), status_code=201,
                        headers={"Location": url_for(request, "image", "v2", "images", created["id"])})


def _image_id(request: Request) -> str:
    iid = request.path_params["id"]
    if not is_uuid(iid):
        raise NotFound(f"No image found with ID {iid}")
    return iid


async def image_one(request: Request) -> Response:
    cloud, token, iid = request.app.state.cloud, token_of(request), _image_id(request)
    if request.method == "DELETE":
        await cloud.delete_image(token, iid)
        return Response(status_code=204)
    if request.method == "PATCH":
        return await image_patch(request, iid)
    return JSONResponse(image_view(await cloud.get_image(token, iid)))


async def image_patch(request: Request, iid: str) -> Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype not in PATCH_TYPES:
        return JSONResponse({"code": 415, "title": "Unsupported Media Type",
                             "message": f"PATCH needs Content-Type {' or '.join(PATCH_TYPES)}"},
                            status_code=415)
    ops = await read_json(request)
    if not isinstance(ops, list):
        raise BadRequest("a JSON patch is a list of operations")
    if ctype == PATCH_TYPES[1]:
        ops = [_from_v20(n, op) for n, op in enumerate(ops)]
    changes: dict = {}
    props: dict = {}
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise BadRequest(f"patch operation {n}: 'op' must be add, replace or remove")
        path = op.get("path")
        if not isinstance(path, str) or not path.startswith("/") or path.count("/") != 1:
            raise BadRequest(f"patch operation {n}: 'path' must look like '/name'")
        key = path[1:]
        if key in READ_ONLY or key == "id":
            raise Forbidden(f"Attribute '{key}' is read-only.")
        if op["op"] == "remove":
            if key in CORE:
                raise Forbidden(f"Attribute '{key}' can not be removed.")
            props[key] = None
            continue
        if "value" not in op:
            raise BadRequest(f"patch operation {n}: 'value' is required")
        if key in CORE:
            changes.update(_check_core({key: op["value"]}))
        else:
            _, p = _props_and_core({key: op["value"]})
            props.update(p)
    # the image service takes one flat dict: core fields, properties, None removes a property
    changes.update(props)
    updated = await request.app.state.cloud.update_image(token_of(request), iid, changes)
    return JSONResponse(image_view(updated))


def _from_v20(n: int, op) -> dict:
    """glance's v2.0 dialect names the operation as the key: {"replace": "/name", "value": x}
    is v2.1's {"op": "replace", "path": "/name", "value": x}."""
    if not isinstance(op, dict):
        raise BadRequest(f"patch operation {n} must be an object")
    verbs = [k for k in ("add", "replace", "remove") if k in op]
    if len(verbs) != 1 or set(op) - {verbs[0], "value"}:
        raise BadRequest(f"patch operation {n}: give exactly one of add, replace or remove "
                         "(and 'value')")
    out = {"op": verbs[0], "path": op[verbs[0]]}
    if "value" in op:
        out["value"] = op["value"]
    return out


async def image_upload(request: Request) -> Response:
    cloud, token, iid = request.app.state.cloud, token_of(request), _image_id(request)
    ctype = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    if ctype != "application/octet-stream":
        return JSONResponse({"code": 415, "title": "Unsupported Media Type",
                             "message": "image data must be sent as application/octet-stream"},
                            status_code=415)
    # stream straight into the image service: images can be far larger than memory
    await cloud.upload_image(token, iid, request.stream())
    return Response(status_code=204)


async def image_download(request: Request) -> Response:
    cloud, token, iid = request.app.state.cloud, token_of(request), _image_id(request)
    if (await cloud.get_image(token, iid))["status"] == "queued":
        return Response(status_code=204)  # glance: no data yet is an empty answer, not an error
    view, path = await cloud.download_image(token, iid)
    headers = {}
    if view.get("checksum"):
        headers["Content-MD5"] = view["checksum"]
    return FileResponse(path, media_type="application/octet-stream", headers=headers)


def _schema(name: str) -> dict:
    props = {k: {"type": ["null", "string"]} for k in ("name", "disk_format", "container_format",
                                                      "visibility", "owner", "checksum",
                                                      "os_hash_algo", "os_hash_value")}
    props.update({k: {"type": ["null", "integer"]} for k in ("size", "min_ram", "min_disk",
                                                            "virtual_size")})
    props.update({"id": {"type": "string"}, "status": {"type": "string"},
                  "tags": {"type": "array"}, "protected": {"type": "boolean"},
                  "os_hidden": {"type": "boolean"}})
    return {"name": name, "properties": props, "additionalProperties": {"type": "string"}}


async def schema_image(request: Request) -> Response:
    return JSONResponse(_schema("image"))


async def schema_images(request: Request) -> Response:
    return JSONResponse({"name": "images", "properties": {
        "images": {"type": "array", "items": _schema("image")}, "schema": {"type": "string"},
        "first": {"type": "string"}, "next": {"type": "string"}}})


async def usage(request: Request) -> Response:
    """glance's GET /v2/info/usage: the token's project's image limits and what it uses (MiB)."""
    cloud, token = request.app.state.cloud, token_of(request)
    pid = ((await cloud.validate_token(token)).get("project") or {}).get("id")
    if not pid:
        raise Forbidden("the token is not scoped to a project")
    q = await cloud.get_quotas(token, pid, "image")
    return JSONResponse({"usage": {k: {"limit": v["limit"], "usage": v["in_use"]} for k, v in q.items()}})


async def tag(request: Request) -> Response:
    cloud, token, iid = request.app.state.cloud, token_of(request), _image_id(request)
    if request.method == "PUT":
        await cloud.add_image_tag(token, iid, request.path_params["tag"])
    else:
        await cloud.delete_image_tag(token, iid, request.path_params["tag"])
    return Response(status_code=204)


async def action(request: Request) -> Response:
    cloud, token, iid = request.app.state.cloud, token_of(request), _image_id(request)
    act = request.path_params["action"]
    if act not in ("deactivate", "reactivate"):
        raise NotFound(f"no such image action {act!r}: deactivate or reactivate")
    await cloud.set_image_active(token, iid, act == "reactivate")
    return Response(status_code=204)


async def stores(request: Request) -> Response:
    token_of(request)
    return JSONResponse({"stores": [{"id": "file", "default": True,
                                     "description": "the cloud's state directory"}]})


def routes() -> list[Route]:
    v = "/image/v2"
    return [
        Route("/image", versions, methods=["GET"]),
        Route(v, versions, methods=["GET"]),
        Route(f"{v}/images", images, methods=["GET", "POST", "DELETE"]),
        Route(f"{v}/images/{{id}}", image_one, methods=["GET", "PATCH", "DELETE"]),
        Route(f"{v}/images/{{id}}/file", image_upload, methods=["PUT"]),
        Route(f"{v}/images/{{id}}/file", image_download, methods=["GET"]),
        Route(f"{v}/schemas/image", schema_image, methods=["GET"]),
        Route(f"{v}/schemas/images", schema_images, methods=["GET"]),
        Route(f"{v}/info/usage", usage, methods=["GET"]),
        Route(f"{v}/info/stores", stores, methods=["GET"]),
        *image_members.routes(v),
        Route(f"{v}/images/{{id}}/tags/{{tag}}", tag, methods=["PUT", "DELETE"]),
        Route(f"{v}/images/{{id}}/actions/{{action}}", action, methods=["POST"]),
    ]

