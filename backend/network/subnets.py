"""Neutron's subnets: a CIDR of the network with one allocation pool, a gateway,
dns_nameservers and host_routes. Mixed into NetworkService (backend/network/api.py)."""
from __future__ import annotations

import ipaddress
import uuid

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.identity import check_name
from backend.network.options import check_dns_nameservers, check_host_routes
from backend.network.routers import neutron_error

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")


def invalid(message: str):
    """neutron's InvalidInput (400)."""
    return neutron_error(BadRequest, "InvalidInput", f"Invalid input for operation: {message}.")


def host_range(net):
    """The first and last address a port may get (neutron's generate_pools: not the network
    address, nor IPv4's broadcast address)."""
    return net.network_address + 1, net.broadcast_address - (1 if net.version == 4 else 0)


def check_ipv6_modes(version, enable_dhcp, ra_mode, address_mode, net) -> None:
    """neutron's _validate_ipv6_attributes (and the EUI-64 prefix rule)."""
    for k, v in (("ipv6_ra_mode", ra_mode), ("ipv6_address_mode", address_mode)):
        if v is None:
            continue
        if v not in IPV6_MODES:
            raise invalid(f"'{v}' is not in {list(IPV6_MODES)}")
        if version != 6:
            raise invalid(f"{k} is not valid when ip_version is 4")
        if not enable_dhcp:
            raise invalid("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False")
    if ra_mode and address_mode and ra_mode != address_mode:
        raise invalid(f"ipv6_ra_mode set to '{ra_mode}' with ipv6_address_mode set to '{address_mode}' is not "
                      "valid. If both attributes are set, they must be the same value")
    if address_mode in ("slaac", "dhcpv6-stateless") and net.prefixlen != 64:
        raise invalid(f"Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address format, "
                      "which requires the prefix to be /64")


def check_pool(net, pools, gateway):
    """One allocation pool inside the subnet's host range, not holding the gateway
    (neutron's InvalidAllocationPool, OutOfBoundsAllocationPool, GatewayConflictWithAllocationPools)."""
    if not isinstance(pools, list) or not pools:
        raise BadRequest("'subnet.allocation_pools' must be a list of {start, end}")
    if len(pools) != 1:
        raise BadRequest("'subnet.allocation_pools': pocketstack keeps one allocation pool per subnet")
    pool = pools[0]
    try:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
    except (KeyError, ValueError, TypeError):
        raise BadRequest("allocation pool needs valid 'start' and 'end' addresses") from None
    text = f"{pool['start']}-{pool['end']}"
    if start.version != net.version or end.version != net.version or start > end:
        raise neutron_error(BadRequest, "InvalidAllocationPool", f"The allocation pool {text} is not valid.")
    first, last = host_range(net)
    if start < first or end > last:
        raise neutron_error(BadRequest, "OutOfBoundsAllocationPool",
                            f"The allocation pool {text} spans beyond the subnet cidr {net}.")
    if gateway is not None and start <= gateway <= end:
        raise neutron_error(Conflict, "GatewayConflictWithAllocationPools",
                            f"Gateway ip {gateway} conflicts with allocation pool {text}")
    return start, end


