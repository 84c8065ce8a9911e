"""Nova v2.1, the rest: flavors, os-server-groups, limits, availability zones (os-hypervisors:
compute_hypervisors, routed here)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import (base, limit_marker, next_href, page, read_json, read_object,
                                token_of, want_bool, want_int, want_str)
from backend.api import microversion
from backend.api.compute import ServerRenderer, _server_id, access_ips, is_admin, is_uuid
from backend.api.compute_hosts import hypervisor_statistics
from backend.api.compute_hypervisors import (hypervisor_one, hypervisor_search, hypervisor_uptime,  # noqa: F401
                                             hypervisor_view, hypervisors, hypervisors_pocketstack)
from backend.api.flavor_specs import flavor_extra_spec, flavor_extra_specs
from backend.core.errors import BadRequest, CloudError, NotFound

V = "/compute/v2.1"


# ---- flavors --------------------------------------------------------------------------
def _flavor_links(request: Request, fid: str) -> list[dict]:
    root = base(request)
    return [{"rel": "self", "href": f"{root}/compute/v2.1/flavors/{fid}"},
            {"rel": "bookmark", "href": f"{root}/compute/flavors/{fid}"}]


def flavor_view(request: Request, f: dict, detail: bool = True) -> dict:
    fid = str(f["id"])
    out = {"id": fid, "name": f["name"], "links": _flavor_links(request, fid)}
    if detail:
        # before 2.75 nova shows a flavor without swap as ""
        out.update({"ram": f["ram"], "vcpus": f["vcpus"], "disk": f["disk"], "swap": f.get("swap") or "",
                    "OS-FLV-EXT-DATA:ephemeral": f.get("ephemeral", 0), "OS-FLV-DISABLED:disabled": False,
                    "os-flavor-access:is_public": f.get("is_public", True),
                    "rxtx_factor": f.get("rxtx_factor", 1.0)})
    return out


async def _flavors(request: Request, detail: bool) -> Response:
    cloud, token, q = request.app.state.cloud, token_of(request), request.query_params
    limit, marker = limit_marker(request)
    # nova: is_public is the admins' to choose (default: public and shared with their project;
    # 'none': all); members always get the public flavors and those shared with them
    pub = None
    if await is_admin(request, token):
        pub = True
        if "is_public" in q:
            pub = None if q["is_public"].strip().lower() == "none" else _flavor_bool(q["is_public"])
    items = await cloud.list_flavors(token, pub)
    for key, field in (("minRam", "ram"), ("minDisk", "disk")):
        if key in q:
            m = want_int(q[key], key, minimum=0)
            items = [f for f in items if f[field] >= m]
    items = [{**f, "id": str(f["id"])} for f in items]
    items, more = page(items, limit, marker)
    body = {"flavors": [flavor_view(request, f, detail) for f in items]}
    if more and items:
        body["flavors_links"] = [{"rel": "next", "href": next_href(request, items[-1]["id"], limit)}]
    return JSONResponse(body)


# oslo's bool_from_string(strict=True), which nova's flavor list uses for is_public
_TRUE, _FALSE = ("1", "t", "true", "on", "y", "yes"), ("0", "f", "false", "off", "n", "no")


def _flavor_bool(v: str) -> bool:
    if v.strip().lower() in _TRUE + _FALSE:
        return v.strip().lower() in _TRUE
    raise BadRequest(f"Invalid is_public filter [{v}]")


async def flavors(request: Request) -> Response:
    if request.method == "POST":
        return await flavor_create(request)
    return await _flavors(request, False)


async def flavors_detail(request: Request) -> Response:
    return await _flavors(request, True)


async def flavor_create(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    f = await read_object(request, "flavor", ("name", "ram", "vcpus", "disk", "id", "swap",
                                              "OS-FLV-EXT-DATA:ephemeral", "rxtx_factor",
                                              "os-flavor-access:is_public", "description"),
                          required=("name", "ram", "vcpus", "disk"))
    name = want_str(f, "name", "flavor", empty=False)
    ram = want_int(f["ram"], "flavor.ram", minimum=1, maximum=2 ** 31 - 1)
    vcpus = want_int(f["vcpus"], "flavor.vcpus", minimum=1, maximum=2 ** 31 - 1)
    disk = want_int(f["disk"], "flavor.disk", minimum=0, maximum=2 ** 31 - 1)
    # nova's flavor_param_non_negative: an integer, or a string of digits
    swap, eph = (want_int(f.get(k) if f.get(k) not in (None, "") else 0, f"flavor.{k}", minimum=0,
                          maximum=2 ** 31 - 1) for k in ("swap", "OS-FLV-EXT-DATA:ephemeral"))
    rxtx = f.get("rxtx_factor", 1.0)
    if isinstance(rxtx, bool) or not isinstance(rxtx, (int, float)) or not 0 < rxtx <= 3.40282e38:
        raise BadRequest("'flavor.rxtx_factor' must be a number greater than 0")
    fid = f.get("id")
    if isinstance(fid, int) and not isinstance(fid, bool):
        # nova takes an integer id and keeps it as its string
        fid = str(want_int(fid, "flavor.id", minimum=0, maximum=2 ** 31 - 1))
    elif fid is not None:
        fid = want_str(f, "id", "flavor", empty=False)
        if fid == "auto":
            fid = None
    pub = want_bool(f.get("os-flavor-access:is_public", True), "flavor.os-flavor-access:is_public")
    created = await cloud.create_flavor(token, name, vcpus, ram, disk, fid, pub, swap, eph, float(rxtx))
    return JSONResponse({"flavor": flavor_view(request, created)})


async def flavor_one(request: Request) -> Response:
    cloud, token, fid = request.app.state.cloud, token_of(request), request.path_params["id"]
    f = await cloud.get_flavor(token, fid)
    if str(f["id"]) != fid:
        raise NotFound(f"Flavor {fid} could not be found.")
    if request.method == "DELETE":
        await cloud.delete_flavor(token, fid)
        return Response(status_code=202)
    return JSONResponse({"flavor": flavor_view(request, f)})


# ---- PUT /servers/{id} -----------------------------------------------------------------
async def server_update(request: Request) -> Response:
    """nova's update: the name, the access IPs and (2.19) the description. A missing server
    is 404 before any look at the body, as nova."""
    cloud, token, sid = request.app.state.cloud, token_of(request), request.path_params["id"]
    await cloud.get_server(token, sid)
    s = await read_object(request, "server", ("name", "accessIPv4", "accessIPv6")
                          + ("description",) * microversion.at_least(request, "2.19"))
    name = want_str(s, "name", "server", empty=False) if "name" in s else None
    ips = access_ips(s)
    if name is not None or ips or "description" in s:
        updated = await cloud.rename_server(token, sid, name, ips, s.get("description", ...))
    else:
        updated = await cloud.get_server(token, sid)
    full = ServerRenderer(request, await is_admin(request, token)).full(updated)
    # nova's update answer is the core view: no extension attributes, addresses without type and MAC
    view = {k: v for k, v in full.items() if k in _UPDATE_VIEW or k in ("locked", "description", "tags")}
    view["addresses"] = {net: [{"version": a["version"], "addr": a["addr"]} for a in addrs]
                         for net, addrs in full["addresses"].items()}
    return JSONResponse({"server": view})


_UPDATE_VIEW = {"id", "name", "status", "image", "flavor", "fault", "user_id", "tenant_id", "created", "updated",
                "progress", "metadata", "links", "addresses", "hostId", "OS-DCF:diskConfig", "accessIPv4",
                "accessIPv6"}


async def server_ips(request: Request) -> Response:
    """/servers/{id}/ips (and /ips/{network}): the addresses as nova's ips view has them."""
    cloud, token, sid = request.app.state.cloud, token_of(request), request.path_params["id"]
    s = await cloud.get_server(token, sid)
    addresses = {net: [{"version": a.get("version", 4), "addr": a["addr"]} for a in addrs]
                 for net, addrs in (s.get("addresses") or {}).items()}
    net = request.path_params.get("network")
    if net is None:
        return JSONResponse({"addresses": addresses})
    if net not in addresses:
        raise NotFound("Instance is not a member of specified network")
    return JSONResponse({net: addresses[net]})


