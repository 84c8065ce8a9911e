"""Nova 2.1's proxy to neutron's security groups: /os-security-groups,
/os-security-group-rules, /servers/{id}/os-security-groups and the addSecurityGroup and
removeSecurityGroup actions, answering as nova does on top of neutron (neutron's 409s become
nova's 400s). Gone from microversion 2.36 on (backend/api/microversion.py). The rules are
stored and shown; the network does not enforce them yet."""
from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import check_fields, parse_object, read_json, token_of, want_bool
from backend.api.compute import _server_id, is_uuid
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound, OverQuota


def _rule(r: dict, groups: dict) -> dict:
    """nova's rule view of a neutron ingress rule."""
    proto = r["protocol"]
    lo, hi = r["port_range_min"], r["port_range_max"]
    if proto and lo is None and hi is None:
        lo, hi = (1, 65535) if proto.upper() in ("TCP", "UDP") else (-1, -1)
    out = {"id": r["id"], "parent_group_id": r["security_group_id"], "ip_protocol": proto,
           "from_port": lo, "to_port": hi, "group": {}, "ip_range": {}}
    if r["remote_group_id"]:
        g = groups.get(r["remote_group_id"]) or {}
        out["group"] = {"name": g.get("name"), "tenant_id": g.get("project_id")}
    elif r["remote_ip_prefix"]:
        out["ip_range"] = {"cidr": r["remote_ip_prefix"]}
    return out


def group_view(g: dict, groups: dict) -> dict:
    return {"id": g["id"], "name": g["name"], "description": g["description"], "tenant_id": g["project_id"],
            "rules": [_rule(r, groups) for r in g["rules"] if r["direction"] == "ingress"]}


async def _names(request: Request) -> dict:
    return {g["id"]: g for g in await request.app.state.cloud.list_security_groups(token_of(request))}


def _group_id(request: Request) -> str:
    gid = request.path_params["id"]
    if not is_uuid(gid):
        raise NotFound(f"Security group {gid} not found.")
    return gid


def _text(obj: dict, field: str) -> str:
    """nova's validate_property: a string, at most 255 characters, a name not blank."""
    v = obj.get(field)
    if not isinstance(v, str):
        raise BadRequest(f"Security group {field} is not a string or unicode")
    if field == "name" and not v.strip():
        raise BadRequest("Security group name cannot be empty")
    if len(v) > 255:
        raise BadRequest(f"Security group {field} should not be greater than 255 characters")
    return v


