"""A port's fixed IPs as neutron's IPAM gives them: one address per entry of fixed_ips
({subnet_id} and/or {ip_address}), or by default one from the first IPv4 and one from the first
DHCPv6-stateful (or mode-less) IPv6 subnet with a free address, plus an EUI-64 address on every
SLAAC subnet of the network. The first address lives in ports.subnet_id/ip_address (what
instances, DHCP and routers read), the others in port_ips; an address is taken once per
subnet in either table (checked against the service's cache, which covers both)."""
from __future__ import annotations

import ipaddress

from backend.core import db as dbm
from backend.core.errors import BadRequest, Conflict, Forbidden
from backend.network.routers import neutron_error

AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")  # neutron's ipv6_utils.is_auto_address_subnet


def eui64(cidr: str, mac: str) -> str:
    """Neutron's get_ipv6_addr_by_EUI64: the /64 prefix and the MAC with ff:fe in its middle
    and the universal/local bit flipped."""
    b = bytes(int(x, 16) for x in mac.split(":"))
    iid = bytes([b[0] ^ 0x02]) + b[1:3] + b"\xff\xfe" + b[3:6]
    net = ipaddress.IPv6Network(cidr)
    return str(ipaddress.IPv6Address(int(net.network_address) | int.from_bytes(iid, "big")))


def is_auto(subnet) -> bool:
    return subnet["ip_version"] == 6 and subnet["ipv6_address_mode"] in AUTO_ADDRESS_MODES


