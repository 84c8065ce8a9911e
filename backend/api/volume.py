"""Cinder v3 under /volume: version documents and volumes (list, detail, show, create,
delete), with the project id in the path as upstream (/volume/v3/{project_id}/volumes)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import volume_extra
from backend.api.common import (base, iso_us, limit_marker, next_href, page, read_json, read_object,
                                token_of, url_for, want_bool, want_int, want_str)
from backend.api.compute import is_uuid
from backend.core.errors import BadRequest, Forbidden, NotFound

MIN_VERSION = MAX_VERSION = "3.0"


def _v3(request: Request) -> dict:
    return {"id": "v3.0", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
            "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "self", "href": url_for(request, "volume", "v3") + "/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


async def versions(request: Request) -> Response:
    # cinder answers its root with 300 Multiple Choices, as a version list should
    return JSONResponse({"versions": [_v3(request)]}, status_code=300)


async def version_v3(request: Request) -> Response:
    # cinder shows one version as a list of one, under "versions"
    return JSONResponse({"versions": [_v3(request)]})


async def _project_in_path(request: Request, token: str) -> None:
    """Cinder refuses a URL whose project is not the token's (cinder/api/openstack/wsgi.py)."""
    pid = request.path_params.get("project_id")
    if pid is None:
        return
    t = await request.app.state.cloud.validate_token(token)
    mine = (t.get("project") or {}).get("id")
    if pid != mine:
        raise BadRequest(f"Malformed request url: the project id '{pid}' in the URL does not "
                         "match the token's project")


def volume_view(request: Request, v: dict, admin: bool, detail: bool = True,
                created: bool = False, image_meta: bool = False) -> dict:
    """image_meta: the image a volume was made from, as cinder's os-vol-image-meta extension
    adds it to show and detail lists only (not to create or update answers)."""
    vid = v["id"]
    root = base(request)
    links = [{"rel": "self", "href": f"{root}/volume/v3/{v.get('project_id')}/volumes/{vid}"},
             {"rel": "bookmark", "href": f"{root}/volume/{v.get('project_id')}/volumes/{vid}"}]
    out = {"id": vid, "name": v.get("name") or "", "links": links}
    if not detail:
        return out
    out.update({
        "description": v.get("description") or "", "status": v["status"], "size": v["size"],
        "availability_zone": "nova", "created_at": iso_us(v.get("created_at")),
        "updated_at": iso_us(v.get("updated_at") or v.get("created_at")),
        "bootable": "true" if v.get("bootable") else "false", "encrypted": False,
        "multiattach": False, "volume_type": v.get("volume_type") or "__DEFAULT__", "snapshot_id": None,
        "source_volid": None, "metadata": dict(v.get("metadata") or {}), "user_id": v.get("user_id"),
        "replication_status": None, "consistencygroup_id": None,
        **({"volume_image_metadata": {"image_id": v["image_id"]}} if image_meta and v.get("image_id") else {}),
        "attachments": [{"server_id": a["server_id"], "attachment_id": a.get("id", a["server_id"]),
                         "volume_id": vid, "id": vid, "device": a.get("device"),
                         "host_name": v.get("host"), "attached_at": None}
                        for a in v.get("attachments") or []],
    })
    if admin and not created:
        # cinder's admin-only attributes, absent from a create's answer
        # cinder names a volume's place host@backend#pool
        out["os-vol-host-attr:host"] = f"{v['host']}@qcow2#qcow2" if v.get("host") else None
        out["os-vol-tenant-attr:tenant_id"] = v.get("project_id")
    return out


async def _is_admin(request: Request, token: str) -> bool:
    t = await request.app.state.cloud.validate_token(token)
    return bool(t.get("is_admin"))


async def _list(request: Request, detail: bool) -> Response:
    cloud, token, q = request.app.state.cloud, token_of(request), request.query_params
    await _project_in_path(request, token)
    limit, marker = limit_marker(request)
    all_t = q.get("all_tenants", "0").lower() not in ("0", "false", "f", "no", "")
    admin = await _is_admin(request, token)
    items = await cloud.list_volumes(token, all_t)
    for k in ("name", "status"):
        if q.get(k):
            items = [v for v in items if v.get(k) == q[k]]
    items = _sorted(items, q)
    items, more = page(items, limit, marker)
    body = {"volumes": [volume_view(request, v, admin, detail, image_meta=True) for v in items]}
    # cinder links a next page whenever a page is full, even when it is the last one
    if (more or ("limit" in q and len(items) == limit)) and items:
        body["volumes_links"] = [{"rel": "next", "href": next_href(request, items[-1]["id"], limit)}]
    return JSONResponse(body)


