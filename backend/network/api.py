"""Network (neutron): networks, subnets with allocation pools, ports.

A port gets a MAC with the fa:16:3e prefix and the lowest free fixed IP of its subnet's
pool; the UNIQUE(subnet_id, ip_address) constraint makes a double allocation impossible
even if two allocations raced."""
from __future__ import annotations

import ipaddress
import random
import sqlite3
import uuid

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.identity import check_name
from backend.network.floatingips import FloatingIPMixin
from backend.network.dhcp_agent import DEVICE_OWNER as DHCP_OWNER, DhcpAgent
from backend.network.l2_agent import L2Agent, L2PortBinding
from backend.network.options import check_dns_nameservers, check_host_routes, check_mac
from backend.network.routers import L3_OWNERS
from backend.network.routers import RouterMixin
from backend.network.secgroups import SecurityGroups
from backend.network.updates import NetworkUpdates


class NetworkService(NetworkUpdates, RouterMixin, FloatingIPMixin, SecurityGroups, L2PortBinding):
    def __init__(self, db, config):
        self.db = db
        self.config = config
        self.l2 = L2Agent(db)  # segments, flooding lists, the network node (backend/network/l2_agent.py)
        self.dhcp = DhcpAgent(self)  # dnsmasq per network on the node (backend/network/dhcp_agent.py)
        # routers whose plumbing the L3 agent must bring in line (backend/network/l3_agent.py)
        self.l3_pending: set[str] = set()
        # used addresses per subnet, as ints: this service is the only writer of ports, so
        # the cache stays true; scanning the table per allocation was O(ports)
        self._used: dict[str, set[int]] = {}

    def _used_ips(self, subnet_id) -> set[int]:
        u = self._used.get(subnet_id)
        if u is None:
            u = {int(ipaddress.ip_address(r["ip_address"])) for r in
                 dbm.rows(self.db, "SELECT ip_address FROM ports WHERE subnet_id=?", (subnet_id,))}
            self._used[subnet_id] = u
        return u

    def _forget_ips(self):
        self._used.clear()

    # ---- views ----------------------------------------------------------------------
    def _net_view(self, n, ctx=None):
        subs = [s["id"] for s in dbm.rows(self.db, "SELECT id FROM subnets WHERE network_id=? ORDER BY created_at",
                                          (n["id"],))]
        return {"id": n["id"], "name": n["name"], "project_id": n["project_id"], "tenant_id": n["project_id"],
                "shared": bool(n["shared"]), "status": n["status"], "admin_state_up": True,
                "external": bool(n["external"]), "subnets": subs, "created_at": n["created_at"],
                **self._l2_net_fields(ctx, n)}

    @staticmethod
    def _subnet_view(s):
        return {"id": s["id"], "name": s["name"], "network_id": s["network_id"], "project_id": s["project_id"],
                "tenant_id": s["project_id"], "cidr": s["cidr"], "gateway_ip": s["gateway_ip"],
                "ip_version": s["ip_version"], "enable_dhcp": True,
                "allocation_pools": [{"start": s["pool_start"], "end": s["pool_end"]}],
                "dns_nameservers": dbm.jload(s["dns_nameservers"], []),
                "host_routes": dbm.jload(s["host_routes"], []), "created_at": s["created_at"]}

    def _port_view(self, p):
        groups, secured = self.port_security(p["id"])
        return {"id": p["id"], "name": p["name"], "network_id": p["network_id"], "project_id": p["project_id"],
                "tenant_id": p["project_id"], "mac_address": p["mac_address"],
                "fixed_ips": [{"subnet_id": p["subnet_id"], "ip_address": p["ip_address"]}] if p["subnet_id"] else [],
                "device_id": p["device_id"], "device_owner": p["device_owner"],
                "binding_host_id": p["binding_host"], "status": p["status"], "admin_state_up": True,
                "security_groups": groups, "port_security_enabled": secured, **self._l2_port_fields(p)}

    # ---- lookups with visibility ----------------------------------------------------
    def _visible(self, ctx, project_id, shared=False):
        return ctx.is_admin or shared or project_id == ctx.project_id

    def find_network(self, ctx, ref: str) -> dict:
        n = (dbm.row(self.db, "SELECT * FROM networks WHERE id=?", (ref,)) or
             dbm.row(self.db, "SELECT * FROM networks WHERE name=? AND (project_id=? OR shared=1) "
                              "ORDER BY project_id=? DESC LIMIT 1", (ref, ctx.project_id, ctx.project_id)))
        # an external network is visible to every project (neutron's rule:external)
        if not n or not self._visible(ctx, n["project_id"], n["shared"] or n["external"]):
            raise NotFound(f"network {ref!r} not found")
        return n

    def _find_subnet(self, ctx, ref):
        s = (dbm.row(self.db, "SELECT * FROM subnets WHERE id=?", (ref,)) or
             dbm.row(self.db, "SELECT * FROM subnets WHERE name=? AND project_id=?", (ref, ctx.project_id)))
        if not s:
            raise NotFound(f"subnet {ref!r} not found")
        net = dbm.row(self.db, "SELECT * FROM networks WHERE id=?", (s["network_id"],))
        if not self._visible(ctx, s["project_id"], net["shared"]):
            raise NotFound(f"subnet {ref!r} not found")
        return s

    def _find_port(self, ctx, ref):
        p = dbm.row(self.db, "SELECT * FROM ports WHERE id=?", (ref,))
        if not p or not self._visible(ctx, p["project_id"]):
            raise NotFound(f"port {ref!r} not found")
        return p

    @staticmethod
    def _write(ctx):
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")

    # ---- networks -------------------------------------------------------------------
    def list_networks(self, ctx, filters):
        out = [self._net_view(n, ctx) for n in dbm.rows(self.db, "SELECT * FROM networks ORDER BY created_at")
               if self._visible(ctx, n["project_id"], n["shared"] or n["external"])]
        return [n for n in out if all(str(n.get(k)) == str(v) for k, v in filters.items() if k in n)]

    def get_network(self, ctx, ref):
        return self._net_view(self.find_network(ctx, ref), ctx)

    def create_network(self, ctx, name, shared=False, project_id=None, external=False):
        """project_id: the owner, when not the caller's project (admins only, as neutron);
        external: router:external (admins only), a network routers and floating IPs use."""
        self._write(ctx)
        check_name("network", name)
        if shared and not ctx.is_admin:
            raise Forbidden("only an admin may create a shared network")
        if external and not ctx.is_admin:
            raise Forbidden("only an admin may create an external network (router:external)")
        owner = self._owner(ctx, project_id)
        nid = str(uuid.uuid4())
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, owner, {"network": 1}, "network")
            self.db["networks"].insert({"id": nid, "name": name, "project_id": owner,
                                        "shared": int(bool(shared)), "status": "ACTIVE",
                                        "external": int(bool(external)), "created_at": dbm.now_iso(),
                                        "segmentation_id": self.l2.allocate_segment()})
        return self.get_network(ctx, nid)

    def _owner(self, ctx, project_id):
        if project_id in (None, "", ctx.project_id):
            return ctx.project_id
        if not ctx.is_admin:
            raise Forbidden("only an admin may create a resource in another project (project_id/tenant_id)")
        if not dbm.row(self.db, "SELECT 1 x FROM projects WHERE id=?", (project_id,)):
            raise BadRequest(f"project_id {project_id!r} is not a project")
        return project_id

    def delete_network(self, ctx, ref):
        self._write(ctx)
        n = self.find_network(ctx, ref)
        if n["project_id"] != ctx.project_id and not ctx.is_admin:
            raise Forbidden("a shared network can only be deleted by its owner or an admin")
        used = dbm.row(self.db, "SELECT count(*) c FROM ports WHERE network_id=? AND device_owner!=?",
                       (n["id"], DHCP_OWNER))["c"]
        if used:
            raise Conflict(f"network {n['name']!r} still has {used} port(s) in use")
        self.dhcp.network_deleted(n["id"])  # its DHCP port goes with it, as neutron's
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM subnets WHERE network_id=?", (n["id"],))
            self.db.conn.execute("DELETE FROM networks WHERE id=?", (n["id"],))

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

    # ---- ports ----------------------------------------------------------------------
    def list_ports(self, ctx, filters):
        out = [self._port_view(p) for p in dbm.rows(self.db, "SELECT * FROM ports ORDER BY created_at")
               if self._visible(ctx, p["project_id"])]
        return [p for p in out if all(str(p.get(k)) == str(v) for k, v in filters.items() if k in p)]

    def get_port(self, ctx, ref):
        return self._port_view(self._find_port(ctx, ref))

    def create_port(self, ctx, network, name="", fixed_ip=None, device_id="", device_owner="",
                    host=None, project_id=None, mac_address=None, security_groups=None,
                    port_security_enabled=True):
        """security_groups: ids (None: the project's default group; ports a router or a
        floating IP owns get none, as neutron's)."""
        self._write(ctx)
        check_name("port", name or "", empty=True)
        n = self.find_network(ctx, network)
        subnets = dbm.rows(self.db, "SELECT * FROM subnets WHERE network_id=? ORDER BY created_at", (n["id"],))
        if not subnets and (fixed_ip is not None or device_id):
            # a port the user makes on a network without a subnet has no address (neutron);
            # an instance's port, or one asking for an address, needs one
            raise Conflict(f"network {n['name']!r} has no subnet to take an address from")
        if fixed_ip is not None and n["project_id"] != ctx.project_id and not ctx.is_admin:
            # neutron's create_port:fixed_ips:ip_address: the network's owner or an admin only
            # (a member would otherwise squat on chosen addresses of a shared network)
            raise Forbidden(f"only an admin may choose a fixed IP on network {n['name']!r}, "
                            "which belongs to another project")
        if mac_address is not None:
            mac_address = check_mac(mac_address)
            if n["project_id"] != ctx.project_id and not ctx.is_admin:
                raise Forbidden(f"only an admin may choose a MAC address on network {n['name']!r}, "
                                "which belongs to another project")
        gids = ([] if device_owner.startswith("network:") else
                self.check_port_groups(ctx, project_id or ctx.project_id, security_groups, port_security_enabled))
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, project_id or ctx.project_id, {"port": 1}, "network")
            subnet, ip = self._pick_ip(subnets, fixed_ip) if subnets else ({"id": None}, None)
            pid = str(uuid.uuid4())
            for _ in range(20):
                mac = mac_address or "fa:16:3e:%02x:%02x:%02x" % tuple(random.randrange(256) for _ in range(3))
                try:
                    self.db.conn.execute(
                        "INSERT INTO ports (id, name, network_id, subnet_id, project_id, mac_address, ip_address,"
                        " device_id, device_owner, binding_host, created_for, status, created_at)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (pid, name or "", n["id"], subnet["id"], project_id or ctx.project_id, mac, ip, device_id,
                         device_owner, host, device_id or None, "ACTIVE" if device_id else "DOWN", dbm.now_iso()))
                    break
                except sqlite3.IntegrityError as e:
                    if "mac_address" not in str(e):
                        raise Conflict(f"IP address {ip} is already in use") from None
                    if mac_address:  # neutron's MacAddressInUse
                        raise Conflict(f"MAC address {mac_address} is already in use on a port") from None
            else:
                raise Conflict("could not find a free MAC address")
            self.set_port_security(pid, gids, port_security_enabled)
        if ip is not None:
            self._used_ips(subnet["id"]).add(int(ipaddress.ip_address(ip)))
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

    # ---- queue endpoints (compute asks for ports during 'networking') ----------------
    async def allocate_for_instance(self, ctx, instance_uuid, project_id, host, requested, zone="nova",
                                    vif_type="other", vtep=None):
        """requested: "auto" | "none" | [{"uuid"} | {"port"} | {"uuid", "fixed_ip"}]. Returns
        network_info for the driver; on any failure nothing it made remains. The ports are
        bound to host (vif_type, and its VXLAN endpoint vtep), status DOWN until it wires them."""
        made = []
        try:
            if requested == "none":
                return []
            if requested in (None, "auto"):
                requested = [{"uuid": self.auto_network(ctx, project_id)["id"]}]
            info = []
            for req in requested:
                if req.get("port"):
                    p = self._find_port(ctx, req["port"])
                    if p["device_id"]:
                        raise Conflict(f"port {p['id']} is already in use")
                    if not p["ip_address"]:
                        raise Conflict(f"port {p['id']} has no fixed IP (its network has no subnet)")
                    self.db.conn.execute("UPDATE ports SET device_id=?, device_owner=?, binding_host=?, status='ACTIVE'"
                                         " WHERE id=?", (instance_uuid, f"compute:{zone}", host, p["id"]))
                    made.append(("bound", p["id"]))
                else:
                    # the server's groups (nova's instance.security_groups); none asked: default
                    sgs = [g["id"] for g in self.server_groups(instance_uuid)] or None
                    p = self.create_port(ctx, req["uuid"], fixed_ip=req.get("fixed_ip"), device_id=instance_uuid,
                                         device_owner=f"compute:{zone}", host=host, project_id=project_id,
                                         security_groups=sgs)
                    made.append(("created", p["id"]))
                info.append(self.network_info(p["id"]))
            out = await self._bind_l2(ctx, instance_uuid, host, vif_type, vtep, info)
            self.dhcp.ports_bound({i["network_id"] for i in info})  # ready before the ports go ACTIVE
            return out
        except Exception:
            for kind, pid in made:
                if kind == "created":
                    self.db.conn.execute("DELETE FROM ports WHERE id=?", (pid,))
                    self._forget_ips()
                else:
                    self.db.conn.execute("UPDATE ports SET device_id='', device_owner='', binding_host=NULL,"
                                         " status='DOWN', binding_vif_type=NULL, binding_vtep=NULL WHERE id=?", (pid,))
            raise

    def auto_network(self, ctx, project_id):
        # only a network with a subnet can give the instance an address
        has_subnet = " AND EXISTS (SELECT 1 FROM subnets s WHERE s.network_id=networks.id)"
        n = (dbm.row(self.db, "SELECT * FROM networks WHERE project_id=? AND shared=0" + has_subnet +
                     " ORDER BY created_at LIMIT 1", (project_id,)) or
             dbm.row(self.db, "SELECT * FROM networks WHERE shared=1" + has_subnet + " ORDER BY created_at LIMIT 1"))
        if not n:
            raise BadRequest("no network with a subnet is available to the project; create one (with a "
                             "subnet) or pass networks 'none'")
        return n

    def network_info(self, port_id):
        p = dbm.row(self.db, "SELECT p.*, s.cidr, s.gateway_ip, n.name network_name FROM ports p"
                             " JOIN subnets s ON s.id=p.subnet_id JOIN networks n ON n.id=p.network_id"
                             " WHERE p.id=?", (port_id,))
        net = ipaddress.ip_network(p["cidr"])
        return {"port_id": p["id"], "mac_address": p["mac_address"], "fixed_ip": p["ip_address"],
                "network_id": p["network_id"], "network_name": p["network_name"], "cidr": p["cidr"],
                "gateway": p["gateway_ip"], "prefixlen": net.prefixlen, "netmask": str(net.netmask)}

    async def deallocate_for_instance(self, ctx, instance_uuid):
        """Delete the ports made for the instance; unbind ports the user brought."""
        l2_was = self._l2_hosts(instance_uuid)
        dhcp_nets = {r["network_id"] for r in dbm.rows(self.db, "SELECT network_id FROM ports WHERE device_id=?",
                                                       (instance_uuid,))}
        self._ports_going([p["id"] for p in dbm.rows(self.db, "SELECT id FROM ports WHERE device_id=?",
                                                     (instance_uuid,))])
        for p in dbm.rows(self.db, "SELECT subnet_id, ip_address FROM ports WHERE created_for=?", (instance_uuid,)):
            self._used_ips(p["subnet_id"]).discard(int(ipaddress.ip_address(p["ip_address"])))
        self.db.conn.execute("DELETE FROM ports WHERE created_for=?", (instance_uuid,))
        self.db.conn.execute("UPDATE ports SET device_id='', device_owner='', binding_host=NULL, status='DOWN',"
                             " binding_vif_type=NULL, binding_vtep=NULL WHERE device_id=?", (instance_uuid,))
        await self._l2_left(ctx, l2_was)
        await self.dhcp.networks_changed(dhcp_nets)
        await self.l3_sync()

    def addresses(self, instance_uuid) -> dict:
        out: dict[str, list] = {}
        for p in dbm.rows(self.db, "SELECT p.ip_address, p.mac_address, n.name, f.floating_ip_address FROM ports p"
                                   " JOIN networks n ON n.id=p.network_id LEFT JOIN floatingips f ON f.port_id=p.id"
                                   " WHERE p.device_id=? ORDER BY p.created_at", (instance_uuid,)):
            out.setdefault(p["name"], []).append({"addr": p["ip_address"], "mac": p["mac_address"],
                                                  "version": 4, "type": "fixed"})
            if p["floating_ip_address"]:  # nova lists it after the fixed address it maps to
                out[p["name"]].append({"addr": p["floating_ip_address"], "mac": p["mac_address"],
                                       "version": 4, "type": "floating"})
        return out
