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


class SubnetMixin:
    """Mixed into NetworkService: self.db, self.config, find_network, _visible, _write."""

    @staticmethod
    def _subnet_view(s):
        return {"id": s["id"], "name": s["name"], "network_id": s["network_id"], "project_id": s["project_id"],
                "tenant_id": s["project_id"], "cidr": s["cidr"], "gateway_ip": s["gateway_ip"],
                "ip_version": s["ip_version"], "enable_dhcp": True,
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
                      dns_nameservers=None, host_routes=None):
        self._write(ctx)
        n = self.find_network(ctx, network)
        if n["project_id"] != ctx.project_id and not ctx.is_admin:
            raise Forbidden("only the network's owner may add a subnet")
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except (ValueError, TypeError) as e:
            raise BadRequest(f"invalid cidr {cidr!r}: {e}") from None
        if net.version != 4:
            raise BadRequest("only IPv4 subnets are supported")
        if net.num_addresses < 4:
            raise BadRequest(f"cidr {cidr} is too small: a subnet needs at least a /30")
        if name:
            check_name("subnet", name)
        dns = check_dns_nameservers(dns_nameservers or [])
        routes = check_host_routes(host_routes or [], net)
        hosts = list(net.hosts()) if net.num_addresses <= 65536 else None
        first, last = (hosts[0], hosts[-1]) if hosts else (net.network_address + 1, net.broadcast_address - 1)
        if gateway_ip is None:
            gw = first
        else:
            try:
                gw = ipaddress.ip_address(gateway_ip)
            except ValueError:
                raise BadRequest(f"invalid gateway_ip {gateway_ip!r}") from None
            if gw not in net:
                raise BadRequest(f"gateway_ip {gw} is not inside {net}")
        if allocation_pools:
            if len(allocation_pools) != 1:
                raise BadRequest("exactly one allocation pool is supported")
            try:
                start = ipaddress.ip_address(allocation_pools[0]["start"])
                end = ipaddress.ip_address(allocation_pools[0]["end"])
            except (KeyError, ValueError, TypeError):
                raise BadRequest("allocation pool needs valid 'start' and 'end' addresses") from None
            if start not in net or end not in net or start > end:
                raise BadRequest(f"allocation pool {start}-{end} is not a range inside {net}")
        else:
            start, end = (gw + 1 if gw == first else first), last
        for s in dbm.rows(self.db, "SELECT cidr FROM subnets WHERE network_id=?", (n["id"],)):
            if ipaddress.ip_network(s["cidr"]).overlaps(net):
                raise Conflict(f"cidr {net} overlaps subnet {s['cidr']} of the same network")
        sid = str(uuid.uuid4())
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, n["project_id"], {"subnet": 1}, "network")
            self.db["subnets"].insert({"id": sid, "network_id": n["id"], "name": name or "",
                                       "project_id": n["project_id"], "cidr": str(net), "gateway_ip": str(gw),
                                       "ip_version": 4, "pool_start": str(start), "pool_end": str(end),
                                       "dns_nameservers": dbm.jdump(dns), "host_routes": dbm.jdump(routes),
                                       "created_at": dbm.now_iso()})
        return self.get_subnet(ctx, sid)

    def delete_subnet(self, ctx, ref):
        self._write(ctx)
        s = self._find_subnet(ctx, ref)
        if dbm.row(self.db, "SELECT 1 x FROM ports WHERE subnet_id=?", (s["id"],)):
            raise Conflict(f"subnet {ref!r} still has ports in use")
        self.db.conn.execute("DELETE FROM subnets WHERE id=?", (s["id"],))
