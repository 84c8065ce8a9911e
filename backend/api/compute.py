"""Nova v2.1 under /compute: version documents, servers (list, detail, show, delete,
actions), instance actions, console output, and pocketstack's explain/trace extensions.
Microversions 2.1 to 2.52 (backend/api/microversion.py); the create is server_create's, the
server view server_views', the tags server_tags'."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import (FastJSONResponse, check_fields, iso, limit_marker, next_href, read_json,
                                token_of, url_for, want_int)
from backend.api import microversion, server_password, server_tags, volume_attachments
from backend.api import server_actions_extra
from backend.api.microversion import MAX_VERSION, MIN_VERSION
from backend.api.server_create import _action_request_id, access_ips, server_create  # noqa: F401 (re-exported)
from backend.api.server_views import ServerRenderer, _server_id, is_admin, is_uuid  # noqa: F401 (re-exported)
from backend.core.errors import BadRequest, Forbidden

V21_UPDATED = "2013-07-23T11:33:21Z"


def _v21(request: Request) -> dict:
    return {"id": "v2.1", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
            "updated": V21_UPDATED,
            "links": [{"rel": "self", "href": url_for(request, "compute", "v2.1") + "/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


async def versions(request: Request) -> Response:
    return JSONResponse({"versions": [_v21(request)]})


async def version_v21(request: Request) -> Response:
    return JSONResponse({"version": _v21(request)})


# ---- list / show ----------------------------------------------------------------------
_LIST_FILTERS = ("name", "status", "host", "image", "flavor", "project_id", "reservation_id", "ip",
                 "changes-since")
_TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")  # 2.26


async def _list(request: Request, detail: bool) -> Response:
    cloud, token, q = request.app.state.cloud, token_of(request), request.query_params
    limit, marker = limit_marker(request)
    filters = {k: q[k] for k in _LIST_FILTERS if q.get(k)}
    if microversion.at_least(request, "2.26"):
        filters.update({k: q[k] for k in _TAG_FILTERS if q.get(k)})
    if q.get("tenant_id"):
        filters["project_id"] = q["tenant_id"]
    all_tenants = "all_tenants" in q and q["all_tenants"].lower() not in ("0", "false", "f", "no")
    if "status" in filters:
        filters["status"] = filters["status"].upper()
    admin = await is_admin(request, token)
    if not admin:
        # nova ignores a non-admin's host filter (it would tell which hosts exist)
        filters.pop("host", None)
    if all_tenants and not admin:
        # nova's policy os_compute_api:servers:index:get_all_tenants is admin-only
        raise Forbidden("only an admin may list the servers of all projects (all_tenants)")
    # ip6 (admins; everyone from 2.5): no server has an IPv6 address, so none matches
    ip6 = bool(q.get("ip6")) and (admin or microversion.at_least(request, "2.5"))
    try:
        items = [] if ip6 else await cloud.list_servers(token, all_tenants, filters, limit + 1, marker)
    except BadRequest as e:
        # below 2.38 nova answers an unknown status with an empty list, from 2.38 a 400
        if ("status" not in filters or not e.message.startswith("unknown status")
                or microversion.at_least(request, "2.38")):
            raise
        items = []
    more = len(items) > limit
    items = items[:limit]
    r = ServerRenderer(request, admin)
    body = {"servers": [r.full(s) if detail else r.brief(s) for s in items]}
    if more and items:
        body["servers_links"] = [{"rel": "next", "href": next_href(request, items[-1]["id"], limit)}]
    return FastJSONResponse(body)


async def servers_list(request: Request) -> Response:
    return await _list(request, detail=False)


async def servers_detail(request: Request) -> Response:
    return await _list(request, detail=True)


async def server_show(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    s = await cloud.get_server(token, sid)
    return JSONResponse({"server": ServerRenderer(request, await is_admin(request, token)).full(s)})


async def server_delete(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    await cloud.delete_server(token, sid)
    # the delete action's request id, as nova answers it (not a fresh one)
    return Response(status_code=204, headers=await _action_request_id(cloud, token, sid, "delete"))


# ---- actions --------------------------------------------------------------------------
async def server_action(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    body = await read_json(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("an action body holds exactly one action, e.g. {\"os-stop\": null}")
    (action, arg), = body.items()
    if action == "os-stop":
        await cloud.stop_server(token, sid)
    elif action == "os-start":
        await cloud.start_server(token, sid)
    elif action == "reboot":
        if not isinstance(arg, dict):
            raise BadRequest("'reboot' must be an object like {\"type\": \"SOFT\"}")
        check_fields(arg, ("type",), "reboot")
        kind = arg.get("type")
        if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
            raise BadRequest("'reboot.type' must be SOFT or HARD")
        await cloud.reboot_server(token, sid, hard=kind.upper() == "HARD")
    elif action == "os-getConsoleOutput":
        arg = arg or {}
        if not isinstance(arg, dict):
            raise BadRequest("'os-getConsoleOutput' must be an object")
        check_fields(arg, ("length",), "os-getConsoleOutput")
        length = arg.get("length")
        if length is not None:
            length = want_int(length, "os-getConsoleOutput.length", minimum=-1)
            length = None if length == -1 else length
        out = await cloud.get_console_output(token, sid, length)
        return JSONResponse({"output": out})
    elif action == "os-resetState":
        if not isinstance(arg, dict) or set(arg) != {"state"}:
            raise BadRequest("'os-resetState' must be an object like {\"state\": \"error\"}")
        await cloud.reset_server_state(token, sid, arg["state"])
    elif action == "os-getSerialConsole":  # 2.1's form of remote-consoles (openstack console url show --serial)
        from backend.api.remote_consoles import console_url
        arg = arg or {}
        if not isinstance(arg, dict):
            raise BadRequest("'os-getSerialConsole' must be an object like {\"type\": \"serial\"}")
        check_fields(arg, ("type",), "os-getSerialConsole")
        made = await cloud.create_remote_console(token, sid, "serial", arg.get("type"))
        return JSONResponse({"console": {"type": "serial", "url": console_url(request, made["token"])}})
    elif action == "changePassword":
        return await server_password.change_password(request, sid, arg)
    elif action in server_actions_extra.ACTIONS:
        return await server_actions_extra.server_action(request, sid, action, arg)
    elif action in ("addSecurityGroup", "removeSecurityGroup"):
        from backend.api.compute_secgroups import server_action as security_group_action
        return await security_group_action(request, sid, action, arg)
    else:
        await cloud.get_server(token, sid)  # nova: a missing server is 404 before a bad action's 400
        raise BadRequest(f"unsupported server action '{action}' (pocketstack has os-start, "
                         "os-stop, reboot, pause, unpause, suspend, resume, rebuild, os-getConsoleOutput, "
                         "os-getSerialConsole, os-resetState)")
    return Response(status_code=202, headers=await _action_request_id(cloud, token, sid, action))


def _action_view(a: dict, with_events: bool, admin: bool) -> dict:
    out = {"action": a["action"], "instance_uuid": a["instance_uuid"], "request_id": a["request_id"],
           "user_id": a.get("user_id"), "project_id": a.get("project_id"),
           "start_time": iso(a.get("start_time")), "message": a.get("message")}
    if with_events:
        evs = []
        for e in a.get("events") or []:
            ev = {"event": e["event"], "start_time": iso(e.get("start_time")),
                  "finish_time": iso(e.get("finish_time")), "result": e.get("result")}
            if admin:
                ev["host"] = e.get("host")
                ev["traceback"] = e.get("details")
            evs.append(ev)
        out["events"] = evs
    return out


async def _actions_of(request: Request) -> tuple:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    if not microversion.at_least(request, "2.21"):
        await cloud.get_server(token, sid)  # a deleted server's actions are readable from 2.21
    return cloud, token, sid


async def actions_list(request: Request) -> Response:
    cloud, token, sid = await _actions_of(request)
    items = await cloud.list_instance_actions(token, sid)
    return JSONResponse({"instanceActions": [_action_view(a, False, False) for a in items]})


async def action_show(request: Request) -> Response:
    cloud, token, sid = await _actions_of(request)
    a = await cloud.get_instance_action(token, sid, request.path_params["req"])
    # events for everyone at every version (nova's os-instance-actions:events policy opened to
    # project members; 2.51 makes that the default), their traceback and host for admins only
    return JSONResponse({"instanceAction": _action_view(a, True, await is_admin(request, token))})


async def explain(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    return JSONResponse({"decisions": await cloud.explain_server(token, sid)})


async def trace(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    return JSONResponse({"trace": await cloud.get_trace(token, sid)})


def routes() -> list[Route]:
    v = "/compute/v2.1"
    return [
        Route("/compute", versions, methods=["GET"]),
        Route(v, version_v21, methods=["GET"]),
        Route(f"{v}/servers", servers_list, methods=["GET"]),
        Route(f"{v}/servers", server_create, methods=["POST"]),
        Route(f"{v}/servers/detail", servers_detail, methods=["GET"]),
        Route(f"{v}/servers/{{id}}", server_show, methods=["GET"]),
        Route(f"{v}/servers/{{id}}", server_delete, methods=["DELETE"]),
        Route(f"{v}/servers/{{id}}/action", server_action, methods=["POST"]),
        Route(f"{v}/servers/{{id}}/os-instance-actions", actions_list, methods=["GET"]),
        Route(f"{v}/servers/{{id}}/os-instance-actions/{{req}}", action_show, methods=["GET"]),
        Route(f"{v}/servers/{{id}}/os-pocketstack-explain", explain, methods=["GET"]),
        Route(f"{v}/servers/{{id}}/os-pocketstack-trace", trace, methods=["GET"]),
        *volume_attachments.routes(v),
        *server_tags.routes(v),
        *server_password.routes(v),
    ]
