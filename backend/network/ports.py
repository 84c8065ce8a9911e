"""Neutron's ports: a MAC with the fa:16:3e prefix and the lowest free fixed IP of its
subnet's pool; the UNIQUE(subnet_id, ip_address) constraint makes a double allocation impossible
even if two allocations raced. Mixed into NetworkService (backend/network/api.py)."""
from __future__ import annotations

import ipaddress
import random
import uuid

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.identity import check_name
from backend.network.fixed_ips import parse_fixed_ips
from backend.network.options import check_mac
from backend.network.routers import FLOATINGIP, L3_OWNERS, ROUTER_GATEWAY, ROUTER_INTERFACE, neutron_error


class PortMixin:
    """Mixed into NetworkService: self.db, self.config, self._used (the address cache),
    find_network, _visible, _write and the security-group and L2 mixins' methods."""

    def _used_ips(self, subnet_id) -> set[int]:
        u = self._used.get(subnet_id)
        if u is None:
            u = {int(ipaddress.ip_address(r["ip_address"])) for r in
                 dbm.rows(self.db, "SELECT ip_address FROM ports WHERE subnet_id=? UNION ALL"
                                   " SELECT ip_address FROM port_ips WHERE subnet_id=?", (subnet_id, subnet_id))}
            self._used[subnet_id] = u
        return u

    def _forget_ips(self):
        self._used.clear()

    def _port_view(self, p):
        groups, secured = self.port_security(p["id"])
        return {"id": p["id"], "name": p["name"], "network_id": p["network_id"], "project_id": p["project_id"],
                "tenant_id": p["project_id"], "mac_address": p["mac_address"],
                "fixed_ips": self.fixed_ips_of(p), "device_id": p["device_id"], "device_owner": p["device_owner"],
                # an administratively down port carries no traffic: neutron's agent reports it DOWN
                "binding_host_id": p["binding_host"], "status": p["status"] if p["admin_state_up"] else "DOWN",
                "admin_state_up": bool(p["admin_state_up"]),
                "security_groups": groups, "port_security_enabled": secured, **self._l2_port_fields(p)}

    def _find_port(self, ctx, ref):
        p = dbm.row(self.db, "SELECT * FROM ports WHERE id=?", (ref,))
        if not p or not self._visible(ctx, p["project_id"]):
            raise NotFound(f"port {ref!r} not found")
        return p

    # ---- ports ----------------------------------------------------------------------
    def list_ports(self, ctx, filters):
        out = [self._port_view(p) for p in dbm.rows(self.db, "SELECT * FROM ports ORDER BY created_at")
               if self._visible(ctx, p["project_id"])]
        return [p for p in out if all(str(p.get(k)) == str(v) for k, v in filters.items() if k in p)]

    def get_port(self, ctx, ref):
        return self._port_view(self._find_port(ctx, ref))

    def create_port(self, ctx, network, name="", fixed_ip=None, device_id="", device_owner="",
                    host=None, project_id=None, mac_address=None, security_groups=None,
                    port_security_enabled=True, fixed_ips=None, admin_state_up=True):
        """fixed_ips: neutron's [{subnet_id?, ip_address?}] (fixed_ip: one chosen address, the
        short form); security_groups: ids (None: the project's default group; ports a router or
        a floating IP owns get none, as neutron's)."""
        self._write(ctx)
        check_name("port", name or "", empty=True)
        n = self.find_network(ctx, network)
        requests = parse_fixed_ips(fixed_ips) if fixed_ips is not None else (
            [{"ip_address": fixed_ip}] if fixed_ip is not None else None)
        has_subnet = dbm.row(self.db, "SELECT 1 x FROM subnets WHERE network_id=? LIMIT 1", (n["id"],))
        if not has_subnet and (requests or device_id):
            # a port the user makes on a network without a subnet has no address (neutron);
            # an instance's port, or one asking for an address, needs one
            raise Conflict(f"network {n['name']!r} has no subnet to take an address from")
        self.check_fixed_ips_policy(ctx, n, requests)
        if mac_address is not None:
            mac_address = check_mac(mac_address)
            if n["project_id"] != ctx.project_id and not ctx.is_admin:
                raise Forbidden(f"only an admin may choose a MAC address on network {n['name']!r}, "
                                "which belongs to another project")
            if dbm.row(self.db, "SELECT 1 x FROM ports WHERE mac_address=?", (mac_address,)):
                raise neutron_error(Conflict, "MacAddressInUse", f"Unable to complete operation for network "
                                    f"{n['id']}. The mac address {mac_address} is in use.")
        gids = ([] if device_owner.startswith("network:") else
                self.check_port_groups(ctx, project_id or ctx.project_id, security_groups, port_security_enabled))
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, project_id or ctx.project_id, {"port": 1}, "network")
            pid = str(uuid.uuid4())
            for _ in range(20):  # the MAC first: a SLAAC address is made from it
                mac = mac_address or "fa:16:3e:%02x:%02x:%02x" % tuple(random.randrange(256) for _ in range(3))
                if mac_address or not dbm.row(self.db, "SELECT 1 x FROM ports WHERE mac_address=?", (mac,)):
                    break
            else:
                raise Conflict("could not find a free MAC address")
            plan = self.plan_fixed_ips(n, requests, mac)
            try:
                self.db.conn.execute(
                    "INSERT INTO ports (id, name, network_id, subnet_id, project_id, mac_address, ip_address,"
                    " device_id, device_owner, binding_host, created_for, status, created_at, admin_state_up)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (pid, name or "", n["id"], None, project_id or ctx.project_id, mac, None, device_id,
                     device_owner, host, device_id or None, "ACTIVE" if device_id else "DOWN", dbm.now_iso(),
                     int(bool(admin_state_up))))
            except dbm.IntegrityError:
                raise neutron_error(Conflict, "MacAddressInUse", f"The mac address {mac} is in use.") from None
            self.write_fixed_ips(pid, plan)
            self.set_port_security(pid, gids, port_security_enabled)
        for s, ip in plan:
            self._used_ips(s["id"]).add(int(ipaddress.ip_address(ip)))
        return self._port_view(dbm.row(self.db, "SELECT * FROM ports WHERE id=?", (pid,)))

    def _pick_ip(self, subnets, fixed_ip):
        for s in subnets:
            net = ipaddress.ip_network(s["cidr"])
            start, end = int(ipaddress.ip_address(s["pool_start"])), int(ipaddress.ip_address(s["pool_end"]))
            used = self._used_ips(s["id"])
            gw = int(ipaddress.ip_address(s["gateway_ip"])) if s["gateway_ip"] else None
            if fixed_ip is not None:
                try:
                    want = ipaddress.ip_address(fixed_ip)
                except ValueError:
                    raise BadRequest(f"invalid fixed IP {fixed_ip!r}") from None
                if want not in net:
                    continue
                if net.num_addresses > 2 and want in (net.network_address, net.broadcast_address):
                    raise BadRequest(f"{want} is the network or broadcast address of {net}")
                if int(want) in used or int(want) == gw:
                    raise Conflict(f"IP address {want} is already in use")
                return s, str(want)
            ip = start
            while ip <= end:
                if ip not in used and ip != gw:
                    return s, str(ipaddress.ip_address(ip))
                ip += 1
        if fixed_ip is not None:
            raise BadRequest(f"fixed IP {fixed_ip} is not inside any subnet of the network")
        raise Conflict("no more IP addresses available on the network")

    def delete_port(self, ctx, ref):
        self._write(ctx)
        p = self._find_port(ctx, ref)
        if p["device_owner"].startswith("compute:"):
            raise Conflict(f"port {ref} is in use by instance {p['device_id']}; delete the instance")
        if p["device_owner"] in L3_OWNERS:  # neutron's L3PortInUse
            raise Conflict(f"Port {p['id']} cannot be deleted directly via the port API: has device owner "
                           f"{p['device_owner']}.")
        with dbm.transaction(self.db):
            self._ports_going([p["id"]])
            self.db.conn.execute("DELETE FROM ports WHERE id=?", (p["id"],))
        self._forget_ips()

    # ---- PUT fixed_ips ----------------------------------------------------------------
    def plan_port_ips(self, ctx, p, fixed_ips) -> list:
        """The port's new addresses (checked, nothing written): what it names and holds stays."""
        requests = parse_fixed_ips(fixed_ips)
        n = dbm.row(self.db, "SELECT * FROM networks WHERE id=?", (p["network_id"],))
        held = [(f["subnet_id"], f["ip_address"]) for f in self.fixed_ips_of(p)]
        self.check_fixed_ips_policy(ctx, n, [r for r in requests
                                             if (r.get("subnet_id"), r.get("ip_address")) not in held])
        if p["device_owner"] in (ROUTER_GATEWAY, FLOATINGIP):
            raise Conflict(f"port {p['id']} has device owner {p['device_owner']}: its address changes through "
                           "its router or floating IP")
        if p["device_owner"].startswith("compute:") and requests and not any(
                r.get("ip_address") == p["ip_address"] for r in requests):
            # the guest was given its first address at boot (config drive, DHCP): it keeps it
            raise Conflict(f"port {p['id']} is in use by instance {p['device_id']}: its first fixed IP "
                           f"{p['ip_address']} cannot change")
        return self.plan_fixed_ips(n, requests, p["mac_address"], keep=held)

    def move_port_ips(self, p, plan) -> None:
        with dbm.transaction(self.db):
            self.write_fixed_ips(p["id"], plan)
        self._forget_ips()
        if p["device_owner"] == ROUTER_INTERFACE and p["device_id"]:
            self.l3_pending.add(p["device_id"])  # the router's interface address moved
