"""The server actions pause, unpause, suspend, resume and rebuild (POST /servers/{id}/action)
as nova 2.1 takes and answers them: 202 and no body for the first four; rebuild answers the
server (nova's update view) with the adminPass given or one made for it (never stored)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api import microversion
from backend.api.common import check_fields, token_of, want_str
from backend.api.server_create import access_ips, generate_password
from backend.api.server_views import ServerRenderer, is_admin
from backend.core.errors import BadRequest

POWER = {"pause": "pause_server", "unpause": "unpause_server", "suspend": "suspend_server",
         "resume": "resume_server"}
ACTIONS = (*POWER, "rebuild")
_REBUILD_FIELDS = ("imageRef", "name", "adminPass", "metadata", "accessIPv4", "accessIPv6",
                   "OS-DCF:diskConfig", "preserve_ephemeral", "personality")
# nova's update/rebuild answer: the core view (no extension attributes)
_VIEW = {"id", "name", "status", "image", "flavor", "fault", "user_id", "tenant_id", "created", "updated",
         "progress", "metadata", "links", "addresses", "hostId", "OS-DCF:diskConfig", "accessIPv4",
         "accessIPv6", "locked", "description", "tags"}


async def server_action(request: Request, sid: str, action: str, arg) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if action in POWER:
        # nova's schema: {"pause": null}; a missing server is 404 before anything else
        await getattr(cloud, POWER[action])(token, sid)
        return Response(status_code=202)
    await cloud.get_server(token, sid)
    if not isinstance(arg, dict):
        raise BadRequest("'rebuild' must be an object with at least 'imageRef'")
    fields = _REBUILD_FIELDS + (("description",) if microversion.at_least(request, "2.19") else ())
    check_fields(arg, fields, "rebuild")
    image = arg.get("imageRef")
    if not isinstance(image, str) or not image:
        raise BadRequest("'rebuild.imageRef' is required: the id of the image to rebuild from")
    image = image.rstrip("/").rsplit("/", 1)[-1]  # nova takes an image's URL as well as its id
    name = want_str(arg, "name", "rebuild", empty=False) if "name" in arg else None
    password = arg.get("adminPass")
    if password is not None and not isinstance(password, str):
        raise BadRequest("'rebuild.adminPass' must be a string")
    if arg.get("personality"):
        raise BadRequest("'rebuild.personality': file injection is not supported (use the config drive's "
                         "user_data)")
    if arg.get("OS-DCF:diskConfig") not in (None, "AUTO", "MANUAL"):
        raise BadRequest("'rebuild.OS-DCF:diskConfig' must be AUTO or MANUAL")
    if not isinstance(arg.get("preserve_ephemeral", False), bool):
        raise BadRequest("'rebuild.preserve_ephemeral' must be a boolean")
    description = arg["description"] if "description" in arg else ...  # checked by the backend
    server = await cloud.rebuild_server(token, sid, image, name=name, metadata=arg.get("metadata"),
                                        access_ips=access_ips(arg), description=description)
    full = ServerRenderer(request, await is_admin(request, token)).full(server)
    view = {k: v for k, v in full.items() if k in _VIEW}
    view["addresses"] = {net: [{"version": a["version"], "addr": a["addr"]} for a in addrs]
                         for net, addrs in full["addresses"].items()}
    view["adminPass"] = password or generate_password()
    return JSONResponse({"server": view}, status_code=202)
