"""Nova's os-hypervisors: list (+ /detail, limit and marker from 2.33), show, uptime, search,
and pocketstack's own os-pocketstack-hypervisors with the scheduler's view of each host."""
from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api import microversion
from backend.api.common import limit_marker, next_href, page, token_of
from backend.core.errors import NotFound


def _version_int(v) -> int:
    """nova's hypervisor_version is an integer: oslo's convert_version_to_int ("8.2.1" -> 8002001)."""
    try:
        return functools.reduce(lambda a, b: a * 1000 + b, (int(p) for p in str(v).split(".")))
    except (TypeError, ValueError):
        return 1


def hypervisor_view(h: dict, detail: bool, extras: bool = False, version: tuple = (2, 1)) -> dict:
    """nova 2.1's view (its schema is strict); extras: pocketstack's keys as well, for the
    app and the CLI through os-pocketstack-hypervisors, an endpoint other clients never ask for."""
    out = {"id": h["id"], "hypervisor_hostname": h["name"], "state": h["state"],
           "status": h["status"]}
    if not detail:
        return out
    out.update({
        "vcpus": h["vcpus"], "memory_mb": h["memory_mb"], "local_gb": h["disk_gb"],
        "vcpus_used": h["vcpus_used"], "memory_mb_used": h["memory_mb_used"],
        "local_gb_used": h["disk_gb_used"], "running_vms": h["running_vms"],
        "free_ram_mb": h["memory_mb"] - h["memory_mb_used"],
        "free_disk_gb": h["disk_gb"] - h["disk_gb_used"], "current_workload": 0,
        "disk_available_least": h["disk_gb"] - h["disk_gb_used"],
        "hypervisor_type": h.get("hypervisor_type") or h.get("driver"),
        "hypervisor_version": _version_int(h.get("hypervisor_version")), "host_ip": h.get("address"),
        "cpu_info": {} if version >= (2, 28) else "{}",  # 2.28: an object, no longer its JSON
        "service": {"host": h["name"], "id": h["id"], "disabled_reason": h.get("down_reason")},
    })
    if extras:
        out.update({
            "pocketstack:availability_zone": h.get("availability_zone"),
            "pocketstack:driver": h.get("driver"), "pocketstack:accelerator": h.get("accelerator"),
            "pocketstack:cpu_allocation_ratio": h.get("cpu_allocation_ratio"),
            "pocketstack:ram_allocation_ratio": h.get("ram_allocation_ratio"),
            "pocketstack:reserved_host_memory_mb": h.get("reserved_host_memory_mb"),
            "pocketstack:disk_allocation_ratio": h.get("disk_allocation_ratio"),
            "pocketstack:last_heartbeat": h.get("last_heartbeat"),
        })
    return out


async def hypervisors_pocketstack(request: Request) -> Response:
    items = await request.app.state.cloud.list_hypervisors(token_of(request))
    return JSONResponse({"hypervisors": [hypervisor_view(h, True, extras=True) for h in items]})


async def hypervisors(request: Request) -> Response:
    items = await request.app.state.cloud.list_hypervisors(token_of(request))
    detail = request.url.path.endswith("/detail")
    body = {}
    if microversion.at_least(request, "2.33"):  # 2.33: limit and marker
        limit, marker = limit_marker(request)
        items, more = page(items, limit, marker)
        if more and items:
            body["hypervisors_links"] = [{"rel": "next", "href": next_href(request, str(items[-1]["id"]), limit)}]
    version = microversion.of(request)
    return JSONResponse({"hypervisors": [hypervisor_view(h, detail, version=version) for h in items], **body})


async def hypervisor_one(request: Request) -> Response:
    hid = request.path_params["id"]
    items = await request.app.state.cloud.list_hypervisors(token_of(request))
    for h in items:
        if str(h["id"]) == hid:
            return JSONResponse({"hypervisor": hypervisor_view(h, True, version=microversion.of(request))})
    raise NotFound(f"Hypervisor with ID {hid} could not be found.")


async def hypervisor_uptime(request: Request) -> Response:
    hid = request.path_params["id"]
    for h in await request.app.state.cloud.list_hypervisors(token_of(request)):
        if str(h["id"]) == hid:
            up = "up" if h["state"] == "up" else "down"
            return JSONResponse({"hypervisor": {**hypervisor_view(h, False),
                                                "uptime": f"host {up}, last heartbeat "
                                                          f"{h.get('last_heartbeat')}"}})
    raise NotFound(f"Hypervisor with ID {hid} could not be found.")


async def hypervisor_search(request: Request) -> Response:
    pat = request.path_params["pattern"]
    items = [h for h in await request.app.state.cloud.list_hypervisors(token_of(request))
             if pat in h["name"]]
    if not items:
        raise NotFound(f"No hypervisor matching '{pat}' could be found.")
    return JSONResponse({"hypervisors": [hypervisor_view(h, False) for h in items]})

