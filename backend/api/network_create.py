"""Neutron v2.0's POST /subnets and /ports bodies: checked here for shape and types (400
naming the field), the network service checks what depends on the cloud's state."""
from __future__ import annotations

import ipaddress

from starlette.requests import Request

from backend.api.common import parse_object, token_of, want_bool, want_str
from backend.api.compute import is_uuid
from backend.core.errors import BadRequest, NotFound

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")


def _ipv6_mode(s: dict, key: str) -> str | None:
    v = s.get(key)
    if v is not None and v not in IPV6_MODES:
        raise BadRequest(f"Invalid input for {key}. Reason: '{v}' is not in {list(IPV6_MODES)}.")
    return v


async def create_subnet(request: Request, body) -> dict:
    from backend.api.network import _project_ok, subnet_view
    s = parse_object(body, "subnet", (
        "network_id", "cidr", "ip_version", "name", "gateway_ip", "allocation_pools",
        "enable_dhcp", "dns_nameservers", "host_routes", "description", "tenant_id",
        "project_id", "dns_publish_fixed_ip", "service_types", "subnetpool_id", "prefixlen",
        "use_default_subnetpool", "ipv6_ra_mode", "ipv6_address_mode"), required=("network_id", "cidr"))
    net = want_str(s, "network_id", "subnet", empty=False)
    if not is_uuid(net):
        raise NotFound(f"Network {net} could not be found.")
    cidr = want_str(s, "cidr", "subnet", empty=False)
    version = s.get("ip_version", 4)
    if version not in (4, 6) or isinstance(version, bool):
        raise BadRequest(f"Invalid input for ip_version. Reason: {version!r} is not in [4, 6].")
    try:
        ipaddress.ip_network(cidr, strict=True)
    except ValueError as e:
        raise BadRequest(f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet ({e}).")
    gw = s.get("gateway_ip")
    if gw is not None:
        gw = want_str(s, "gateway_ip", "subnet", empty=False)
    pools = s.get("allocation_pools")
    if pools is not None:
        if not isinstance(pools, list) or not all(
                isinstance(p, dict) and set(p) == {"start", "end"} for p in pools):
            raise BadRequest("'subnet.allocation_pools' must be a list of {start, end}")
    for k in ("service_types",):
        if s.get(k) not in (None, []):
            raise BadRequest(f"'subnet.{k}' is not supported by pocketstack")
    for k in ("subnetpool_id", "prefixlen"):
        if s.get(k) is not None:
            raise BadRequest(f"'subnet.{k}' is not supported by pocketstack (give a cidr)")
    enable_dhcp = want_bool(s.get("enable_dhcp", True), "subnet.enable_dhcp")
    await _project_ok(request, s, "subnet")
    created = await request.app.state.cloud.create_subnet(
        token_of(request), net, cidr, want_str(s, "name", "subnet") or "", gw, pools,
        s.get("dns_nameservers"), s.get("host_routes"), ip_version=version, enable_dhcp=enable_dhcp,
        ipv6_ra_mode=_ipv6_mode(s, "ipv6_ra_mode"), ipv6_address_mode=_ipv6_mode(s, "ipv6_address_mode"),
        no_gateway="gateway_ip" in s and s["gateway_ip"] is None)
    return subnet_view(created)


def _port_security(p: dict) -> tuple:
    """(security_groups or None, port_security_enabled) of a port body."""
    groups = p.get("security_groups")
    if groups is not None and not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)):
        raise BadRequest("'port.security_groups' must be a list of security group ids")
    return groups, want_bool(p.get("port_security_enabled", True), "port.port_security_enabled")


async def create_port(request: Request, body) -> dict:
    from backend.api.network import _project_ok, hide_admin_only, port_view
    p = parse_object(body, "port", ("network_id", "name", "fixed_ips", "admin_state_up",
                                    "description", "tenant_id", "project_id", "binding:host_id",
                                    "mac_address", "security_groups", "port_security_enabled"),
                     required=("network_id",))
    net = want_str(p, "network_id", "port", empty=False)
    if not is_uuid(net):
        raise NotFound(f"Network {net} could not be found.")
    fips = p.get("fixed_ips")  # checked by the network service (backend/network/fixed_ips.py)
    up = want_bool(p.get("admin_state_up", True), "port.admin_state_up")
    await _project_ok(request, p, "port")
    created = await request.app.state.cloud.create_port(
        token_of(request), net, want_str(p, "name", "port") or "", None,
        want_str(p, "binding:host_id", "port"), want_str(p, "mac_address", "port"),
        *_port_security(p), fixed_ips=fips, admin_state_up=up)
    return (await hide_admin_only(request, "port", [port_view(created)]))[0]
