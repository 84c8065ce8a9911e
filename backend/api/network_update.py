"""Neutron v2.0's PUT /networks/{id}, /subnets/{id}, /ports/{id}: the attributes pocketstack
keeps change; one it cannot honour is refused with 400 naming it, never dropped."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api.common import parse_object, read_json, token_of, want_bool, want_str
from backend.api.compute import is_uuid
from backend.core.errors import BadRequest, NotFound

# attribute -> the only value pocketstack has (accepted when a client sends it unchanged)
_FIXED = {"admin_state_up": True, "description": "", "port_security_enabled": True}
# what a kind keeps itself (a port's admin_state_up and port_security_enabled can change)
_OWN = {"network": (), "subnet": (), "port": ("admin_state_up", "port_security_enabled")}


def _fixed(obj: dict, kind: str) -> None:
    for k, only in _FIXED.items():
        if k in obj:
            v = want_bool(obj[k], f"{kind}.{k}") if isinstance(only, bool) else obj[k]
            if v != only:
                raise BadRequest(f"'{kind}.{k}' = {obj[k]!r} is not supported by pocketstack")


async def _update(request: Request, kind: str, allowed: tuple, convert) -> Response:
    from backend.api.network import hide_admin_only, network_view, port_view, subnet_view
    rid = request.path_params["id"]
    if not is_uuid(rid):
        raise NotFound(f"{kind.capitalize()} {rid} could not be found.")
    obj = parse_object(await read_json(request), kind, allowed + tuple(k for k in _FIXED if k in allowed)
                       + _OWN[kind])
    _fixed({k: v for k, v in obj.items() if k not in _OWN[kind]}, kind)
    changes = convert(obj)
    cloud, token = request.app.state.cloud, token_of(request)
    got = await getattr(cloud, f"update_{kind}")(token, rid, changes)
    view = {"network": network_view, "subnet": subnet_view, "port": port_view}[kind](got)
    (view,) = await hide_admin_only(request, kind, [view])
    return JSONResponse({kind: view})


def _name(obj: dict, kind: str) -> dict:
    return {"name": want_str(obj, "name", kind) or ""} if "name" in obj else {}


async def update_network(request: Request) -> Response:
    def convert(n):
        out = _name(n, "network")
        if "shared" in n:
            out["shared"] = want_bool(n["shared"], "network.shared")
        if "router:external" in n:
            out["external"] = want_bool(n["router:external"], "network.router:external")
        return out
    return await _update(request, "network", ("name", "shared", "router:external", "admin_state_up",
                                              "description", "port_security_enabled"), convert)


async def update_subnet(request: Request) -> Response:
    def convert(s):
        out = _name(s, "subnet")
        if "gateway_ip" in s:
            out["gateway_ip"] = (None if s["gateway_ip"] is None
                                 else want_str(s, "gateway_ip", "subnet", empty=False))
        for k in ("dns_nameservers", "host_routes", "allocation_pools"):
            if k in s:
                out[k] = s[k]  # the network service checks them
        if "enable_dhcp" in s:
            out["enable_dhcp"] = want_bool(s["enable_dhcp"], "subnet.enable_dhcp")
        return out
    return await _update(request, "subnet", ("name", "gateway_ip", "dns_nameservers", "host_routes",
                                             "allocation_pools", "enable_dhcp", "description"), convert)


async def update_port(request: Request) -> Response:
    def convert(p):
        out = _name(p, "port")
        if "binding:host_id" in p:
            out["binding_host"] = want_str(p, "binding:host_id", "port")
        if "security_groups" in p:
            groups = p["security_groups"]
            if groups is not None and not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)):
                raise BadRequest("'port.security_groups' must be a list of security group ids")
            out["security_groups"] = groups or []
        if "port_security_enabled" in p:
            out["port_security_enabled"] = want_bool(p["port_security_enabled"], "port.port_security_enabled")
        if "admin_state_up" in p:
            out["admin_state_up"] = want_bool(p["admin_state_up"], "port.admin_state_up")
        if "fixed_ips" in p:
            out["fixed_ips"] = p["fixed_ips"]  # the network service checks them (backend/network/fixed_ips.py)
        return out
    return await _update(request, "port", ("name", "description", "binding:host_id", "security_groups",
                                           "fixed_ips"), convert)
