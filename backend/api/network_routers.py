"""Neutron v2.0's L3 resources under /network: routers (with add_router_interface and
remove_router_interface) and floating IPs, with neutron's fields, codes and NeutronError
bodies. Input is checked here for shape; the network service checks meaning."""
from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import (limit_marker, next_href, page, parse_object, read_json, token_of,
                                want_bool, want_str)
from backend.api.compute import is_uuid
from backend.api.network import _common, _matches, _project_ok
from backend.core.errors import BadRequest, NotFound


def router_view(r: dict) -> dict:
    return {**_common(r), "id": r["id"], "name": r["name"], "status": r["status"],
            "admin_state_up": r["admin_state_up"], "external_gateway_info": r["external_gateway_info"],
            "routes": [], "description": r.get("description") or ""}


def floatingip_view(f: dict) -> dict:
    return {**_common(f), "id": f["id"], "floating_network_id": f["floating_network_id"],
            "floating_ip_address": f["floating_ip_address"], "port_id": f["port_id"],
            "fixed_ip_address": f["fixed_ip_address"], "router_id": f["router_id"],
            "status": f["status"], "description": f.get("description") or ""}


def _uuid(obj: dict, key: str, where: str) -> str:
    v = obj.get(key)
    if not isinstance(v, str) or not is_uuid(v):
        raise BadRequest(f"Invalid input for {key}. Reason: {v!r} is not a valid UUID.")
    return v


def _ip(obj: dict, key: str) -> str | None:
    v = obj.get(key)
    if v is None:
        return None
    try:
        return str(ipaddress.ip_address(v))
    except (ValueError, TypeError):
        raise BadRequest(f"Invalid input for {key}. Reason: {v!r} is not a valid IP address.") from None


def _gateway(info) -> dict | None:
    """external_gateway_info: None or {} mean none."""
    if info is None or info == {}:
        return None
    if not isinstance(info, dict):
        raise BadRequest("Invalid input for external_gateway_info. Reason: it must be an object or null.")
    extra = sorted(set(info) - {"network_id", "enable_snat", "external_fixed_ips"})
    if extra:
        raise BadRequest(f"Invalid input for external_gateway_info. Reason: Unexpected keys supplied: {extra[0]}.")
    out = {"network_id": _uuid(info, "network_id", "external_gateway_info")}
    if "enable_snat" in info:
        out["enable_snat"] = want_bool(info["enable_snat"], "external_gateway_info.enable_snat")
    if "external_fixed_ips" in info:
        fixed = info["external_fixed_ips"]
        if not isinstance(fixed, list) or len(fixed) > 1 or not all(
                isinstance(f, dict) and set(f) <= {"subnet_id", "ip_address"} for f in fixed):
            raise BadRequest("Invalid input for external_fixed_ips. Reason: a list of at most one "
                             "{subnet_id, ip_address}.")
        if fixed:
            f = {"ip_address": _ip(fixed[0], "ip_address")}
            if fixed[0].get("subnet_id") is not None:
                f["subnet_id"] = _uuid(fixed[0], "subnet_id", "external_fixed_ips")
            out["external_fixed_ips"] = [f]
    return out


def _unsupported(obj: dict, kind: str, fixed: dict) -> None:
    for k, only in fixed.items():
        if k in obj and obj[k] != only:
            raise BadRequest(f"'{kind}.{k}' = {obj[k]!r} is not supported by pocketstack")


async def _list(request: Request, coll: str, rows: list[dict], view) -> Response:
    q = request.query_params
    limit, marker = limit_marker(request)
    items = [view(x) for x in rows]
    for key in set(q.keys()) - {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}:
        if key == "tenant_id":
            items = [i for i in items if i["project_id"] in q.getlist(key)]
        elif not items or key in items[0]:
            items = [i for i in items if _matches(i, key, q.getlist(key))]
    items, more = page(items, limit, marker)
    fields = q.getlist("fields")
    if fields:
        items = [{k: v for k, v in i.items() if k in fields} for i in items]
    body = {coll: items}
    if more and items and "id" in items[-1]:
        body[f"{coll}_links"] = [{"rel": "next", "href": next_href(request, items[-1]["id"], limit)}]
    return JSONResponse(body)


def _id(request: Request, kind: str) -> str:
    rid = request.path_params["id"]
    if not is_uuid(rid):
        label = {"router": "Router", "floatingip": "Floating IP"}[kind]
        raise NotFound(f"{label} {rid} could not be found.")
    return rid


def _shown(request: Request, kind: str, item: dict) -> Response:
    fields = request.query_params.getlist("fields")
    if fields:
        item = {k: v for k, v in item.items() if k in fields}
    return JSONResponse({kind: item})


# ---- routers --------------------------------------------------------------------------------
_ROUTER_FIXED = {"distributed": False, "ha": False, "availability_zone_hints": [],
                 "routes": []}


