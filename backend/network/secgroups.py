"""Neutron's security groups and their rules, and which ports (and servers) use them.

A group store, as neutron's API shows it: every project gets its `default` group (with
neutron's four rules) the first time it touches security groups or makes a port, a new group
gets neutron's two egress rules, a rule is checked as neutron checks it. The rules are kept
and shown but the lab's network does not enforce them yet: traffic between guests is not
filtered (docs/conformance.md)."""
from __future__ import annotations

import ipaddress
import uuid

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound

# neutron_lib.constants.IP_PROTOCOL_MAP (names a rule's protocol may have), and the aliases
PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1,
             "igmp": 2, "ip": 0, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58,
             "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89,
             "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112}
_WITH_PORTS = {6, 17, 33, 132, 136}      # tcp, udp, dccp, sctp, udplite
_ICMP = {1, 58}
DEFAULT = "default"


def _proto_number(p) -> int | None:
    if p is None:
        return None
    return PROTOCOLS[p] if p in PROTOCOLS else int(p)


class SecurityGroups:
    """Mixed into NetworkService (backend/network/api.py): self.db, self.config, _write,
    _owner and _visible are its."""

    # ---- views ------------------------------------------------------------------------
    def _rule_view(self, r) -> dict:
        return {k: r[k] for k in ("id", "security_group_id", "project_id", "direction", "ethertype",
                                  "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
                                  "remote_group_id", "description", "revision_number", "created_at",
                                  "updated_at")}

    def _group_view(self, g) -> dict:
        rules = dbm.rows(self.db, "SELECT * FROM security_group_rules WHERE security_group_id=?"
                                  " ORDER BY created_at, id", (g["id"],))
        return {"id": g["id"], "name": g["name"], "description": g["description"],
                "project_id": g["project_id"], "stateful": bool(g["stateful"]),
                "revision_number": g["revision_number"], "created_at": g["created_at"],
                "updated_at": g["updated_at"], "rules": [self._rule_view(r) for r in rules]}

    # ---- the default group --------------------------------------------------------------
    def ensure_default_group(self, project_id: str | None) -> str | None:
        """The project's default group's id, made with neutron's four rules when missing
        (ingress from the group itself and egress anywhere, IPv4 and IPv6). Outside quota,
        as neutron makes it."""
        if not project_id:
            return None
        g = dbm.row(self.db, "SELECT id FROM security_groups WHERE project_id=? AND is_default=1",
                    (project_id,))
        if g:
            return g["id"]
        gid, now = str(uuid.uuid4()), dbm.now_iso()
        with dbm.transaction(self.db):
            # INSERT OR IGNORE: the partial unique index keeps one default group per project
            cur = self.db.conn.execute(
                "INSERT OR IGNORE INTO security_groups (id, name, description, project_id, stateful,"
                " is_default, created_at, updated_at) VALUES (?,?,?,?,1,1,?,?)",
                (gid, DEFAULT, "Default security group", project_id, now, now))
            if cur.rowcount:
                for direction, remote in (("ingress", gid), ("egress", None)):
                    for eth in ("IPv4", "IPv6"):
                        self._insert_rule(gid, project_id, direction, eth, None, None, None, None,
                                          remote, "", now)
        return dbm.row(self.db, "SELECT id FROM security_groups WHERE project_id=? AND is_default=1",
                       (project_id,))["id"]

    def _insert_rule(self, gid, project_id, direction, eth, proto, pmin, pmax, prefix, remote, desc, now):
        rid = str(uuid.uuid4())
        self.db.conn.execute(
            "INSERT INTO security_group_rules (id, security_group_id, project_id, direction, ethertype,"
            " protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id, description,"
            " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (rid, gid, project_id, direction, eth, proto, pmin, pmax, prefix, remote, desc, now, now))
        return rid

    # ---- lookups ------------------------------------------------------------------------
    def _find_group(self, ctx, ref) -> dict:
        g = dbm.row(self.db, "SELECT * FROM security_groups WHERE id=?", (ref,)) if isinstance(ref, str) else None
        if not g or not self._visible(ctx, g["project_id"]):
            raise NotFound(f"Security group {ref} does not exist")
        return g

    def find_group_for(self, ctx, project_id, ref) -> dict:
        """A group of project_id by id or name (nova's server create and actions). A name two
        groups share is a Conflict; one not found is NotFound."""
        self.ensure_default_group(project_id)
        g = dbm.row(self.db, "SELECT * FROM security_groups WHERE id=? AND project_id=?", (ref, project_id))
        if g:
            return g
        named = dbm.rows(self.db, "SELECT * FROM security_groups WHERE name=? AND project_id=?",
                         (ref, project_id))
        if len(named) > 1:
            raise Conflict(f"Multiple security groups named {ref!r} exist; use its id")
        if not named:
            raise NotFound(f"Security group {ref} not found")
        return named[0]

    # ---- groups -------------------------------------------------------------------------
    def list_security_groups(self, ctx, filters=None) -> list[dict]:
        self.ensure_default_group(ctx.project_id)
        out = [self._group_view(g) for g in dbm.rows(self.db, "SELECT * FROM security_groups"
                                                            " ORDER BY created_at, id")
               if self._visible(ctx, g["project_id"])]
        return [g for g in out if all(str(g.get(k)) == str(v) for k, v in (filters or {}).items() if k in g)]

    def get_security_group(self, ctx, ref) -> dict:
        self.ensure_default_group(ctx.project_id)
        return self._group_view(self._find_group(ctx, ref))

    @staticmethod
    def _check_text(value, field, limit=255):
        if not isinstance(value, str):
            raise BadRequest(f"Invalid input for {field}. Reason: {value!r} is not a valid string.")
        if len(value) > limit:
            raise BadRequest(f"Invalid input for {field}. Reason: '{value[:20]}...' exceeds maximum "
                             f"length of {limit}.")
        return value

    def create_security_group(self, ctx, name, description="", stateful=True, project_id=None) -> dict:
        self._write(ctx)
        self._check_text(name, "name")
        self._check_text(description, "description")
        owner = self._owner(ctx, project_id)
        self.ensure_default_group(owner)
        if name == DEFAULT:
            raise Conflict("Default security group already exists.")
        gid, now = str(uuid.uuid4()), dbm.now_iso()
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, owner, {"security_group": 1, "security_group_rule": 2}, "network")
            self.db.conn.execute(
                "INSERT INTO security_groups (id, name, description, project_id, stateful, created_at,"
                " updated_at) VALUES (?,?,?,?,?,?,?)", (gid, name, description, owner, int(bool(stateful)), now, now))
            for eth in ("IPv4", "IPv6"):  # neutron gives a new group egress to anywhere
                self._insert_rule(gid, owner, "egress", eth, None, None, None, None, None, "", now)
        return self.get_security_group(ctx, gid)

    def _owned(self, ctx, g):
        self._write(ctx)
        if g["project_id"] != ctx.project_id and not ctx.is_admin:
            raise Forbidden(f"only the owner of security group {g['id']} or an admin may change it")

    def update_security_group(self, ctx, ref, changes: dict) -> dict:
        """changes: name, description, stateful (not while a port uses the group)."""
        g = self._find_group(ctx, ref)
        self._owned(ctx, g)
        values = {}
        if "name" in changes:
            self._check_text(changes["name"], "name")
            if g["is_default"] and changes["name"] != DEFAULT:
                raise Conflict("Default security group can not be renamed.")
            if not g["is_default"] and changes["name"] == DEFAULT:
                raise Conflict("Default security group already exists.")
            values["name"] = changes["name"]
        if "description" in changes:
            values["description"] = self._check_text(changes["description"], "description")
        if "stateful" in changes and bool(changes["stateful"]) != bool(g["stateful"]):
            if self._group_in_use(g["id"]):
                raise Conflict(f"Security Group {g['id']} in use: its stateful attribute cannot change.")
            values["stateful"] = int(bool(changes["stateful"]))
        if values:
            values.update(updated_at=dbm.now_iso(), revision_number=g["revision_number"] + 1)
            cols = ", ".join(f"{k}=?" for k in values)  # keys are this module's own
            self.db.conn.execute(f"UPDATE security_groups SET {cols} WHERE id=?", (*values.values(), g["id"]))
        return self.get_security_group(ctx, g["id"])

    def _group_in_use(self, gid) -> bool:
        return bool(dbm.row(self.db, "SELECT 1 x FROM port_security_groups WHERE security_group_id=? UNION ALL"
                                     " SELECT 1 FROM instance_security_groups s JOIN instances i"
                                     " ON i.uuid=s.instance_uuid WHERE s.security_group_id=? AND i.deleted=0"
                                     " LIMIT 1", (gid, gid)))

    def delete_security_group(self, ctx, ref) -> None:
        g = self._find_group(ctx, ref)
        self._owned(ctx, g)
        if g["is_default"] and not ctx.is_admin:  # an admin may (neutron: cleaning up a project)
            raise Conflict("Insufficient rights for removing default security group.")
        if self._group_in_use(g["id"]):
            raise Conflict(f"Security Group {g['id']} in use.")
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM instance_security_groups WHERE security_group_id=?", (g["id"],))
            self.db.conn.execute("DELETE FROM security_groups WHERE id=?", (g["id"],))  # rules cascade

    # ---- rules --------------------------------------------------------------------------
    def list_security_group_rules(self, ctx, filters=None) -> list[dict]:
        self.ensure_default_group(ctx.project_id)
        out = [self._rule_view(r) for r in dbm.rows(self.db, "SELECT * FROM security_group_rules"
                                                            " ORDER BY created_at, id")
               if self._visible(ctx, r["project_id"])]
        return [r for r in out if all(str(r.get(k)) == str(v) for k, v in (filters or {}).items() if k in r)]

    def get_security_group_rule(self, ctx, ref) -> dict:
        r = dbm.row(self.db, "SELECT * FROM security_group_rules WHERE id=?", (ref,)) if isinstance(ref, str) else None
        if not r or not self._visible(ctx, r["project_id"]):
            raise NotFound(f"Security group rule {ref} does not exist")
        return self._rule_view(r)

    def create_security_group_rule(self, ctx, security_group_id, direction, ethertype="IPv4", protocol=None,
                                   port_range_min=None, port_range_max=None, remote_ip_prefix=None,
                                   remote_group_id=None, description="") -> dict:
        """Checked as neutron checks a rule; the same rule twice is 409 SecurityGroupRuleExists."""
        self._write(ctx)
        g = self._find_group(ctx, security_group_id)
        self._owned(ctx, g)
        if direction not in ("ingress", "egress"):
            raise BadRequest(f"Invalid input for direction. Reason: {direction!r} is not in "
                             "['ingress', 'egress'].")
        if ethertype not in ("IPv4", "IPv6"):
            raise BadRequest(f"Invalid input for ethertype. Reason: {ethertype!r} is not in ['IPv4', 'IPv6'].")
        proto = self._check_protocol(protocol)
        pmin, pmax = (self._port_value(p) for p in (port_range_min, port_range_max))
        self._check_ports(proto, pmin, pmax)
        self._check_text(description, "description")
        if remote_ip_prefix is not None and remote_group_id is not None:
            raise BadRequest("Only remote_ip_prefix or remote_group_id may be provided.")
        prefix = self._check_prefix(remote_ip_prefix, ethertype)
        if remote_group_id is not None:
            if not isinstance(remote_group_id, str):
                raise BadRequest("Invalid input for remote_group_id: it must be a security group id")
            remote = self._find_group(ctx, remote_group_id)
            if remote["project_id"] != g["project_id"] and not ctx.is_admin:
                raise NotFound(f"Security group {remote_group_id} does not exist")
        dup = self._duplicate(g["id"], direction, ethertype, proto, pmin, pmax, prefix, remote_group_id)
        if dup:
            raise Conflict(f"Security group rule already exists. Rule id is {dup}.")
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, g["project_id"], {"security_group_rule": 1}, "network")
            rid = self._insert_rule(g["id"], g["project_id"], direction, ethertype, proto, pmin, pmax, prefix,
                                    remote_group_id, description, dbm.now_iso())
            self._bump(g["id"])
        return self.get_security_group_rule(ctx, rid)

    def _bump(self, gid):
        self.db.conn.execute("UPDATE security_groups SET revision_number=revision_number+1, updated_at=?"
                             " WHERE id=?", (dbm.now_iso(), gid))

    @staticmethod
    def _check_protocol(protocol):
        if protocol in (None, "", "any"):
            return None
        if isinstance(protocol, int) and not isinstance(protocol, bool):
            protocol = str(protocol)
        if isinstance(protocol, str):
            p = protocol.lower()
            if p in PROTOCOLS:
                return p
            if p.isascii() and p.isdigit() and 0 <= int(p) <= 255:
                return str(int(p))
        raise BadRequest(f"Security group rule protocol {protocol!r} not supported. Only protocol values "
                         f"[None, {', '.join(sorted(PROTOCOLS))}] and integer representations [0 to 255] "
                         "are supported.")

    @staticmethod
    def _port_value(v):
        if v is None:
            return None
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535:
            raise BadRequest(f"Invalid value for port {v}")
        return v

    @staticmethod
    def _check_ports(proto, pmin, pmax):
        if pmin is None and pmax is None:
            return
        num = _proto_number(proto)
        if num is None:
            raise BadRequest("Must also specify protocol if port range is given.")
        if num in _WITH_PORTS:
            if pmin == 0 or pmax == 0:
                raise BadRequest("Invalid value for port 0")
            if pmin is None or pmax is None or pmin > pmax:
                raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max")
        elif num in _ICMP:
            for v, field, attr in ((pmin, "type", "port-range-min"), (pmax, "code", "port-range-max")):
                if v is not None and not 0 <= v <= 255:
                    raise BadRequest(f"Invalid value for ICMP {field} ({attr}): {v}. It must be 0 to 255.")
            if pmin is None:
                raise BadRequest(f"ICMP type (port-range-min) is missing, ICMP code (port-range-max) {pmax} "
                                 "is provided.")
        else:
            raise BadRequest(f"Invalid protocol {proto} for port range, only supported for TCP, UDP, "
                             "UDPLITE, SCTP and DCCP.")

    @staticmethod
    def _check_prefix(prefix, ethertype):
        if prefix is None:
            return None
        if not isinstance(prefix, str):
            raise BadRequest(f"Invalid input for remote_ip_prefix. Reason: {prefix!r} is not a valid IP prefix.")
        text = prefix if "/" in prefix else None
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise BadRequest(f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a valid "
                             "IP prefix.") from None
        if f"IPv{net.version}" != ethertype:
            raise BadRequest(f"Conflicting value ethertype {ethertype} for CIDR {prefix}")
        return text or str(net)  # an address alone is its host prefix, as neutron makes it

    def _duplicate(self, gid, direction, eth, proto, pmin, pmax, prefix, remote) -> str | None:
        def norm_prefix(p):
            if p is None:
                return None
            n = ipaddress.ip_network(p, strict=False)
            return None if n.prefixlen == 0 else str(n)  # 0.0.0.0/0 is the same as none (neutron)
        want = (direction, eth, _proto_number(proto), pmin, pmax, norm_prefix(prefix), remote)
        for r in dbm.rows(self.db, "SELECT * FROM security_group_rules WHERE security_group_id=?", (gid,)):
            have = (r["direction"], r["ethertype"], _proto_number(r["protocol"]), r["port_range_min"],
                    r["port_range_max"], norm_prefix(r["remote_ip_prefix"]), r["remote_group_id"])
            if have == want:
                return r["id"]
        return None

    def delete_security_group_rule(self, ctx, ref) -> None:
        r = self.get_security_group_rule(ctx, ref)
        g = self._find_group(ctx, r["security_group_id"])
        self._owned(ctx, g)
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM security_group_rules WHERE id=?", (r["id"],))
            self._bump(g["id"])

    # ---- ports ----------------------------------------------------------------------------
    def port_security(self, port_id) -> tuple[list[str], bool]:
        """(the port's group ids, port_security_enabled)."""
        gids = [r["security_group_id"] for r in dbm.rows(
            self.db, "SELECT p.security_group_id FROM port_security_groups p JOIN security_groups g"
                     " ON g.id=p.security_group_id WHERE p.port_id=? ORDER BY g.created_at, g.id", (port_id,))]
        off = dbm.row(self.db, "SELECT 1 x FROM port_security_off WHERE port_id=?", (port_id,))
        return gids, not off

    def check_port_groups(self, ctx, project_id, groups, enabled=True) -> list[str]:
        """The ids a port of project_id gets: groups (ids of that project's groups), or its
        default group when None; none when port security is off (and asking for groups then
        is neutron's 400)."""
        if not enabled:
            if groups:
                raise BadRequest("Port security must be enabled and port must have an IP address in order "
                                 "to use security groups.")
            return []
        if groups is None:
            return [self.ensure_default_group(project_id)]
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise BadRequest("Invalid input for security_groups: it must be a list of security group ids")
        out = []
        for ref in groups:
            g = dbm.row(self.db, "SELECT * FROM security_groups WHERE id=?", (ref,))
            if not g or (g["project_id"] != project_id and not ctx.is_admin):
                raise NotFound(f"Security group {ref} does not exist")
            if g["id"] not in out:
                out.append(g["id"])
        return out

    def set_port_security(self, port_id, gids, enabled=True) -> None:
        """Inside the caller's transaction."""
        self.db.conn.execute("DELETE FROM port_security_groups WHERE port_id=?", (port_id,))
        self.db.conn.executemany("INSERT INTO port_security_groups VALUES (?,?)", [(port_id, g) for g in gids])
        if enabled:
            self.db.conn.execute("DELETE FROM port_security_off WHERE port_id=?", (port_id,))
        else:
            self.db.conn.execute("INSERT OR IGNORE INTO port_security_off VALUES (?)", (port_id,))

    # ---- servers (nova's security groups of an instance) ----------------------------------
    def server_groups(self, instance_uuid) -> list[dict]:
        return dbm.rows(self.db, "SELECT g.* FROM instance_security_groups s JOIN security_groups g"
                                 " ON g.id=s.security_group_id WHERE s.instance_uuid=? ORDER BY s.position, g.name",
                        (instance_uuid,))

    def set_server_groups(self, instance_uuid, gids, ports=True) -> None:
        """The instance's groups, and (ports=True) those of every port it has with port
        security on (nova's add/removeSecurityGroup change all of them)."""
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM instance_security_groups WHERE instance_uuid=?", (instance_uuid,))
            self.db.conn.executemany("INSERT INTO instance_security_groups VALUES (?,?,?)",
                                     [(instance_uuid, g, i) for i, g in enumerate(gids)])
            if ports:
                for p in dbm.rows(self.db, "SELECT id FROM ports WHERE device_id=? AND id NOT IN"
                                           " (SELECT port_id FROM port_security_off)", (instance_uuid,)):
                    self.set_port_security(p["id"], gids)

    def update_port_security(self, ctx, p, changes) -> None:
        """A port's security_groups (ids) and port_security_enabled, as neutron's PUT: turning
        port security off while the port keeps groups is its 409."""
        groups, enabled = self.port_security(p["id"])
        enabled = bool(changes.get("port_security_enabled", enabled))
        if "security_groups" in changes:
            groups = self.check_port_groups(ctx, p["project_id"], changes["security_groups"] or [], enabled)
        elif not enabled and groups:
            raise Conflict(f"Port {p['id']} has security group associated. Cannot disable port security or ip "
                           "address until security group is removed.")
        with dbm.transaction(self.db):
            self.set_port_security(p["id"], groups, enabled)