# ---- server groups --------------------------------------------------------------------
def group_view(g: dict, request: Request | None = None) -> dict:
    policy = g.get("policy") or (g.get("policies") or [None])[0]
    out = {"id": g["id"], "name": g["name"], "policies": [policy] if policy else [],
           "members": g.get("members", []), "metadata": {}}
    if request is not None and microversion.at_least(request, "2.13"):  # 2.13: the owner
        out.update(project_id=g.get("project_id"), user_id=g.get("user_id"))
    return out


async def server_groups(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "POST":
        g = await read_object(request, "server_group", ("name", "policies", "policy", "rules"),
                              required=("name",))
        name = want_str(g, "name", "server_group", empty=False)
        pol = g.get("policy")
        if pol is None:
            pols = g.get("policies")
            if not isinstance(pols, list) or len(pols) != 1 or not isinstance(pols[0], str):
                raise BadRequest("'server_group.policies' must be a list of exactly one policy")
            pol = pols[0]
        if pol not in ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"):
            raise BadRequest(f"invalid server group policy {pol!r}: affinity or anti-affinity")
        if g.get("rules"):
            raise BadRequest("'server_group.rules' is not supported")
        created = await cloud.create_server_group(token, name, pol)
        return JSONResponse({"server_group": group_view(created, request)})
    items = await cloud.list_server_groups(token)
    return JSONResponse({"server_groups": [group_view(g, request) for g in items]})


async def server_group_one(request: Request) -> Response:
    cloud, token, gid = request.app.state.cloud, token_of(request), request.path_params["id"]
    if not is_uuid(gid):
        raise NotFound(f"Server group {gid} could not be found.")
    for g in await cloud.list_server_groups(token):
        if g["id"] == gid:
            if request.method == "DELETE":
                await cloud.delete_server_group(token, gid)
                return Response(status_code=204)
            return JSONResponse({"server_group": group_view(g, request)})
    raise NotFound(f"Server group {gid} could not be found.")


# ---- limits, quota sets and availability zones ------------------------------------------
async def limits(request: Request) -> Response:
    absolute = await request.app.state.cloud.get_limits(token_of(request))
    absolute.update({"maxPersonality": 0, "maxPersonalitySize": 0})  # no file injection
    # the 2.1 view's network proxies: nova does not limit these (neutron does), -1 as nova
    # shows an unlimited resource; image metadata is bounded by the same metadata_items
    if not microversion.at_least(request, "2.39"):  # 2.39 drops the image-metadata proxy's limit
        absolute.setdefault("maxImageMeta", absolute.get("maxServerMeta", 128))
    if not microversion.at_least(request, "2.36"):  # 2.36 drops the network proxies' limits
        for k in ("maxSecurityGroups", "maxSecurityGroupRules", "maxTotalFloatingIps"):
            absolute.setdefault(k, -1)
        for k in ("totalFloatingIpsUsed", "totalSecurityGroupsUsed"):
            absolute.setdefault(k, 0)
    return JSONResponse({"limits": {"absolute": absolute, "rate": []}})


def _no_user_quotas(request: Request) -> None:
    if "user_id" in request.query_params:
        raise BadRequest("per-user quotas are not supported by pocketstack: leave out 'user_id'")


# the 2.1 quota-set keys for network resources (proxies nova dropped in 2.36): compute does
# not limit them, so they show -1; a PUT naming them is refused (the network service's quota
# is the one to change)
_PROXY_QUOTAS = ("floating_ips", "fixed_ips", "security_groups", "security_group_rules")


def _with_proxies(qs: dict, detail: bool = False, request: Request | None = None) -> dict:
    if request is not None and microversion.at_least(request, "2.36"):
        return qs  # 2.36: the network proxies' keys are gone
    for k in _PROXY_QUOTAS:
        qs.setdefault(k, {"limit": -1, "in_use": 0, "reserved": 0} if detail else -1)
    return qs


async def quota_set(request: Request) -> Response:
    """os-quota-sets/{project}: GET (members their own project, admins any), PUT (admins; 'force'
    allows a limit under current usage), DELETE (admins: back to the defaults, 202)."""
    cloud, token, pid = request.app.state.cloud, token_of(request), request.path_params["project"]
    if request.method != "GET":
        # no per-user overrides exist, so a user's limits are the project's: GET with
        # user_id shows them, changing them per user is refused
        _no_user_quotas(request)
    if request.method == "DELETE":
        await cloud.delete_quotas(token, pid, "compute")
        return Response(status_code=202)
    if request.method == "PUT":
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"quota_set"} or not isinstance(body["quota_set"], dict):
            raise BadRequest("request body must be a JSON object with the key 'quota_set' (an object)")
        values = dict(body["quota_set"])
        force = want_bool(values.pop("force", False), "quota_set.force")
        got = await cloud.update_quotas(token, pid, "compute", values, force=force)
        return JSONResponse({"quota_set": _with_proxies({k: v["limit"] for k, v in got.items()}, request=request)})
    got = await cloud.get_quotas(token, pid, "compute")
    if request.url.path.endswith("/detail"):
        body = {k: {"limit": v["limit"], "in_use": v["in_use"], "reserved": 0} for k, v in got.items()}
    else:
        body = {k: v["limit"] for k, v in got.items()}
    detail = request.url.path.endswith("/detail")
    return JSONResponse({"quota_set": {"id": pid, **_with_proxies(body, detail, request)}})


