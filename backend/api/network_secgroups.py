"""Neutron v2.0's /security-groups and /security-group-rules (list with attribute filters,
fields= and limit/marker; show; create, also in bulk; update; delete). The rules are stored
and shown; the network does not enforce them yet (docs/conformance.md)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import network
from backend.api.common import (iso_us, limit_marker, next_href, page, parse_object, read_json, token_of,
                                want_bool, want_str)
from backend.api.compute import is_uuid
from backend.core.errors import BadRequest, NotFound


def rule_view(r: dict) -> dict:
    return {"id": r["id"], "security_group_id": r["security_group_id"], "direction": r["direction"],
            "ethertype": r["ethertype"], "protocol": r["protocol"],
            "port_range_min": r["port_range_min"], "port_range_max": r["port_range_max"],
            "remote_ip_prefix": r["remote_ip_prefix"], "remote_group_id": r["remote_group_id"],
            "remote_address_group_id": None, "normalized_cidr": r["remote_ip_prefix"],
            "description": r.get("description") or "", "tenant_id": r["project_id"],
            "project_id": r["project_id"], "revision_number": r.get("revision_number", 1),
            "created_at": iso_us(r["created_at"]), "updated_at": iso_us(r["updated_at"]), "tags": []}


def group_view(g: dict) -> dict:
    return {"id": g["id"], "name": g["name"], "description": g["description"], "stateful": g["stateful"],
            "shared": False, "tenant_id": g["project_id"], "project_id": g["project_id"],
            "security_group_rules": [rule_view(r) for r in g["rules"]],
            "revision_number": g["revision_number"], "created_at": iso_us(g["created_at"]),
            "updated_at": iso_us(g["updated_at"]), "tags": []}


KINDS = {"security_group": ("security_groups", group_view, "list_security_groups", "get_security_group",
                            "delete_security_group"),
         "security_group_rule": ("security_group_rules", rule_view, "list_security_group_rules",
                                 "get_security_group_rule", "delete_security_group_rule")}


async def _list(request: Request, kind: str) -> Response:
    coll, view, list_fn, _, _ = KINDS[kind]
    cloud, token, q = request.app.state.cloud, token_of(request), request.query_params
    limit, marker = limit_marker(request)
    items = [view(x) for x in await getattr(cloud, list_fn)(token)]
    for key in set(q.keys()) - {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}:
        if items and key not in items[0]:
            continue
        items = [i for i in items if network._matches(i, key, q.getlist(key))]
    items, more = page(items, limit, marker)
    fields = q.getlist("fields")
    if fields:
        items = [{k: v for k, v in i.items() if k in fields} for i in items]
    body = {coll: items}
    if more and items and "id" in items[-1]:
        body[f"{coll}_links"] = [{"rel": "next", "href": next_href(request, items[-1]["id"], limit)}]
    return JSONResponse(body)


def _one(kind: str):
    async def handler(request: Request) -> Response:
        _, view, _, get_fn, del_fn = KINDS[kind]
        cloud, token, rid = request.app.state.cloud, token_of(request), request.path_params["id"]
        if not is_uuid(rid):
            raise NotFound(f"{' '.join(kind.split('_')).capitalize()} {rid} does not exist")
        if request.method == "DELETE":
            await getattr(cloud, del_fn)(token, rid)
            return Response(status_code=204)
        if request.method == "PUT":
            return JSONResponse({kind: view(await _update_group(request, rid))})
        item = view(await getattr(cloud, get_fn)(token, rid))
        fields = request.query_params.getlist("fields")
        if fields:
            item = {k: v for k, v in item.items() if k in fields}
        return JSONResponse({kind: item})
    return handler


def _listing(kind: str, create):
    bulk = network._collection(kind, create)

    async def handler(request: Request) -> Response:
        if request.method == "GET":
            return await _list(request, kind)
        return await bulk(request)
    return handler


async def _create_group(request: Request, body) -> dict:
    g = parse_object(body, "security_group", ("name", "description", "stateful", "tenant_id", "project_id"))
    name = want_str(g, "name", "security_group") or ""
    desc = want_str(g, "description", "security_group") or ""
    stateful = want_bool(g.get("stateful", True), "security_group.stateful")
    project = await network._project_ok(request, g, "security_group")
    made = await request.app.state.cloud.create_security_group(token_of(request), name, desc, stateful, project)
    return group_view(made)


async def _update_group(request: Request, rid: str) -> dict:
    g = parse_object(await read_json(request), "security_group", ("name", "description", "stateful"))
    changes = {k: want_str(g, k, "security_group") or "" for k in ("name", "description") if k in g}
    if "stateful" in g:
        changes["stateful"] = want_bool(g["stateful"], "security_group.stateful")
    return await request.app.state.cloud.update_security_group(token_of(request), rid, changes)


async def _create_rule(request: Request, body) -> dict:
    r = parse_object(body, "security_group_rule", (
        "security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
        "remote_ip_prefix", "remote_group_id", "remote_address_group_id", "description", "tenant_id",
        "project_id"), required=("security_group_id", "direction"))
    sg = want_str(r, "security_group_id", "security_group_rule", empty=False)
    if not is_uuid(sg):
        raise NotFound(f"Security group {sg} does not exist")
    if r.get("remote_address_group_id") is not None:
        raise BadRequest("'security_group_rule.remote_address_group_id': address groups do not exist "
                         "in pocketstack")
    await network._project_ok(request, r, "security_group_rule")
    made = await request.app.state.cloud.create_security_group_rule(
        token_of(request), sg, r["direction"], r.get("ethertype", "IPv4"), r.get("protocol"),
        r.get("port_range_min"), r.get("port_range_max"), r.get("remote_ip_prefix"), r.get("remote_group_id"),
        r.get("description") or "")
    return rule_view(made)


def routes() -> list[Route]:
    v = "/network/v2.0"
    return [
        Route(f"{v}/security-groups", _listing("security_group", _create_group), methods=["GET", "POST"]),
        Route(f"{v}/security-groups/{{id}}", _one("security_group"), methods=["GET", "PUT", "DELETE"]),
        Route(f"{v}/security-group-rules", _listing("security_group_rule", _create_rule),
              methods=["GET", "POST"]),
        Route(f"{v}/security-group-rules/{{id}}", _one("security_group_rule"), methods=["GET", "DELETE"]),
    ]
