"""Neutron v2.0 under /network: version document, networks, subnets and ports
(list with attribute filters, fields= and limit/marker; show; create; delete)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import network_create, network_update
from backend.api.common import (iso_us, limit_marker, next_href, page, parse_object, read_json,
                                token_of, url_for, want_bool, want_str)
from backend.api.compute import is_uuid
from backend.core.errors import BadRequest, CloudError, Forbidden, NotFound


async def versions(request: Request) -> Response:
    return JSONResponse({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"rel": "self", "href": url_for(request, "network", "v2.0") + "/"}]}]})


async def version_v2(request: Request) -> Response:
    return JSONResponse({"resources": [
        {"name": n, "collection": f"{n}s", "links": [
            {"rel": "self", "href": url_for(request, "network", "v2.0", f"{n}s")}]}
        for n in ("network", "subnet", "port", "router", "floatingip")]})


# only what pocketstack has: clients (and tempest) skip what is not listed
_EXTENSIONS = [
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    ("quota_details", "Quota details management support",
     "Expose functions for quotas usage statistics per project"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("ip-substring-filtering", "IP address substring filtering",
     "Provides IP address substring filtering when listing ports"),
    # stored and shown; the lab's network does not enforce the rules yet
    ("security-group", "security-group", "The security groups extension."),
    ("port-security", "Port Security", "Provides port security"),
    ("stateful-security-group", "Stateful security group",
     "Extension adding possibility to configure security groups to be stateful or not"),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks "
     "and access to external networks via a NAT gateway."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
     "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
]


def _extension(a: str, n: str, d: str) -> dict:
    return {"alias": a, "name": n, "description": d, "updated": "2017-01-01T10:00:00-00:00", "links": []}


async def extensions(request: Request) -> Response:
    token_of(request)
    return JSONResponse({"extensions": [_extension(*e) for e in _EXTENSIONS]})


async def extension_one(request: Request) -> Response:
    token_of(request)
    alias = request.path_params["alias"]
    for e in _EXTENSIONS:
        if e[0] == alias:
            return JSONResponse({"extension": _extension(*e)})
    raise NotFound(f"Extension with alias {alias} does not exist")


async def quotas(request: Request) -> Response:
    """/v2.0/quotas/{project} (and /details): GET (members their own project, admins any),
    PUT and DELETE (admins), as neutron; -1 is unlimited."""
    cloud, token, pid = request.app.state.cloud, token_of(request), request.path_params["project"]
    if request.method == "DELETE":
        await cloud.delete_quotas(token, pid, "network")
        return Response(status_code=204)
    if request.method == "PUT":
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"quota"} or not isinstance(body["quota"], dict):
            raise BadRequest("request body must be a JSON object with the key 'quota' (an object)")
        values = dict(body["quota"])
        # neutron's quota-check-limit: true refuses a limit under current usage (clients send false)
        check = want_bool(values.pop("check_limit", False), "quota.check_limit")
        got = await cloud.update_quotas(token, pid, "network", values, force=not check)
        return JSONResponse({"quota": {k: v["limit"] for k, v in got.items()}})
    got = await cloud.get_quotas(token, pid, "network")
    if request.url.path.endswith(("/details", "/details.json")):
        return JSONResponse({"quota": {k: {"limit": v["limit"], "used": v["in_use"], "reserved": 0}
                                       for k, v in got.items()}})
    return JSONResponse({"quota": {k: v["limit"] for k, v in got.items()}})


async def quota_defaults(request: Request) -> Response:
    got = await request.app.state.cloud.get_default_quotas(token_of(request), "network")
    return JSONResponse({"quota": got})


def _common(x: dict) -> dict:
    return {"tenant_id": x.get("project_id"), "project_id": x.get("project_id"),
            "description": "", "tags": [], "created_at": iso_us(x.get("created_at")),
            "updated_at": iso_us(x.get("updated_at") or x.get("created_at")), "revision_number": 1}


def network_view(n: dict) -> dict:
    return {"id": n["id"], "name": n["name"], "status": n.get("status", "ACTIVE"),
            "admin_state_up": n.get("admin_state_up", True), "shared": n.get("shared", False),
            "subnets": list(n.get("subnets") or []), "router:external": n.get("external", False), "mtu": 1500,
            "availability_zone_hints": [], "availability_zones": ["nova"],
            "ipv4_address_scope": None, "ipv6_address_scope": None,
            "port_security_enabled": True, "is_default": False, **_common(n),
            # neutron's provider attributes: the facade gives them to admins only, as its policy
            **{k: v for k, v in n.items() if k.startswith("provider:")}}


def subnet_view(s: dict) -> dict:
    return {"id": s["id"], "name": s.get("name", ""), "network_id": s["network_id"],
            "cidr": s["cidr"], "gateway_ip": s.get("gateway_ip"), "ip_version": s.get("ip_version", 4),
            "allocation_pools": s.get("allocation_pools") or [], "enable_dhcp": s.get("enable_dhcp", True),
            "dns_nameservers": list(s.get("dns_nameservers") or []),
            "host_routes": list(s.get("host_routes") or []), "ipv6_ra_mode": s.get("ipv6_ra_mode"),
            "ipv6_address_mode": s.get("ipv6_address_mode"), "subnetpool_id": None, "service_types": [],
            **_common(s)}


def port_view(p: dict) -> dict:
    return {"id": p["id"], "name": p.get("name", ""), "network_id": p["network_id"],
            "mac_address": p["mac_address"], "fixed_ips": p.get("fixed_ips") or [],
            "device_id": p.get("device_id") or "", "device_owner": p.get("device_owner") or "",
            "binding:host_id": p.get("binding_host_id") or "", "binding:vnic_type": "normal",
            "binding:vif_type": p.get("binding:vif_type") or (
                "bridge" if p.get("binding_host_id") else "unbound"),
            "binding:vif_details": {}, "binding:profile": {},
            "status": p.get("status", "DOWN"), "admin_state_up": p.get("admin_state_up", True),
            "security_groups": list(p.get("security_groups") or []),
            "allowed_address_pairs": [], "extra_dhcp_opts": [],
            "port_security_enabled": p.get("port_security_enabled", True),
            **_common(p)}


# neutron's policy shows a port's binding (which host, how it is wired) to admins only
ADMIN_ONLY_PORT_KEYS = ("binding:host_id", "binding:vif_type", "binding:vif_details",
                        "binding:profile")


async def hide_admin_only(request: Request, kind: str, items: list[dict]) -> list[dict]:
    """Drop what neutron's policy shows admins only: a member never learns host names."""
    if kind != "port" or not items:
        return items
    t = await request.app.state.cloud.validate_token(token_of(request))
    if t.get("is_admin"):
        return items
    return [{k: v for k, v in i.items() if k not in ADMIN_ONLY_PORT_KEYS} for i in items]