async def quota_set_defaults(request: Request) -> Response:
    pid = request.path_params["project"]
    got = await request.app.state.cloud.get_default_quotas(token_of(request), "compute")
    return JSONResponse({"quota_set": {"id": pid, **_with_proxies(got, request=request)}})


async def aggregates(request: Request) -> Response:
    # `openstack hypervisor show` lists aggregates; pocketstack has none (zones come from
    # hosts.yaml)
    token_of(request)
    return JSONResponse({"aggregates": []})


async def availability_zones(request: Request) -> Response:
    token = token_of(request)
    try:
        hosts = await request.app.state.cloud.list_hypervisors(token)
    except CloudError as e:
        # the detail view names hosts: admins only, as nova's policy
        if e.code != 403 or request.url.path.endswith("/detail"):
            raise
        hosts = []
    zones = sorted({h.get("availability_zone") or "nova" for h in hosts}) or ["nova"]
    return JSONResponse({"availabilityZoneInfo": [
        {"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in zones]})


# ---- pocketstack's own: the launch as the seed's six steps ----------------------------------
async def server_flow(request: Request) -> Response:
    """Cloud.get_flow, with the token rules of os-pocketstack-trace."""
    cloud, token = request.app.state.cloud, token_of(request)
    return JSONResponse({"flow": await cloud.get_flow(token, _server_id(request))})


def routes() -> list[Route]:
    return [
        Route(f"{V}/servers/{{id}}/os-pocketstack-flow", server_flow, methods=["GET"]),
        Route(f"{V}/servers/{{id}}", server_update, methods=["PUT"]),
        Route(f"{V}/servers/{{id}}/ips", server_ips, methods=["GET"]),
        Route(f"{V}/servers/{{id}}/ips/{{network}}", server_ips, methods=["GET"]),
        Route(f"{V}/flavors", flavors, methods=["GET", "POST"]),
        Route(f"{V}/flavors/detail", flavors_detail, methods=["GET"]),
        Route(f"{V}/flavors/{{id}}", flavor_one, methods=["GET", "DELETE"]),
        Route(f"{V}/flavors/{{id}}/os-extra_specs", flavor_extra_specs, methods=["GET", "POST"]),
        Route(f"{V}/flavors/{{id}}/os-extra_specs/{{key}}", flavor_extra_spec, methods=["GET", "PUT", "DELETE"]),
        Route(f"{V}/os-hypervisors", hypervisors, methods=["GET"]),
        Route(f"{V}/os-hypervisors/detail", hypervisors, methods=["GET"]),
        Route(f"{V}/os-pocketstack-hypervisors", hypervisors_pocketstack, methods=["GET"]),
        # before os-hypervisors/{id}, which would take "statistics" for an id
        Route(f"{V}/os-hypervisors/statistics", hypervisor_statistics, methods=["GET"]),
        Route(f"{V}/os-hypervisors/{{pattern}}/search", hypervisor_search, methods=["GET"]),
        Route(f"{V}/os-hypervisors/{{id}}", hypervisor_one, methods=["GET"]),
        Route(f"{V}/os-hypervisors/{{id}}/uptime", hypervisor_uptime, methods=["GET"]),
        Route(f"{V}/os-server-groups", server_groups, methods=["GET", "POST"]),
        Route(f"{V}/os-server-groups/{{id}}", server_group_one, methods=["GET", "DELETE"]),
        Route(f"{V}/limits", limits, methods=["GET"]),
        Route(f"{V}/os-aggregates", aggregates, methods=["GET"]),
        Route(f"{V}/os-quota-sets/{{project}}", quota_set, methods=["GET", "PUT", "DELETE"]),
        Route(f"{V}/os-quota-sets/{{project}}/detail", quota_set, methods=["GET"]),
        Route(f"{V}/os-quota-sets/{{project}}/defaults", quota_set_defaults, methods=["GET"]),
        Route(f"{V}/os-availability-zone", availability_zones, methods=["GET"]),
        Route(f"{V}/os-availability-zone/detail", availability_zones, methods=["GET"]),
    ]