_SORT_KEYS = ("created_at", "id", "name", "status", "size", "updated_at")


def _sorted(items: list[dict], q) -> list[dict]:
    """cinder's order: sort=key[:dir],... or sort_key/sort_dir; by default created_at, then
    id, newest first."""
    if q.get("sort"):
        pairs = [(p.split(":", 1) + ["desc"])[:2] for p in q["sort"].split(",") if p]
    elif q.get("sort_key"):
        pairs = [[q["sort_key"], q.get("sort_dir", "desc")]]
    else:
        pairs = [["created_at", "desc"], ["id", "desc"]]
    for key, direction in reversed(pairs):  # stable sorts, the last key first
        if key not in _SORT_KEYS:
            raise BadRequest(f"invalid sort key {key!r}: one of {', '.join(_SORT_KEYS)}")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"invalid sort direction {direction!r}: asc or desc")
        items = sorted(items, key=lambda v: (v.get(key) is None, v.get(key) or ""),
                       reverse=direction == "desc")
    return items


async def volumes(request: Request) -> Response:
    if request.method == "POST":
        return await volume_create(request)
    return await _list(request, False)


async def volumes_detail(request: Request) -> Response:
    return await _list(request, True)


# fields cinderclient/openstacksdk send, often as null; only size, name and description are used
_CREATE_FIELDS = ("size", "name", "description", "volume_type", "availability_zone", "metadata",
                  "imageRef", "snapshot_id", "source_volid", "backup_id", "multiattach",
                  "consistencygroup_id", "group_id", "display_name", "display_description")
_NULL_ONLY = ("snapshot_id", "source_volid", "backup_id", "consistencygroup_id",
              "group_id")