KINDS = {
    "network": ("networks", network_view, "list_networks", "get_network", "delete_network"),
    "subnet": ("subnets", subnet_view, "list_subnets", "get_subnet", "delete_subnet"),
    "port": ("ports", port_view, "list_ports", "get_port", "delete_port"),
}
# filters the services understand; every other attribute is matched here on the view
_SERVICE_FILTERS = ("name", "network_id", "device_id", "project_id", "shared")


def _fixed_ip_matches(fixed_ips: list[dict], wanted: str) -> bool:
    """neutron's ?fixed_ips=ip_address=A | subnet_id=S | ip_address_substr=P filter."""
    k, sep, val = wanted.partition("=")
    if not sep or k not in ("ip_address", "subnet_id", "ip_address_substr"):
        raise BadRequest(f"invalid fixed_ips filter {wanted!r}: ip_address=, subnet_id= or "
                         "ip_address_substr=")
    if k == "ip_address_substr":
        return any(val in (f.get("ip_address") or "") for f in fixed_ips)
    return any(f.get(k) == val for f in fixed_ips)


def _matches(item: dict, key: str, values: list[str]) -> bool:
    v = item.get(key)
    if isinstance(v, bool):
        v = str(v)
    elif key == "fixed_ips":
        return all(_fixed_ip_matches(v or [], x) for x in values)
    return str(v) in values or (isinstance(item.get(key), bool) and
                                str(item[key]).lower() in [x.lower() for x in values])


async def _list(request: Request, kind: str) -> Response:
    coll, view, list_fn, _, _ = KINDS[kind]
    cloud, token, q = request.app.state.cloud, token_of(request), request.query_params
    limit, marker = limit_marker(request)
    sfilters = {k: q[k] for k in _SERVICE_FILTERS if q.get(k)}
    if q.get("tenant_id"):
        sfilters["project_id"] = q["tenant_id"]
    if "shared" in sfilters:
        sfilters["shared"] = want_bool(sfilters["shared"], "shared")
    items = await hide_admin_only(
        request, kind, [view(x) for x in await getattr(cloud, list_fn)(token, sfilters)])
    for key in set(q.keys()) - {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}:
        if items and key not in items[0]:
            continue
        items = [i for i in items if _matches(i, key, q.getlist(key))]
    items, more = page(items, limit, marker)
    fields = q.getlist("fields")
    if fields:
        items = [{k: v for k, v in i.items() if k in fields} for i in items]
    body = {coll: items}
    if more and items and "id" in items[-1]:
        body[f"{coll}_links"] = [{"rel": "next", "href": next_href(request, items[-1]["id"], limit)}]
    return JSONResponse(body)


async def _show_or_delete(request: Request, kind: str) -> Response:
    coll, view, _, get_fn, del_fn = KINDS[kind]
    cloud, token, rid = request.app.state.cloud, token_of(request), request.path_params["id"]
    if not is_uuid(rid):
        # names are not ids: the clients fall back to ?name= on this 404
        raise NotFound(f"{kind.capitalize()} {rid} could not be found.")
    if request.method == "DELETE":
        await getattr(cloud, del_fn)(token, rid)
        return Response(status_code=204)
    (item,) = await hide_admin_only(request, kind, [view(await getattr(cloud, get_fn)(token, rid))])
    fields = request.query_params.getlist("fields")
    if fields:
        item = {k: v for k, v in item.items() if k in fields}
    return JSONResponse({kind: item})


