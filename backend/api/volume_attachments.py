"""nova's os-volume_attachments: attach a volume to an instance (POST, 200) and detach it
(DELETE, 202), what `openstack server add volume` / `server remove volume` call."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import microversion
from backend.api.common import check_fields, read_json, token_of, want_str
from backend.core.errors import BadRequest


async def attach(request: Request) -> Response:
    from backend.api.compute import _action_request_id, _server_id
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    body = await read_json(request)
    va = body.get("volumeAttachment") if isinstance(body, dict) else None
    if not isinstance(va, dict):
        raise BadRequest("the body is {\"volumeAttachment\": {\"volumeId\": VOLUME_ID}}")
    # a device tag from 2.49 (accepted, not shown to the guest); delete_on_termination is 2.79's
    check_fields(va, ("volumeId", "device") + ("tag",) * microversion.at_least(request, "2.49"),
                 "volumeAttachment")
    if va.get("device") is not None:
        want_str(va, "device", "volumeAttachment")  # a hint nova may ignore, and so do we
    got = await cloud.attach_volume(token, sid, want_str(va, "volumeId", "volumeAttachment", empty=False))
    view = {"id": got["id"], "volumeId": got["volumeId"], "serverId": got["serverId"], "device": got["device"]}
    return JSONResponse({"volumeAttachment": view},
                        headers=await _action_request_id(cloud, token, sid, "attach_volume"))


async def detach(request: Request) -> Response:
    from backend.api.compute import _action_request_id, _server_id
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    await cloud.detach_volume(token, sid, request.path_params["volume"])
    return Response(status_code=202, headers=await _action_request_id(cloud, token, sid, "detach_volume"))


def routes(v: str) -> list[Route]:
    return [Route(f"{v}/servers/{{id}}/os-volume_attachments", attach, methods=["POST"]),
            Route(f"{v}/servers/{{id}}/os-volume_attachments/{{volume}}", detach, methods=["DELETE"])]