async def routers(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "GET":
        return await _list(request, "routers", await cloud.list_routers(token), router_view)
    r = parse_object(await read_json(request), "router", (
        "name", "description", "external_gateway_info", "tenant_id", "project_id", "admin_state_up",
        *_ROUTER_FIXED))
    _unsupported(r, "router", _ROUTER_FIXED)
    project = await _project_ok(request, r, "router")
    created = await cloud.create_router(token, want_str(r, "name", "router") or "",
                                        _gateway(r.get("external_gateway_info")), project,
                                        want_str(r, "description", "router") or "",
                                        want_bool(r.get("admin_state_up", True), "router.admin_state_up"))
    return JSONResponse({"router": router_view(created)}, status_code=201)


async def router_one(request: Request) -> Response:
    cloud, token, rid = request.app.state.cloud, token_of(request), _id(request, "router")
    if request.method == "DELETE":
        await cloud.delete_router(token, rid)
        return Response(status_code=204)
    if request.method == "PUT":
        r = parse_object(await read_json(request), "router", (
            "name", "description", "external_gateway_info", "admin_state_up", *_ROUTER_FIXED))
        _unsupported(r, "router", _ROUTER_FIXED)
        changes = {k: want_str(r, k, "router") or "" for k in ("name", "description") if k in r}
        if "admin_state_up" in r:
            changes["admin_state_up"] = want_bool(r["admin_state_up"], "router.admin_state_up")
        if "external_gateway_info" in r:
            changes["external_gateway_info"] = _gateway(r["external_gateway_info"])
        return JSONResponse({"router": router_view(await cloud.update_router(token, rid, changes))})
    return _shown(request, "router", router_view(await cloud.get_router(token, rid)))


def _interface(add: bool):
    async def handler(request: Request) -> Response:
        cloud, token, rid = request.app.state.cloud, token_of(request), _id(request, "router")
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object with subnet_id or port_id")
        extra = sorted(set(body) - {"subnet_id", "port_id"})
        if extra:
            raise BadRequest(f"Bad router request: unrecognized field '{extra[0]}'.")
        ids = {k: _uuid(body, k, "router") for k in ("subnet_id", "port_id") if body.get(k) is not None}
        fn = cloud.add_router_interface if add else cloud.remove_router_interface
        return JSONResponse(await fn(token, rid, ids.get("subnet_id"), ids.get("port_id")))
    return handler


# ---- floating IPs -------------------------------------------------------------------------
async def floatingips(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "GET":
        return await _list(request, "floatingips", await cloud.list_floatingips(token), floatingip_view)
    f = parse_object(await read_json(request), "floatingip", (
        "floating_network_id", "port_id", "fixed_ip_address", "floating_ip_address", "subnet_id",
        "description", "tenant_id", "project_id"), required=("floating_network_id",))
    net = _uuid(f, "floating_network_id", "floatingip")
    port = _uuid(f, "port_id", "floatingip") if f.get("port_id") is not None else None
    subnet = _uuid(f, "subnet_id", "floatingip") if f.get("subnet_id") is not None else None
    project = await _project_ok(request, f, "floatingip")
    created = await cloud.create_floatingip(token, net, port, _ip(f, "fixed_ip_address"),
                                            _ip(f, "floating_ip_address"), subnet,
                                            want_str(f, "description", "floatingip") or "", project)
    return JSONResponse({"floatingip": floatingip_view(created)}, status_code=201)


async def floatingip_one(request: Request) -> Response:
    cloud, token, fid = request.app.state.cloud, token_of(request), _id(request, "floatingip")
    if request.method == "DELETE":
        await cloud.delete_floatingip(token, fid)
        return Response(status_code=204)
    if request.method == "PUT":
        f = parse_object(await read_json(request), "floatingip", ("port_id", "fixed_ip_address", "description"))
        changes: dict = {}
        if "port_id" in f:
            changes["port_id"] = _uuid(f, "port_id", "floatingip") if f["port_id"] is not None else None
        if "fixed_ip_address" in f:
            changes["fixed_ip_address"] = _ip(f, "fixed_ip_address")
        if "description" in f:
            changes["description"] = want_str(f, "description", "floatingip") or ""
        return JSONResponse({"floatingip": floatingip_view(await cloud.update_floatingip(token, fid, changes))})
    return _shown(request, "floatingip", floatingip_view(await cloud.get_floatingip(token, fid)))


def routes() -> list[Route]:
    v = "/network/v2.0"
    return [
        Route(f"{v}/routers", routers, methods=["GET", "POST"]),
        Route(f"{v}/routers/{{id}}", router_one, methods=["GET", "PUT", "DELETE"]),
        Route(f"{v}/routers/{{id}}/add_router_interface", _interface(True), methods=["PUT"]),
        Route(f"{v}/routers/{{id}}/remove_router_interface", _interface(False), methods=["PUT"]),
        Route(f"{v}/floatingips", floatingips, methods=["GET", "POST"]),
        Route(f"{v}/floatingips/{{id}}", floatingip_one, methods=["GET", "PUT", "DELETE"]),
    ]
