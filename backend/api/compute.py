"""Nova v2.1 under /compute: version documents, servers (create, list, detail, show, delete,
actions), instance actions, console output, and pocketstack's explain/trace extensions.
Only microversion 2.1 is honoured and advertised (the clients negotiate down to it)."""
from __future__ import annotations

import hashlib
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import (FastJSONResponse, base, check_fields, iso, limit_marker, next_href, parse_object,
                                read_json, token_of, url_for, want_bool, want_int, want_str)
from backend.api import volume_attachments
from backend.core.inputs import check_access_ip, check_metadata
from backend.core.errors import BadRequest, Forbidden, NotFound

MIN_VERSION = MAX_VERSION = "2.1"
V21_UPDATED = "2013-07-23T11:33:21Z"


def is_uuid(s: str) -> bool:
    try:
        uuid.UUID(s)
        return True
    except (ValueError, AttributeError, TypeError):
        return False


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


async def is_admin(request: Request, token: str) -> bool:
    t = await request.app.state.cloud.validate_token(token)
    return bool(t.get("is_admin"))


# ---- server view (kept lean: GET /servers/detail renders 1,000 of these) ---------------
class ServerRenderer:
    def __init__(self, request: Request, admin: bool):
        root = base(request)
        self.self_prefix = f"{root}/compute/v2.1/servers/"
        self.book_prefix = f"{root}/compute/servers/"
        self.flavor_prefix = f"{root}/compute/flavors/"
        self.image_prefix = f"{root}/compute/images/"
        self.admin = admin
        self._host_ids: dict = {}

    def links(self, sid: str) -> list[dict]:
        return [{"rel": "self", "href": self.self_prefix + sid},
                {"rel": "bookmark", "href": self.book_prefix + sid}]

    def brief(self, s: dict) -> dict:
        return {"id": s["id"], "name": s["name"], "links": self.links(s["id"])}

    def full(self, s: dict) -> dict:
        sid, host, pid = s["id"], s.get("host"), s.get("project_id")
        # nova shows no image for a server booted from a volume
        img = None if s.get("boot_volume_id") else s.get("image")
        fid = str((s.get("flavor") or {}).get("id"))
        addresses = {net: [{"version": a.get("version", 4), "addr": a["addr"],
                            "OS-EXT-IPS:type": a.get("type", "fixed"),
                            "OS-EXT-IPS-MAC:mac_addr": a.get("mac")} for a in addrs]
                     for net, addrs in (s.get("addresses") or {}).items()}
        status = s["status"]
        created = _ts(s.get("created"))
        self_href = self.self_prefix + sid
        out = {
            "id": sid, "name": s["name"], "status": status,
            "tenant_id": pid, "user_id": s.get("user_id"),
            "metadata": s.get("metadata") or {},
            "hostId": self._host_id(pid, host),
            "image": ({"id": img["id"], "links": [{"rel": "bookmark",
                                                  "href": self.image_prefix + img["id"]}]}
                      if img else ""),
            "flavor": {"id": fid, "links": [{"rel": "bookmark", "href": self.flavor_prefix + fid}]},
            "created": created, "updated": _ts(s.get("updated")) or created,
            "addresses": addresses, "accessIPv4": s.get("access_ip_v4") or "",
            "accessIPv6": s.get("access_ip_v6") or "",
            "links": [{"rel": "self", "href": self_href},
                      {"rel": "bookmark", "href": self.book_prefix + sid}],
            "OS-DCF:diskConfig": "MANUAL",
            "OS-EXT-AZ:availability_zone": s.get("availability_zone") or "",
            "config_drive": "True", "key_name": s.get("key_name"),
            "OS-SRV-USG:launched_at": _ts(s.get("launched_at")),
            "OS-SRV-USG:terminated_at": _ts(s.get("terminated_at")),
            "OS-EXT-STS:task_state": s.get("task_state"),
            "OS-EXT-STS:vm_state": s.get("vm_state"),
            "OS-EXT-STS:power_state": s.get("power_state", 0),
            "os-extended-volumes:volumes_attached": [{"id": v["id"]} for v in
                                                     s.get("volumes_attached") or ()],
            "security_groups": [{"name": "default"}],
        }
        if status in ("BUILD", "ACTIVE"):
            out["progress"] = 100 if status == "ACTIVE" else 0
        if self.admin:
            out["OS-EXT-SRV-ATTR:host"] = host
            out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = host
            out["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{sid[:8]}"
        fault = s.get("fault")
        if fault and status == "ERROR":
            f = {"code": fault.get("code", 500), "message": fault.get("message", ""),
                 "created": iso(fault.get("created"))}
            # nova shows details to admins, and to everyone when it is not a 500
            if self.admin or f["code"] != 500:
                f["details"] = fault.get("details") or ""
            out["fault"] = f
        return out

    def _host_id(self, project_id, host) -> str:
        # nova: sha224(project + host), so a tenant can tell co-located servers apart
        if not host:
            return ""
        key = (project_id, host)
        hid = self._host_ids.get(key)
        if hid is None:
            hid = self._host_ids[key] = hashlib.sha224(f"{project_id}{host}".encode()).hexdigest()
        return hid


def _ts(v):
    return v if v is None or v.__class__ is str else iso(v)


def _server_id(request: Request) -> str:
    sid = request.path_params["id"]
    if not is_uuid(sid):
        # names are not ids: clients fall back to ?name= on this 404
        raise NotFound(f"Instance {sid} could not be found.")
    return sid


# ---- list / show ----------------------------------------------------------------------
_LIST_FILTERS = ("name", "status", "host", "image", "flavor", "project_id", "reservation_id", "ip",
                 "changes-since")


async def _list(request: Request, detail: bool) -> Response:
    cloud, token, q = request.app.state.cloud, token_of(request), request.query_params
    limit, marker = limit_marker(request)
    filters = {k: q[k] for k in _LIST_FILTERS if q.get(k)}
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
    try:
        items = await cloud.list_servers(token, all_tenants, filters, limit + 1, marker)
    except BadRequest as e:
        # below 2.38 nova answers an unknown status with an empty list, not a 400
        if "status" not in filters or not e.message.startswith("unknown status"):
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


# ---- create ---------------------------------------------------------------------------
_CREATE_FIELDS = ("name", "imageRef", "flavorRef", "networks", "min_count", "max_count",
                  "availability_zone", "block_device_mapping_v2", "metadata", "security_groups",
                  "config_drive", "OS-DCF:diskConfig", "return_reservation_id", "key_name",
                  "user_data", "adminPass", "personality", "accessIPv4", "accessIPv6")
_UNSUPPORTED = {"adminPass": "setting an admin password is not supported by pocketstack",
                "personality": "personality files were removed from the compute API"}


def _ref(v, field: str) -> str | None:
    """imageRef/flavorRef: an id, or a link whose last segment is the id."""
    if v is None or v == "":
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise BadRequest(f"'server.{field}' must be a string id")
    return v.rstrip("/").rsplit("/", 1)[-1]


def access_ips(body: dict) -> dict:
    """{4: ip or None, 6: ...} for the accessIPv4/accessIPv6 the body names."""
    return {v: check_access_ip(body[f"accessIPv{v}"], f"accessIPv{v}", v)
            for v in (4, 6) if f"accessIPv{v}" in body}


def _networks(v):
    if v is None or v in ("auto", "none"):
        return v
    if v == []:
        # before 2.37 an empty list (what the clients send by default) means "the usual"
        return None
    if not isinstance(v, list):
        raise BadRequest("'server.networks' must be a list, 'auto' or 'none'")
    out = []
    for i, n in enumerate(v):
        if not isinstance(n, dict):
            raise BadRequest(f"'server.networks[{i}]' must be an object")
        check_fields(n, ("uuid", "port", "fixed_ip", "tag"), f"server.networks[{i}]")
        item = {}
        for k in ("uuid", "port", "fixed_ip"):
            if n.get(k) is not None:
                item[k] = want_str(n, k, f"server.networks[{i}]", empty=False)
        if "uuid" in item and not is_uuid(item["uuid"]):
            raise BadRequest(f"'server.networks[{i}].uuid' {item['uuid']!r} is not a network id")
        if not item.get("uuid") and not item.get("port"):
            raise BadRequest(f"'server.networks[{i}]' needs a 'uuid' or a 'port'")
        out.append(item)
    return out


def _boot_volume(bdms, image):
    """block_device_mapping_v2: pocketstack boots from a new volume made from an image."""
    if bdms is None:
        return image, None
    if not isinstance(bdms, list) or len(bdms) != 1 or not isinstance(bdms[0], dict):
        raise BadRequest("'server.block_device_mapping_v2' must hold exactly one boot device")
    b = bdms[0]
    where = "server.block_device_mapping_v2[0]"
    check_fields(b, ("boot_index", "uuid", "source_type", "destination_type", "volume_size",
                     "delete_on_termination", "device_name", "device_type", "disk_bus",
                     "volume_type", "tag", "guest_format"), where)
    if str(b.get("boot_index", 0)) != "0":
        raise BadRequest(f"'{where}.boot_index' must be 0")
    src, dst = b.get("source_type"), b.get("destination_type", "volume" if b.get("volume_size") else "local")
    if src != "image":
        raise BadRequest(f"'{where}.source_type' must be 'image' (boot from a new volume made from an image)")
    img = _ref(b.get("uuid"), "block_device_mapping_v2[0].uuid") or image
    if not img:
        raise BadRequest(f"'{where}.uuid' (the image) is required")
    if dst == "local":
        return img, None
    if dst != "volume":
        raise BadRequest(f"'{where}.destination_type' must be 'volume' or 'local'")
    if "volume_size" not in b:
        raise BadRequest(f"'{where}.volume_size' is required to boot from a new volume")
    return img, want_int(b["volume_size"], f"{where}.volume_size", minimum=1, maximum=16384)


async def server_create(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    body = await read_json(request)
    hints = body.get("os:scheduler_hints", body.get("OS-SCH-HNT:scheduler_hints")) if isinstance(body, dict) else None
    s = parse_object(body, "server", _CREATE_FIELDS, required=("name",))
    for f, why in _UNSUPPORTED.items():
        if s.get(f) not in (None, "", [], {}):
            raise BadRequest(f"'server.{f}': {why}")
    name = want_str(s, "name", "server", empty=False)
    image, bvs = _boot_volume(s.get("block_device_mapping_v2"), _ref(s.get("imageRef"), "imageRef"))
    flavor = _ref(s.get("flavorRef"), "flavorRef")
    if not flavor:
        raise BadRequest("'server.flavorRef' is required")
    if not image:
        raise BadRequest("'server.imageRef' is required (or boot from volume with block_device_mapping_v2)")
    min_c = want_int(s.get("min_count", 1), "server.min_count", minimum=1, maximum=1000)
    max_c = want_int(s.get("max_count", min_c), "server.max_count", minimum=1, maximum=1000)
    if min_c > max_c:
        raise BadRequest(f"'server.min_count' ({min_c}) must not exceed 'server.max_count' ({max_c})")
    az = want_str(s, "availability_zone", "server", empty=False)
    # how many keys is the metadata_items quota's to say (403), as nova
    meta = check_metadata(s.get("metadata") or {}, "server.metadata")
    sgs = s.get("security_groups")
    if sgs not in (None, []) and sgs != [{"name": "default"}]:
        raise BadRequest("'server.security_groups': only the 'default' group exists")
    if s.get("OS-DCF:diskConfig") not in (None, "AUTO", "MANUAL"):
        raise BadRequest("'server.OS-DCF:diskConfig' must be AUTO or MANUAL")
    if hints is not None and not isinstance(hints, dict):
        raise BadRequest("'os:scheduler_hints' must be an object")
    if hints and "group" in hints and not (isinstance(hints["group"], str) and is_uuid(hints["group"])):
        raise BadRequest("'os:scheduler_hints.group' must be a server group id")
    created = await cloud.create_server(token, name, image, flavor, networks=_networks(s.get("networks")),
                                        boot_volume_size=bvs, availability_zone=az,
                                        min_count=min_c, max_count=max_c,
                                        scheduler_hints=hints or None, metadata=meta,
                                        key_name=want_str(s, "key_name", "server", empty=False),
                                        access_ips=access_ips(s), user_data=s.get("user_data"))
    first = created[0]
    rid_header = await _action_request_id(cloud, token, first["id"], "create")
    if s.get("return_reservation_id") and want_bool(s["return_reservation_id"], "return_reservation_id"):
        return JSONResponse({"reservation_id": first.get("reservation_id")}, status_code=202,
                            headers=rid_header)
    r = ServerRenderer(request, False)
    return JSONResponse({"server": {"id": first["id"], "links": r.links(first["id"]),
                                    "OS-DCF:diskConfig": "MANUAL",
                                    "security_groups": [{"name": "default"}]}},
                        status_code=202, headers={"Location": r.self_prefix + first["id"], **rid_header})


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
    else:
        await cloud.get_server(token, sid)  # nova: a missing server is 404 before a bad action's 400
        raise BadRequest(f"unsupported server action '{action}' (pocketstack has os-start, "
                         "os-stop, reboot, os-getConsoleOutput, os-getSerialConsole, os-resetState)")
    return Response(status_code=202, headers=await _action_request_id(cloud, token, sid, action))


_ACTION_NAMES = {"create": "create", "os-stop": "stop", "os-start": "start", "reboot": "reboot",
                 "delete": "delete", "attach_volume": "attach_volume", "detach_volume": "detach_volume"}


async def _action_request_id(cloud, token: str, sid: str, action: str) -> dict:
    """X-OpenStack-Request-Id as nova answers it: the request id of the instance action this
    call recorded, so `openstack server event list` and --debug output match."""
    want = _ACTION_NAMES.get(action)
    try:
        acts = await cloud.list_instance_actions(token, sid)
    except Exception:  # best effort: the generic request id stays
        return {}
    mine = [a for a in acts if a["action"] == want]
    if not mine:
        return {}
    latest = max(mine, key=lambda a: str(a.get("start_time") or ""))
    return {"X-OpenStack-Request-Id": latest["request_id"]}


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


async def actions_list(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    items = await cloud.list_instance_actions(token, sid)
    return JSONResponse({"instanceActions": [_action_view(a, False, False) for a in items]})


async def action_show(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    a = await cloud.get_instance_action(token, sid, request.path_params["req"])
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
    ]