async def volume_create(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    await _project_in_path(request, token)
    v = await read_object(request, "volume", _CREATE_FIELDS, required=("size",))
    size = want_int(v["size"], "volume.size", minimum=1, maximum=16384)
    for k in _NULL_ONLY:
        if v.get(k) not in (None, ""):
            raise BadRequest(f"'volume.{k}' is not supported by pocketstack: create empty volumes "
                             "or boot from volume")
    if v.get("availability_zone") not in (None, "", "nova"):
        raise BadRequest(f"unknown availability zone {v['availability_zone']!r} for volumes")
    if v.get("multiattach") not in (None, False):
        raise BadRequest("'volume.multiattach' is not supported by pocketstack")
    name = want_str(v, "name", "volume") or want_str(v, "display_name", "volume") or ""
    desc = (want_str(v, "description", "volume", max_len=255)
            or want_str(v, "display_description", "volume", max_len=255) or "")
    metadata = v.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest("'volume.metadata' must be an object of string keys and values")
    vtype = want_str(v, "volume_type", "volume") or None
    image = want_str(v, "imageRef", "volume") or None
    created = await cloud.create_volume(token, size, name, desc, metadata, vtype, image)
    return JSONResponse({"volume": volume_view(request, created, await _is_admin(request, token),
                                               created=True)},
                        status_code=202)


async def volume_one(request: Request) -> Response:
    cloud, token, vid = request.app.state.cloud, token_of(request), request.path_params["id"]
    await _project_in_path(request, token)
    if not is_uuid(vid):
        raise NotFound(f"Volume {vid} could not be found.")
    if request.method == "DELETE":
        await cloud.delete_volume(token, vid)
        return Response(status_code=202)
    if request.method == "PUT":
        body = await read_object(request, "volume", ("name", "description", "metadata",
                                                     "display_name", "display_description"))
        changes = {}
        for k, old in (("name", "display_name"), ("description", "display_description")):
            if k in body or old in body:
                changes[k] = want_str(body, k if k in body else old, "volume")
        if "metadata" in body:
            if not isinstance(body["metadata"], dict):
                raise BadRequest("'volume.metadata' must be an object of string keys and values")
            changes["metadata"] = body["metadata"]
        v = await cloud.update_volume(token, vid, changes)
        return JSONResponse({"volume": volume_view(request, v, await _is_admin(request, token))})
    v = await cloud.get_volume(token, vid)
    return JSONResponse({"volume": volume_view(request, v, await _is_admin(request, token), image_meta=True)})


async def limits(request: Request) -> Response:
    """The project's volume quotas and what it uses of them (snapshots and backups do not exist)."""
    cloud, token = request.app.state.cloud, token_of(request)
    await _project_in_path(request, token)
    t = await cloud.validate_token(token)
    q = await cloud.get_quotas(token, (t.get("project") or {}).get("id"), "volume")
    absolute = {}
    for res, mx, used in (("volumes", "maxTotalVolumes", "totalVolumesUsed"),
                          ("gigabytes", "maxTotalVolumeGigabytes", "totalGigabytesUsed"),
                          ("snapshots", "maxTotalSnapshots", "totalSnapshotsUsed"),
                          ("backups", "maxTotalBackups", "totalBackupsUsed"),
                          ("backup_gigabytes", "maxTotalBackupGigabytes", "totalBackupGigabytesUsed")):
        absolute[mx], absolute[used] = q[res]["limit"], q[res]["in_use"]
    return JSONResponse({"limits": {"rate": [], "absolute": absolute}})


async def quota_set(request: Request) -> Response:
    """os-quota-sets/{project}: GET (?usage=true for in_use), PUT and DELETE (admins), as cinder.
    PUT with skip_validation false refuses a limit under current usage."""
    cloud, token, pid = request.app.state.cloud, token_of(request), request.path_params["target"]
    await _project_in_path(request, token)
    if request.method == "DELETE":
        await cloud.delete_quotas(token, pid, "volume")
        return Response(status_code=200)
    if request.method == "PUT":
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"quota_set"} or not isinstance(body["quota_set"], dict):
            raise BadRequest("request body must be a JSON object with the key 'quota_set' (an object)")
        values = dict(body["quota_set"])
        values.pop("tenant_id", None)  # cinderclient sends it; the path names the project
        skip = want_bool(values.pop("skip_validation", True), "quota_set.skip_validation")
        got = await cloud.update_quotas(token, pid, "volume", values, force=skip)
        return JSONResponse({"quota_set": {k: v["limit"] for k, v in got.items()}})
    got = await cloud.get_quotas(token, pid, "volume")
    usage = want_bool(request.query_params.get("usage", "false"), "usage")
    body = {k: ({"limit": v["limit"], "in_use": v["in_use"], "reserved": 0, "allocated": 0} if usage
                else v["limit"]) for k, v in got.items()}
    return JSONResponse({"quota_set": {"id": pid, **body}})


async def quota_set_defaults(request: Request) -> Response:
    cloud, token, pid = request.app.state.cloud, token_of(request), request.path_params["target"]
    await _project_in_path(request, token)
    return JSONResponse({"quota_set": {"id": pid, **await cloud.get_default_quotas(token, "volume")}})


def routes() -> list[Route]:
    out = [Route("/volume", versions, methods=["GET"]),
           Route("/volume/v3", version_v3, methods=["GET"])]
    # without the project in the path (cinder 3.67+) first, so "volumes" is never taken for
    # a project id; then the catalog's form with it
    for prefix in ("/volume/v3", "/volume/v3/{project_id}"):
        out += [Route(f"{prefix}/volumes", volumes, methods=["GET", "POST"]),
                Route(f"{prefix}/volumes/detail", volumes_detail, methods=["GET"]),
                Route(f"{prefix}/volumes/{{id}}", volume_one, methods=["GET", "PUT", "DELETE"]),
                Route(f"{prefix}/limits", limits, methods=["GET"]),
                Route(f"{prefix}/os-quota-sets/{{target}}", quota_set, methods=["GET", "PUT", "DELETE"]),
                Route(f"{prefix}/os-quota-sets/{{target}}/defaults", quota_set_defaults, methods=["GET"])]
        out += volume_extra.routes(prefix)
    # discovery may GET the catalog URL itself
    out.append(Route("/volume/v3/{project_id}", version_v3, methods=["GET"]))
    return out