async def groups(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "DELETE":  # no id (nova routes it nowhere)
        raise NotFound("Security group  not found.")
    if request.method == "GET":
        listed = await cloud.list_security_groups(token)
        everyone = want_bool(request.query_params.get("all_tenants", "0"), "all_tenants")
        if not everyone:  # an admin sees every project's only when asking for all_tenants
            pid = ((await cloud.validate_token(token)).get("project") or {}).get("id")
            listed = [g for g in listed if g["project_id"] == pid]
        by_id = {g["id"]: g for g in listed}
        return JSONResponse({"security_groups": [group_view(g, by_id) for g in listed]})
    g = parse_object(await read_json(request), "security_group", ("name", "description"))
    name, desc = _text(g, "name"), _text(g, "description") if g.get("description") is not None else ""
    try:
        made = await cloud.create_security_group(token, name, desc)
    except Conflict as e:  # neutron's 409 (a second 'default'): nova's 400
        raise BadRequest(e.message) from None
    except OverQuota as e:  # nova's SecurityGroupLimitExceeded
        raise Forbidden(f"Quota exceeded, too many security groups. {e.message}") from None
    return JSONResponse({"security_group": group_view(made, await _names(request))})


async def group_one(request: Request) -> Response:
    cloud, token, gid = request.app.state.cloud, token_of(request), _group_id(request)
    try:
        if request.method == "DELETE":
            await cloud.delete_security_group(token, gid)
            return Response(status_code=202)
        if request.method == "PUT":
            g = parse_object(await read_json(request), "security_group", ("name", "description"))
            changes = {k: _text(g, k) for k in ("name", "description") if k in g}
            got = await cloud.update_security_group(token, gid, changes)
        else:
            got = await cloud.get_security_group(token, gid)
    except NotFound:
        raise NotFound(f"Security group {gid} not found.") from None
    except Conflict as e:  # the default group, or one in use: nova's 400
        raise BadRequest(e.message) from None
    return JSONResponse({"security_group": group_view(got, await _names(request))})


def _port(v, proto: str, which: str) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        if proto == "ICMP":
            raise BadRequest("Type and Code must be integers for ICMP protocol type") from None
        raise BadRequest("To and From ports must be integers") from None


async def rules(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    r = parse_object(await read_json(request), "security_group_rule",
                     ("parent_group_id", "ip_protocol", "from_port", "to_port", "cidr", "group_id"))
    parent = r.get("parent_group_id")
    if not isinstance(parent, str) or not is_uuid(parent):
        raise BadRequest(f"Security group id should be uuid: {parent!r}")
    group_id, cidr = r.get("group_id"), r.get("cidr")
    if group_id is not None and (not isinstance(group_id, str) or not is_uuid(group_id)):
        raise BadRequest(f"Security group id should be uuid: {group_id!r}")
    proto, lo, hi = r.get("ip_protocol"), r.get("from_port"), r.get("to_port")
    if proto is None or lo is None or hi is None:
        raise BadRequest("Not enough parameters to build a valid rule.")
    proto = str(proto)
    up = proto.upper()
    lo, hi = _port(lo, up, "from_port"), _port(hi, up, "to_port")
    if up not in ("TCP", "UDP", "ICMP"):
        raise BadRequest(f"Invalid IP protocol {proto}.")
    if up in ("TCP", "UDP") and lo > hi:
        raise BadRequest(f"Invalid port range {lo}:{hi}. Former value cannot be greater than the later")
    if up in ("TCP", "UDP") and (lo < 1 or hi > 65535):
        raise BadRequest(f"Invalid port range {lo}:{hi}. Valid TCP ports should be between 1-65535")
    if up == "ICMP" and not (-1 <= lo <= 255 and -1 <= hi <= 255):
        raise BadRequest(f"Invalid port range {lo}:{hi}. For ICMP, the type:code must be valid")
    if up == "ICMP":  # -1: any type / code (neutron's none)
        lo, hi = (None if lo == -1 else lo), (None if hi == -1 or lo == -1 else hi)
    if group_id is None:
        cidr = "0.0.0.0/0" if cidr in (None, "") else cidr
        try:
            net = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            raise BadRequest(f"Invalid cidr {cidr}.") from None
        ether = f"IPv{net.version}"
    else:
        cidr, ether = None, "IPv4"
    try:
        made = await cloud.create_security_group_rule(token, parent, "ingress", ether, up.lower(), lo, hi,
                                                      None if group_id else str(cidr), group_id)
    except OverQuota as e:  # before Conflict, whose kind it is
        raise Forbidden(f"Quota exceeded, too many security group rules. {e.message}") from None
    except Conflict as e:  # neutron's SecurityGroupRuleExists: nova's 400
        raise BadRequest(e.message) from None
    return JSONResponse({"security_group_rule": _rule(made, await _names(request))})


async def rule_one(request: Request) -> Response:
    rid = request.path_params["id"]
    if not is_uuid(rid):
        raise NotFound(f"Security group rule {rid} not found.")
    await request.app.state.cloud.delete_security_group_rule(token_of(request), rid)
    return Response(status_code=202)


async def server_groups(request: Request) -> Response:
    cloud, token, sid = request.app.state.cloud, token_of(request), _server_id(request)
    got = await cloud.list_server_security_groups(token, sid)
    names = await _names(request)
    return JSONResponse({"security_groups": [group_view(g, names) for g in got]})


async def server_action(request: Request, sid: str, action: str, arg) -> Response:
    """addSecurityGroup / removeSecurityGroup: {"name": group name or id} → 202."""
    if not isinstance(arg, dict):
        raise BadRequest(f"'{action}' must be an object like {{\"name\": \"web\"}}")
    check_fields(arg, ("name",), action)
    name = arg.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest(f"'{action}.name' must be a security group's name")
    cloud, token = request.app.state.cloud, token_of(request)
    try:
        if action == "addSecurityGroup":
            await cloud.add_server_security_group(token, sid, name)
        else:
            await cloud.remove_server_security_group(token, sid, name)
    except Conflict as e:  # a name two groups share
        raise BadRequest(e.message) from None
    return Response(status_code=202)


SERVER_ACTIONS = ("addSecurityGroup", "removeSecurityGroup")


def routes() -> list[Route]:
    v = "/compute/v2.1"
    return [
        Route(f"{v}/os-security-groups", groups, methods=["GET", "POST", "DELETE"]),
        Route(f"{v}/os-security-groups/{{id}}", group_one, methods=["GET", "PUT", "DELETE"]),
        Route(f"{v}/os-security-group-rules", rules, methods=["POST"]),
        Route(f"{v}/os-security-group-rules/{{id}}", rule_one, methods=["DELETE"]),
        Route(f"{v}/servers/{{id}}/os-security-groups", server_groups, methods=["GET"]),
    ]
