"""Nova 2.1's /extensions (GET the list, GET /extensions/{alias}) and the pre-2.53
/os-hypervisors/{pattern}/servers.

The extension list is nova's (nova/api/openstack/compute/extension_info.py: fixed names,
descriptions, namespace and date) restricted to what pocketstack really has, so a client that
looks an extension up learns the truth."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import token_of
from backend.core.errors import NotFound

V = "/compute/v2.1"
_NS, _UPDATED = "http://docs.openstack.org/compute/ext/fake_xml", "2014-12-03T00:00:00Z"

# (alias, name, description) as nova lists them
_EXTENSIONS = [
    ("os-access-ips", "AccessIPs", "Access IPs support."),
    ("os-admin-actions", "AdminActions",
     "Enable admin-only server actions\n\n    Actions include: resetNetwork, injectNetworkInfo, os-resetState\n    "),
    ("os-availability-zone", "AvailabilityZone",
     "1. Add availability_zone to the Create Server API.\n       2. Add availability zones describing.\n    "),
    ("os-config-drive", "ConfigDrive", "Config Drive Extension."),
    ("os-console-output", "ConsoleOutput", "Console log output support, with tailing ability."),
    ("os-consoles", "Consoles", "Interactive Console support."),
    ("OS-EXT-AZ", "ExtendedAvailabilityZone", "Extended Availability Zone support."),
    ("OS-EXT-IPS", "ExtendedIps", "Adds type parameter to the ip list."),
    ("OS-EXT-IPS-MAC", "ExtendedIpsMac", "Adds mac address parameter to the ip list."),
    ("OS-EXT-SRV-ATTR", "ExtendedServerAttributes", "Extended Server Attributes support."),
    ("OS-EXT-STS", "ExtendedStatus", "Extended Status support."),
    ("os-extended-volumes", "ExtendedVolumes", "Extended Volumes support."),
    ("OS-FLV-DISABLED", "FlavorDisabled", "Support to show the disabled status of a flavor."),
    ("os-flavor-access", "FlavorAccess", "Flavor access support."),
    ("OS-FLV-EXT-DATA", "FlavorExtraData", "Provide additional data for flavors."),
    ("os-flavor-extra-specs", "FlavorExtraSpecs", "Flavors extra specs support."),
    ("os-flavor-manage", "FlavorManage", "Flavor create/delete API support."),
    ("os-flavor-rxtx", "FlavorRxtx", "Support to show the rxtx status of a flavor."),
    ("os-hosts", "Hosts", "Admin-only host administration."),
    ("os-hypervisors", "Hypervisors", "Admin-only hypervisor administration."),
    ("os-instance-actions", "InstanceActions", "View a log of actions and events taken on an instance."),
    ("os-keypairs", "Keypairs", "Keypair Support."),
    ("os-multiple-create", "MultipleCreate", "Allow multiple create in the Create Server v2.1 API."),
    ("os-quota-sets", "Quotas", "Quotas management support."),
    ("os-remote-consoles", "RemoteConsoles", "Interactive Console support."),
    ("os-scheduler-hints", "SchedulerHints", "Pass arbitrary key/value pairs to the scheduler."),
    ("os-security-groups", "SecurityGroups", "Security group support."),
    ("os-server-groups", "ServerGroups", "Server group support."),
    ("os-server-list-multi-status", "ServerListMultiStatus",
     "Allow to filter the servers by a set of status values."),
    ("os-server-password", "ServerPassword", "Server password support."),
    ("os-server-start-stop", "ServerStartStop", "Start/Stop instance compute API support."),
    ("os-services", "Services", "Services support."),
    ("os-used-limits", "UsedLimits", "Provide data on limited resources that are being used."),
    ("os-user-data", "UserData", "Add user_data to the Create Server API."),
    ("os-volumes", "Volumes", "Volumes support."),
]


def _view(alias: str, name: str, description: str) -> dict:
    return {"alias": alias, "name": name, "description": description, "links": [],
            "namespace": _NS, "updated": _UPDATED}


async def extensions(request: Request) -> Response:
    token_of(request)
    return JSONResponse({"extensions": [_view(*e) for e in _EXTENSIONS]})


async def extension_one(request: Request) -> Response:
    token_of(request)
    alias = request.path_params["alias"]
    for e in _EXTENSIONS:
        if e[0] == alias:
            return JSONResponse({"extension": _view(*e)})
    raise NotFound("Extension could not be found.")


async def hypervisor_servers(request: Request) -> Response:
    """(Nova drops it in 2.53, above this cloud's range.) The hypervisors whose name contains the pattern, each with its servers
    (nova leaves 'servers' out of a hypervisor that has none)."""
    cloud, token, pat = request.app.state.cloud, token_of(request), request.path_params["pattern"]
    items = [h for h in await cloud.list_hypervisors(token) if pat in h["name"]]  # admins only
    if not items:
        raise NotFound(f"No hypervisor matching '{pat}' could be found.")
    out = []
    for h in items:
        hyp = {"id": h["id"], "hypervisor_hostname": h["name"], "state": h["state"], "status": h["status"]}
        servers = await cloud.list_servers(token, all_projects=True, filters={"host": h["name"]})
        if servers:
            hyp["servers"] = [{"uuid": s["id"], "name": s["name"]} for s in servers]
        out.append(hyp)
    return JSONResponse({"hypervisors": out})


def routes() -> list[Route]:
    return [Route(f"{V}/extensions", extensions, methods=["GET"]),
            Route(f"{V}/extensions/{{alias}}", extension_one, methods=["GET"]),
            Route(f"{V}/os-hypervisors/{{pattern}}/servers", hypervisor_servers, methods=["GET"])]
