"""Nova v2.1's images proxy (/compute/v2.1/images): the image service's images in nova's view.
Deprecated upstream (2.36) but still what 2.1 clients and Tempest's compute tests read."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import base, iso, limit_marker, next_href, page, token_of, want_int
from backend.core.errors import NotFound

V = "/compute/v2.1"
# glance status -> nova's image status (nova/api/openstack/compute/views/images.py)
_STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "deleted": "DELETED",
           "pending_delete": "DELETED", "killed": "ERROR", "deactivated": "ERROR",
           "importing": "SAVING", "uploading": "SAVING"}


def _links(request: Request, iid: str) -> list[dict]:
    root = base(request)
    return [{"rel": "self", "href": f"{root}/compute/v2.1/images/{iid}"},
            {"rel": "bookmark", "href": f"{root}/compute/images/{iid}"},
            {"rel": "alternate", "type": "application/vnd.openstack.image",
             "href": f"{root}/image/images/{iid}"}]


def image_view(request: Request, i: dict, detail: bool) -> dict:
    out = {"id": i["id"], "name": i.get("name"), "links": _links(request, i["id"])}
    if detail:
        status = _STATUS.get(i["status"], "UNKNOWN")
        out.update({"status": status, "progress": {"ACTIVE": 100, "SAVING": 25}.get(status, 0),
                    "minRam": i.get("min_ram") or 0, "minDisk": i.get("min_disk") or 0,
                    "created": iso(i.get("created_at")), "updated": iso(i.get("updated_at")),
                    "metadata": {k: v for k, v in (i.get("properties") or {}).items()
                                 if isinstance(v, str)},
                    "OS-EXT-IMG-SIZE:size": i.get("size")})
    return out


async def _list(request: Request, detail: bool) -> Response:
    q = request.query_params
    limit, marker = limit_marker(request)
    items = await request.app.state.cloud.list_images(token_of(request))
    if "name" in q:
        items = [i for i in items if i.get("name") == q["name"]]
    if "status" in q:
        items = [i for i in items if _STATUS.get(i["status"], "UNKNOWN") == q["status"].upper()]
    for key, field in (("minRam", "min_ram"), ("minDisk", "min_disk")):
        if key in q:
            m = want_int(q[key], key, minimum=0)
            items = [i for i in items if (i.get(field) or 0) >= m]
    items, more = page(items, limit, marker)
    body = {"images": [image_view(request, i, detail) for i in items]}
    if more and items:
        body["images_links"] = [{"rel": "next", "href": next_href(request, items[-1]["id"], limit)}]
    return JSONResponse(body)


async def images(request: Request) -> Response:
    return await _list(request, False)


async def images_detail(request: Request) -> Response:
    return await _list(request, True)


async def image_one(request: Request) -> Response:
    cloud, token, iid = request.app.state.cloud, token_of(request), request.path_params["id"]
    try:
        i = await cloud.get_image(token, iid)
    except NotFound:
        raise NotFound("Image not found.") from None
    if request.method == "DELETE":
        await cloud.delete_image(token, iid)
        return Response(status_code=204)
    return JSONResponse({"image": image_view(request, i, True)})


def routes() -> list[Route]:
    return [
        Route(f"{V}/images", images, methods=["GET"]),
        Route(f"{V}/images/detail", images_detail, methods=["GET"]),
        Route(f"{V}/images/{{id}}", image_one, methods=["GET", "DELETE"]),
    ]
