"""Nova v2.1's views of the compute hosts, all derived from the hypervisors: os-services
(one nova-compute per host), os-hosts (deprecated upstream, still in 2.1) and
os-hypervisors/statistics. Admin only, as nova's policy."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import microversion
from backend.api.common import iso, read_json, token_of
from backend.core.errors import BadRequest, CloudError, NotFound

V = "/compute/v2.1"


class NotImplementedByDriver(CloudError):
    code = 501


async def _hypervisors(request: Request) -> list[dict]:
    return await request.app.state.cloud.list_hypervisors(token_of(request))


def _service(n: int, h: dict) -> dict:
    # 2.1 service ids are integers (UUIDs arrive with 2.53): the host's place in the list
    return {"id": n, "binary": "nova-compute", "host": h["name"],
            "zone": h.get("availability_zone") or "nova", "status": h["status"],
            "state": h["state"], "updated_at": iso(h.get("last_heartbeat")),
            "disabled_reason": h.get("down_reason") if h["status"] == "disabled" else None}


async def services(request: Request) -> Response:
    items = [_service(n, h) for n, h in enumerate(await _hypervisors(request), 1)]
    if microversion.at_least(request, "2.11"):  # 2.11: forced_down (pocketstack never forces one down)
        for s in items:
            s["forced_down"] = False
    q = request.query_params
    # nova filters on host and binary and ignores any other parameter
    for key in ("host", "binary"):
        if key in q:
            items = [s for s in items if s[key] == q[key]]
    return JSONResponse({"services": items})


async def hosts(request: Request) -> Response:
    items = [{"host_name": h["name"], "service": "compute",
              "zone": h.get("availability_zone") or "nova"} for h in await _hypervisors(request)]
    if request.query_params.get("zone"):  # a blank zone filters nothing, as nova
        items = [h for h in items if h["zone"] == request.query_params["zone"]]
    return JSONResponse({"hosts": items})


async def _host(request: Request) -> dict:
    name = request.path_params["id"]
    for h in await _hypervisors(request):
        if h["name"] == name:
            return h
    raise NotFound(f"Compute host {name} could not be found.")


async def host_one(request: Request) -> Response:
    h = await _host(request)
    if request.method == "PUT":
        body = await read_json(request)
        if not isinstance(body, dict) or not body:
            raise BadRequest("request body must be an object with 'status' and/or 'maintenance_mode'")
        for k, v in body.items():
            if k not in ("status", "maintenance_mode"):
                raise BadRequest(f"unrecognized field '{k}' in the request body")
            if v not in ("enable", "disable"):
                raise BadRequest(f"'{k}' must be 'enable' or 'disable'")
        raise NotImplementedByDriver("Virt driver does not implement host maintenance mode or "
                                     "status changes: use os-services")

    def row(project: str, cpu: int, mem: int, disk: int) -> dict:
        return {"resource": {"host": h["name"], "project": project, "cpu": cpu,
                             "memory_mb": mem, "disk_gb": disk}}
    used = (h["vcpus_used"], h["memory_mb_used"], h["disk_gb_used"])
    return JSONResponse({"host": [row("(total)", h["vcpus"], h["memory_mb"], h["disk_gb"]),
                                  row("(used_now)", *used), row("(used_max)", *used)]})


async def host_power(request: Request) -> Response:
    await _host(request)
    raise NotImplementedByDriver("Virt driver does not implement host power management.")


async def hypervisor_statistics(request: Request) -> Response:
    hs = await _hypervisors(request)

    def total(key: str) -> int:
        return sum(h[key] for h in hs)
    stats = {"count": len(hs), "vcpus": total("vcpus"), "vcpus_used": total("vcpus_used"),
             "memory_mb": total("memory_mb"), "memory_mb_used": total("memory_mb_used"),
             "local_gb": total("disk_gb"), "local_gb_used": total("disk_gb_used"),
             "running_vms": total("running_vms"), "current_workload": 0}
    stats["free_ram_mb"] = stats["memory_mb"] - stats["memory_mb_used"]
    stats["free_disk_gb"] = stats["local_gb"] - stats["local_gb_used"]
    stats["disk_available_least"] = stats["free_disk_gb"]
    return JSONResponse({"hypervisor_statistics": stats})


def routes() -> list[Route]:
    return [
        Route(f"{V}/os-services", services, methods=["GET"]),
        Route(f"{V}/os-hosts", hosts, methods=["GET"]),
        Route(f"{V}/os-hosts/{{id}}", host_one, methods=["GET", "PUT"]),
    ] + [Route(f"{V}/os-hosts/{{id}}/{action}", host_power, methods=["GET"])
         for action in ("startup", "shutdown", "reboot")]