async def _project_ok(request: Request, obj: dict, where: str) -> str | None:
    """The project a body names (project_id or its old name tenant_id). Only an admin may
    name another project than the token's (neutron: 403 for others)."""
    named = {k: want_str(obj, k, where, empty=False) for k in ("tenant_id", "project_id")
             if obj.get(k) is not None}
    if len(set(named.values())) > 1:
        raise BadRequest(f"'{where}.project_id' and '{where}.tenant_id' name different projects")
    if not named:
        return None
    (key, pid), = list(named.items())[-1:]
    t = await request.app.state.cloud.validate_token(token_of(request))
    if not t.get("is_admin") and pid != (t.get("project") or {}).get("id"):
        raise Forbidden(f"only an admin may give '{where}.{key}' another project than the token's")
    return pid


async def _create_network(request: Request, body) -> dict:
    n = parse_object(body, "network", (
        "name", "admin_state_up", "shared", "description", "tenant_id", "project_id",
        "router:external", "port_security_enabled", "mtu", "availability_zone_hints",
        "dns_domain", "is_default"))
    name = want_str(n, "name", "network") or ""
    shared = want_bool(n.get("shared", False), "network.shared")
    external = want_bool(n.get("router:external", False), "network.router:external")
    for k, ok in (("admin_state_up", True), ("port_security_enabled", True), ("is_default", False)):
        if k in n and want_bool(n[k], f"network.{k}") != ok:
            raise BadRequest(f"'network.{k}' = {n[k]!r} is not supported by pocketstack")
    if n.get("availability_zone_hints") not in (None, []):
        raise BadRequest("'network.availability_zone_hints' is not supported by pocketstack")
    if n.get("mtu") not in (None, 1500):
        raise BadRequest("'network.mtu' must be 1500")
    project = await _project_ok(request, n, "network")
    created = await request.app.state.cloud.create_network(token_of(request), name, shared, project, external)
    return network_view(created)


def _collection(kind: str, create):
    """GET lists; POST creates one ({kind: {...}}) or several ({kinds: [...]}, neutron's bulk
    create: all or nothing, so what was made before a failure is deleted again)."""
    plural = f"{kind}s"

    async def handler(request: Request) -> Response:
        if request.method == "GET":
            return await _list(request, kind)
        body = await read_json(request)
        if not (isinstance(body, dict) and plural in body):
            return JSONResponse({kind: await create(request, body)}, status_code=201)
        items = body[plural]
        if set(body) != {plural} or not isinstance(items, list) or not items:
            raise BadRequest(f"request body must be {{'{plural}': [...]}} with at least one {kind}")
        made: list[dict] = []
        try:
            for item in items:
                made.append(await create(request, {kind: item}))
        except Exception:
            delete = getattr(request.app.state.cloud, f"delete_{kind}")
            for m in reversed(made):
                try:
                    await delete(token_of(request), m["id"])
                except CloudError:
                    pass
            raise
        return JSONResponse({plural: made}, status_code=201)
    return handler


def routes() -> list[Route]:
    v = "/network/v2.0"

    def one(kind):
        async def handler(request: Request) -> Response:
            return await _show_or_delete(request, kind)
        return handler

    return [
        Route("/network", versions, methods=["GET"]),
        Route(v, version_v2, methods=["GET"]),
        Route(f"{v}/extensions", extensions, methods=["GET"]),
        Route(f"{v}/extensions/{{alias}}", extension_one, methods=["GET"]),
        Route(f"{v}/quotas/{{project}}", quotas, methods=["GET", "PUT", "DELETE"]),
        Route(f"{v}/quotas/{{project}}/default", quota_defaults, methods=["GET"]),
        Route(f"{v}/quotas/{{project}}/details.json", quotas, methods=["GET"]),
        Route(f"{v}/quotas/{{project}}/details", quotas, methods=["GET"]),
        Route(f"{v}/networks", _collection("network", _create_network), methods=["GET", "POST"]),
        Route(f"{v}/networks/{{id}}", one("network"), methods=["GET", "DELETE"]),
        Route(f"{v}/networks/{{id}}", network_update.update_network, methods=["PUT"]),
        Route(f"{v}/subnets/{{id}}", network_update.update_subnet, methods=["PUT"]),
        Route(f"{v}/ports/{{id}}", network_update.update_port, methods=["PUT"]),
        Route(f"{v}/subnets", _collection("subnet", network_create.create_subnet), methods=["GET", "POST"]),
        Route(f"{v}/subnets/{{id}}", one("subnet"), methods=["GET", "DELETE"]),
        Route(f"{v}/ports", _collection("port", network_create.create_port), methods=["GET", "POST"]),
        Route(f"{v}/ports/{{id}}", one("port"), methods=["GET", "DELETE"]),
    ]
