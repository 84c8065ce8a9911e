"""A subnet's DHCP options as neutron takes them: dns_nameservers (distinct IP addresses,
at most 5) and host_routes ({destination: CIDR, nexthop: IP}, at most 20, distinct); a
port's chosen MAC address."""
from __future__ import annotations

import ipaddress
import re

from backend.core.errors import BadRequest

MAX_DNS_NAMESERVERS = 5   # neutron's max_dns_nameservers
MAX_HOST_ROUTES = 20      # neutron's max_subnet_host_routes


def check_dns_nameservers(value) -> list[str]:
    if not isinstance(value, list):
        raise BadRequest("'subnet.dns_nameservers' must be a list of IP addresses")
    if len(value) > MAX_DNS_NAMESERVERS:
        raise BadRequest(f"'subnet.dns_nameservers' has more than {MAX_DNS_NAMESERVERS} addresses")
    out: list[str] = []
    for a in value:
        try:
            ip = str(ipaddress.ip_address(a))
        except (ValueError, TypeError):
            raise BadRequest(f"'subnet.dns_nameservers': {a!r} is not an IP address") from None
        if ip in out:
            raise BadRequest(f"'subnet.dns_nameservers': {ip} is given twice")
        out.append(ip)
    return out


def check_host_routes(value, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[dict]:
    """Routes of the subnet's IP version (the nexthop need not be inside the subnet)."""
    if not isinstance(value, list):
        raise BadRequest("'subnet.host_routes' must be a list of {destination, nexthop}")
    if len(value) > MAX_HOST_ROUTES:
        raise BadRequest(f"'subnet.host_routes' has more than {MAX_HOST_ROUTES} routes")
    out: list[dict] = []
    for r in value:
        if not isinstance(r, dict) or set(r) != {"destination", "nexthop"}:
            raise BadRequest("'subnet.host_routes' entries must be {destination, nexthop}")
        try:
            dest = ipaddress.ip_network(r["destination"], strict=True)
            hop = ipaddress.ip_address(r["nexthop"])
        except (ValueError, TypeError) as e:
            raise BadRequest(f"'subnet.host_routes': invalid route {r!r}: {e}") from None
        if dest.version != net.version or hop.version != net.version:
            raise BadRequest(f"'subnet.host_routes': route {r!r} is not IPv{net.version}")
        route = {"destination": str(dest), "nexthop": str(hop)}
        if route in out:
            raise BadRequest(f"'subnet.host_routes': route {route} is given twice")
        out.append(route)
    return out


_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def check_mac(value) -> str:
    """A unicast MAC address, as neutron takes it (lower-cased)."""
    mac = value.lower() if isinstance(value, str) else ""
    if not _MAC.fullmatch(mac) or int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise BadRequest(f"'port.mac_address': {value!r} is not a unicast MAC address")
    return mac