class SubnetMixin:
    """Mixed into NetworkService: self.db, self.config, find_network, _visible, _write."""

    @staticmethod
    def _subnet_view(s):
        return {"id": s["id"], "name": s["name"], "network_id": s["network_id"], "project_id": s["project_id"],
                "tenant_id": s["project_id"], "cidr": s["cidr"], "gateway_ip": s["gateway_ip"],
                "ip_version": s["ip_version"], "enable_dhcp": bool(s["enable_dhcp"]),
                "ipv6_ra_mode": s["ipv6_ra_mode"], "ipv6_address_mode": s["ipv6_address_mode"],
                "allocation_pools": [{"start": s["pool_start"], "end": s["pool_end"]}],
                "dns_nameservers": dbm.jload(s["dns_nameservers"], []),
                "host_routes": dbm.jload(s["host_routes"], []), "created_at": s["created_at"]}

    def _find_subnet(self, ctx, ref):
        s = (dbm.row(self.db, "SELECT * FROM subnets WHERE id=?", (ref,)) or
             dbm.row(self.db, "SELECT * FROM subnets WHERE name=? AND project_id=?", (ref, ctx.project_id)))
        if not s:
            raise NotFound(f"subnet {ref!r} not found")
        net = dbm.row(self.db, "SELECT * FROM networks WHERE id=?", (s["network_id"],))
        if not self._visible(ctx, s["project_id"], net["shared"]):
            raise NotFound(f"subnet {ref!r} not found")
        return s

    # ---- subnets --------------------------------------------------------------------
    def list_subnets(self, ctx, filters):
        out = []
        for s in dbm.rows(self.db, "SELECT s.*, n.shared FROM subnets s JOIN networks n ON n.id=s.network_id"):
            if self._visible(ctx, s["project_id"], s["shared"]):
                out.append(self._subnet_view(s))
        return [s for s in out if all(str(s.get(k)) == str(v) for k, v in filters.items() if k in s)]

    def get_subnet(self, ctx, ref):
        return self._subnet_view(self._find_subnet(ctx, ref))

    def create_subnet(self, ctx, network, cidr, name="", gateway_ip=None, allocation_pools=None,
                      dns_nameservers=None, host_routes=None, ip_version=None, enable_dhcp=True,
                      ipv6_ra_mode=None, ipv6_address_mode=None, no_gateway=False):
        """ip_version: 4 or 6 (None: the cidr's); the IPv6 modes are kept and shown (SLAAC
        subnets give ports EUI-64 addresses; the lab's network sends no router advertisements)."""
        self._write(ctx)
        n = self.find_network(ctx, network)
        if n["project_id"] != ctx.project_id and not ctx.is_admin:
            raise Forbidden("only the network's owner may add a subnet")
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except (ValueError, TypeError) as e:
            raise BadRequest(f"invalid cidr {cidr!r}: {e}") from None
        if ip_version is not None and ip_version != net.version:
            raise invalid(f"cidr '{cidr}' does not match ip_version '{ip_version}'")
        for kind in ("multicast", "loopback", "link_local", "unspecified"):
            if getattr(net, f"is_{kind}"):  # not an address range ports can live in
                raise invalid(f"cidr {net} is a {kind.replace('_', '-')} range")
        check_ipv6_modes(net.version, enable_dhcp, ipv6_ra_mode, ipv6_address_mode, net)
        if net.num_addresses < 4:
            raise BadRequest(f"cidr {cidr} is too small: a subnet needs at least 4 addresses")
        if name:
            check_name("subnet", name)
        dns = check_dns_nameservers(dns_nameservers or [])
        routes = check_host_routes(host_routes or [], net)
        first, last = host_range(net)
        if no_gateway:  # neutron's gateway_ip null: the whole range is the pool
            gw = None
        elif gateway_ip is None:
            gw = first
        else:
            try:
                gw = ipaddress.ip_address(gateway_ip)
            except ValueError:
                raise BadRequest(f"invalid gateway_ip {gateway_ip!r}") from None
            if gw.version != net.version or gw not in net:
                raise invalid(f"Gateway IP {gw} is not inside the subnet {net}")
        if allocation_pools:
            start, end = check_pool(net, allocation_pools, gw)
        else:
            start, end = (gw + 1 if gw == first else first), last
        for s in dbm.rows(self.db, "SELECT id, cidr FROM subnets WHERE network_id=? AND ip_version=?",
                          (n["id"], net.version)):
            if ipaddress.ip_network(s["cidr"]).overlaps(net):  # neutron's check_cidr_overlap
                raise invalid(f"Requested subnet with cidr: {net} for network: {n['id']} overlaps with "
                              "another subnet")
        sid = str(uuid.uuid4())
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, n["project_id"], {"subnet": 1}, "network")
            self.db["subnets"].insert({"id": sid, "network_id": n["id"], "name": name or "",
                                       "project_id": n["project_id"], "cidr": str(net),
                                       "gateway_ip": None if gw is None else str(gw), "ip_version": net.version, "pool_start": str(start), "pool_end": str(end),
                                       "dns_nameservers": dbm.jdump(dns), "host_routes": dbm.jdump(routes),
                                       "created_at": dbm.now_iso(), "enable_dhcp": int(bool(enable_dhcp)),
                                       "ipv6_ra_mode": ipv6_ra_mode, "ipv6_address_mode": ipv6_address_mode})
        return self.get_subnet(ctx, sid)

    def delete_subnet(self, ctx, ref):
        self._write(ctx)
        s = self._find_subnet(ctx, ref)
        if s["ip_version"] == 6 and s["ipv6_address_mode"] in ("slaac", "dhcpv6-stateless"):
            self._drop_auto_addresses(s)
        if dbm.row(self.db, "SELECT 1 x FROM ports WHERE subnet_id=? UNION ALL"
                            " SELECT 1 x FROM port_ips WHERE subnet_id=?", (s["id"], s["id"])):
            raise Conflict(f"subnet {ref!r} still has ports in use")
        self.db.conn.execute("DELETE FROM subnets WHERE id=?", (s["id"],))

    @staticmethod
    def subnet_pool_and_dhcp(s, net, changes: dict, gateway) -> dict:
        """The columns a subnet PUT of allocation_pools and enable_dhcp changes (checked as on
        create; addresses already given out stay, as neutron's)."""
        values: dict = {}
        if "allocation_pools" in changes:
            start, end = check_pool(net, changes["allocation_pools"],
                                    ipaddress.ip_address(gateway) if gateway else None)
            values.update(pool_start=str(start), pool_end=str(end))
        if "enable_dhcp" in changes:
            on = bool(changes["enable_dhcp"])
            check_ipv6_modes(net.version, on, s["ipv6_ra_mode"], s["ipv6_address_mode"], net)
            values["enable_dhcp"] = int(on)
        return values

    def _drop_auto_addresses(self, s) -> None:
        """A SLAAC subnet's addresses were never chosen: neutron takes them off the ports
        (a router's interface holds the subnet: 409 before anything changes) before the subnet goes."""
        if dbm.row(self.db, "SELECT 1 x FROM ports p WHERE p.device_owner LIKE 'network:router%' AND (p.subnet_id=?"
                            " OR EXISTS (SELECT 1 FROM port_ips i WHERE i.port_id=p.id AND i.subnet_id=?))",
                   (s["id"], s["id"])):
            raise Conflict(f"subnet {s['id']!r} still has ports in use (a router interface)")
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM port_ips WHERE subnet_id=?", (s["id"],))
            for p in dbm.rows(self.db, "SELECT * FROM ports WHERE subnet_id=?", (s["id"],)):
                rest = self.fixed_ips_of(p)[1:]  # the next address becomes the port's first
                self.write_fixed_ips(p["id"], [({"id": f["subnet_id"]}, f["ip_address"]) for f in rest])
        self._forget_ips()