class FixedIPMixin:
    """Mixed into NetworkService: self.db, self._used_ips (the address cache per subnet)."""

    def fixed_ips_of(self, p) -> list[dict]:
        out = [{"subnet_id": p["subnet_id"], "ip_address": p["ip_address"]}] if p["subnet_id"] else []
        out += [{"subnet_id": r["subnet_id"], "ip_address": r["ip_address"]} for r in dbm.rows(
            self.db, "SELECT subnet_id, ip_address FROM port_ips WHERE port_id=? ORDER BY seq", (p["id"],))]
        return out

    def check_fixed_ips_policy(self, ctx, network, requests) -> None:
        """neutron's create_port:fixed_ips:ip_address: choosing an address on another project's
        network is for admins (a member would otherwise squat on a shared network's addresses)."""
        if requests and any(r.get("ip_address") is not None for r in requests) and \
                network["project_id"] != ctx.project_id and not ctx.is_admin:
            raise Forbidden(f"only an admin may choose a fixed IP on network {network['name']!r}, "
                            "which belongs to another project")

    def plan_fixed_ips(self, network, requests, mac, keep=()) -> list[tuple[dict, str]]:
        """[(subnet row, address)] for a port with this MAC; requests None: the default.
        keep: (subnet_id, address) pairs the port holds already (free for it to keep).
        Nothing is written; 400/409 as neutron's IPAM, naming the address or subnet."""
        subnets = dbm.rows(self.db, "SELECT * FROM subnets WHERE network_id=? ORDER BY created_at",
                           (network["id"],))
        keep = list(keep)
        # as ints: the pool scan below asks free() once per address in use
        held = {(sid, int(ipaddress.ip_address(addr))) for sid, addr in keep}
        taken: dict[str, set[int]] = {}

        def free(s, ip: int) -> bool:
            used = taken.setdefault(s["id"], set())
            return ip not in used and ((s["id"], ip) in held or ip not in self._used_ips(s["id"]))

        def take(s, ip: int) -> tuple[dict, str]:
            taken.setdefault(s["id"], set()).add(ip)
            return s, str(ipaddress.ip_address(ip))

        def next_free(s) -> int | None:
            for sid, addr in keep:  # a subnet named again keeps the address the port has there
                if sid == s["id"] and free(s, int(ipaddress.ip_address(addr))):
                    return int(ipaddress.ip_address(addr))
            if is_auto(s):
                ip = int(ipaddress.ip_address(eui64(s["cidr"], mac)))
                return ip if free(s, ip) else None
            gw = int(ipaddress.ip_address(s["gateway_ip"])) if s["gateway_ip"] else None
            ip, end = int(ipaddress.ip_address(s["pool_start"])), int(ipaddress.ip_address(s["pool_end"]))
            while ip <= end:
                if ip != gw and free(s, ip):
                    return ip
                ip += 1
            return None

        if requests is None:
            out, versions = [], set()
            for s in sorted(subnets, key=lambda s: s["ip_version"]):  # IPv4 first: the instance's address
                if is_auto(s) or s["ip_version"] not in versions:
                    ip = next_free(s)
                    if ip is not None:
                        out.append(take(s, ip))
                        if not is_auto(s):  # SLAAC addresses come on top of the one pool address
                            versions.add(s["ip_version"])
            if subnets and not out:
                raise neutron_error(Conflict, "IpAddressGenerationFailure",
                                    f"No more IP addresses available on network {network['id']}.")
            return out
        out = []
        for r in requests:
            s = self._request_subnet(network, subnets, r)
            if r.get("ip_address") is None:
                ip = next_free(s)
                if ip is None:
                    raise neutron_error(Conflict, "IpAddressGenerationFailure",
                                        f"No more IP addresses available for subnet {s['id']}.")
                out.append(take(s, ip))
                continue
            want = ipaddress.ip_address(r["ip_address"])
            net = ipaddress.ip_network(s["cidr"])
            if is_auto(s):
                raise neutron_error(BadRequest, "InvalidInput", f"Invalid input for operation: IPv6 address "
                                    f"{want} cannot be directly assigned to a port on subnet {s['id']} as the "
                                    "subnet is configured for automatic addresses.")
            if want not in net or want == net.network_address or (
                    net.version == 4 and want == net.broadcast_address):
                raise neutron_error(BadRequest, "InvalidIpForSubnet",
                                    f"IP address {want} is not a valid IP for the specified subnet.")
            gw = s["gateway_ip"] and ipaddress.ip_address(s["gateway_ip"])
            if want == gw or not free(s, int(want)):
                raise neutron_error(Conflict, "IpAddressAlreadyAllocated",
                                    f"IP address {want} already allocated in subnet {s['id']}")
            out.append(take(s, int(want)))
        return out

    @staticmethod
    def _request_subnet(network, subnets, r):
        if r.get("subnet_id") is not None:
            for s in subnets:
                if s["id"] == r["subnet_id"]:
                    if r.get("ip_address") is not None and \
                            ipaddress.ip_address(r["ip_address"]) not in ipaddress.ip_network(s["cidr"]):
                        raise neutron_error(BadRequest, "InvalidIpForSubnet",
                                            f"IP address {r['ip_address']} is not a valid IP for the "
                                            "specified subnet.")
                    return s
            raise neutron_error(BadRequest, "InvalidInput", "Invalid input for operation: Failed to create port "
                                f"on network {network['id']}, because fixed_ips included invalid subnet "
                                f"{r['subnet_id']}.")
        want = ipaddress.ip_address(r["ip_address"])
        for s in subnets:
            if want.version == s["ip_version"] and want in ipaddress.ip_network(s["cidr"]):
                return s
        raise neutron_error(BadRequest, "InvalidIpForNetwork", f"IP address {want} is not a valid IP for any "
                            "of the subnets on the specified network.")

    def write_fixed_ips(self, port_id, plan) -> None:
        """Inside the caller's transaction: the first address on the port's row, the rest in
        port_ips (UNIQUE per subnet: a race that slipped past the cache is a 409)."""
        first = plan[0] if plan else ({"id": None}, None)
        try:
            self.db.conn.execute("UPDATE ports SET subnet_id=?, ip_address=? WHERE id=?",
                                 (first[0]["id"], first[1], port_id))
            self.db.conn.execute("DELETE FROM port_ips WHERE port_id=?", (port_id,))
            for i, (s, ip) in enumerate(plan[1:], 1):
                self.db.conn.execute("INSERT INTO port_ips (port_id, subnet_id, ip_address, seq)"
                                     " VALUES (?,?,?,?)", (port_id, s["id"], ip, i))
        except dbm.IntegrityError:
            raise neutron_error(Conflict, "IpAddressAlreadyAllocated",
                                "one of the requested IP addresses was allocated meanwhile") from None


def parse_fixed_ips(value, where: str = "port") -> list[dict]:
    """A body's fixed_ips: a list of {subnet_id?, ip_address?} (at least one of the two)."""
    if not isinstance(value, list) or not all(isinstance(f, dict) for f in value):
        raise BadRequest(f"'{where}.fixed_ips' must be a list of {{subnet_id, ip_address}}")
    out = []
    for i, f in enumerate(value):
        extra = set(f) - {"ip_address", "subnet_id"}
        if extra:
            raise BadRequest(f"unrecognized field '{sorted(extra)[0]}' in '{where}.fixed_ips[{i}]'")
        if f.get("ip_address") is None and f.get("subnet_id") is None:
            raise BadRequest(f"'{where}.fixed_ips[{i}]' needs a subnet_id or an ip_address")
        if f.get("ip_address") is not None:
            try:
                ipaddress.ip_address(f["ip_address"])
            except (ValueError, TypeError):
                raise BadRequest(f"invalid IP address {f['ip_address']!r} in '{where}.fixed_ips[{i}]'") from None
        if f.get("subnet_id") is not None and not isinstance(f["subnet_id"], str):
            raise BadRequest(f"'{where}.fixed_ips[{i}].subnet_id' must be a string")
        out.append({k: f[k] for k in ("subnet_id", "ip_address") if f.get(k) is not None})
    return out
