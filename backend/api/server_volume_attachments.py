"""nova's GET /servers/{id}/os-volume_attachments (the list) and .../{volume_id} (one): each
attached volume (the boot volume too) with its device, as nova 2.1 shows them (the
attachment's id is the volume's). Attach and detach are backend.api.volume_attachments'."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import token_of
from backend.core.errors import NotFound

V = "/compute/v2.1"


async def _attachments(request: Request) -> list[dict]:
    cloud, token, sid = request.app.state.cloud, token_of(request), request.path_params["id"]
    server = await cloud.get_server(token, sid)  # a missing server is 404
    out = []
    for a in server.get("volumes_attached") or []:
        v = await cloud.get_volume(token, a["id"])
        device = next((x["device"] for x in v.get("attachments") or [] if x["server_id"] == server["id"]), None)
        out.append({"id": v["id"], "volumeId": v["id"], "serverId": server["id"], "device": device})
    return sorted(out, key=lambda a: a["device"] or "")


async def attachment_list(request: Request) -> Response:
    return JSONResponse({"volumeAttachments": await _attachments(request)})


async def attachment_one(request: Request) -> Response:
    vid = request.path_params["volume"]
    for a in await _attachments(request):
        if a["volumeId"] == vid:
            return JSONResponse({"volumeAttachment": a})
    raise NotFound(f"volume_id not found: {vid}")


def routes() -> list[Route]:
    return [Route(f"{V}/servers/{{id}}/os-volume_attachments", attachment_list, methods=["GET"]),
            Route(f"{V}/servers/{{id}}/os-volume_attachments/{{volume}}", attachment_one, methods=["GET"])]
