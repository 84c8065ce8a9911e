"""The read side of the compute API: server lists (built in bulk, a few queries per page
whatever its size), actions and events, scheduler decisions, trace, flavors, hypervisors."""
from __future__ import annotations

import datetime as dt
import time

import regex

from backend.core import db as dbm
from backend.core import servicegroup
from backend.core import quota
from backend.core.errors import BadRequest, NotFound
from backend.core.states import api_status
from backend.compute.server_tags import tag_filters

STATUS_TO_VM = {"ACTIVE": "active", "BUILD": "building", "SHUTOFF": "stopped", "ERROR": "error",
                "PAUSED": "paused", "SUSPENDED": "suspended", "DELETED": "deleted", "REBOOT": "active",
                "HARD_REBOOT": "active"}


def _changes_since(v) -> str:
    """nova's changes-since: an ISO 8601 time, compared with updated_at as the database writes it."""
    try:
        t = dt.datetime.fromisoformat(str(v).strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid filter field: changes-since: {v!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rows_in(db, sql: str, ids: list) -> list[dict]:
    """sql ending in 'IN', run over ids in parts (SQLite's bound-parameter limit)."""
    out = []
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        out += dbm.rows(db, f"{sql} ({','.join('?' * len(part))})", part)
    return out


class ComputeViews:
    def list(self, ctx, all_projects, filters, limit, marker):
        self._need_project(ctx)
        where, params = ["deleted=0"], []
        if not (all_projects and ctx.is_admin):
            where.append("project_id=?")
            params.append(ctx.project_id)
        elif filters.get("project_id"):
            where.append("project_id=?")
            params.append(filters["project_id"])
        known = {"name", "status", "host", "project_id", "image", "flavor", "reservation_id", "all_tenants",
                 "ip", "changes-since", "tags", "tags-any", "not-tags", "not-tags-any"}
        bad = set(filters) - known
        if bad:
            raise BadRequest(f"unknown filter(s): {', '.join(sorted(bad))}")
        if filters.get("status"):
            st = str(filters["status"]).upper()
            if st not in STATUS_TO_VM:
                raise BadRequest(f"unknown status {filters['status']!r}")
            where.append("vm_state=?")
            params.append(STATUS_TO_VM[st])
        if not ctx.is_admin:  # nova ignores it: host names are for admins
            filters = {k: v for k, v in filters.items() if k != "host"}
        for key, col in (("host", "host"), ("image", "image_id"), ("flavor", "flavor_id"),
                         ("reservation_id", "reservation_id")):
            if filters.get(key):
                where.append(f"{col}=?")
                params.append(str(filters[key]))
        if filters.get("changes-since"):
            where.append("updated_at>=?")
            params.append(_changes_since(filters["changes-since"]))
        tag_sql, tag_params = tag_filters(filters)
        if tag_sql:
            where.append(tag_sql)
            params += tag_params
        rs = dbm.rows(self.db, f"SELECT uuid, name, vm_state, task_state FROM instances WHERE {' AND '.join(where)}"
                               " ORDER BY created_at DESC, uuid DESC", params)
        if filters.get("ip"):
            rs = self._match_ips(str(filters["ip"]), rs)
        if filters.get("name"):
            rs = self._match_names(str(filters["name"]), rs)
        if filters.get("status"):
            st = str(filters["status"]).upper()
            rs = [r for r in rs if api_status(r["vm_state"], r["task_state"]) == st]
        if marker:
            idx = next((i for i, r in enumerate(rs) if r["uuid"] == marker), None)
            if idx is None:
                raise BadRequest(f"marker [{marker}] not found")
            rs = rs[idx + 1:]
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise BadRequest(f"limit must be a non-negative integer, not {limit!r}")
            rs = rs[:limit]
        return self.with_extras(self.store.views_for([r["uuid"] for r in rs], ctx.is_admin), ctx.is_admin)

    def with_extras(self, views: list[dict], admin: bool) -> list[dict]:
        """What later microversions show of a server, read in bulk for a page: tags (2.26),
        the flavor's swap/ephemeral (2.47), kernel/ramdisk ids and user_data (2.3, admins),
        each volume's delete_on_termination (2.3), the host's status (2.16, admins)."""
        if not views:
            return views
        ids = [v["id"] for v in views]
        tags = self.tags_of(ids)
        flavors = {f["id"]: f for f in dbm.rows(self.db, "SELECT id, swap, ephemeral_gb FROM flavors")}
        rows = {r["uuid"]: r for r in _rows_in(self.db, "SELECT uuid, user_data, image_id FROM instances"
                                                         " WHERE uuid IN", ids)} if admin else {}
        dot = {r["id"]: bool(r["delete_on_termination"]) for r in _rows_in(
            self.db, "SELECT id, delete_on_termination FROM volumes WHERE attached_to IN", ids)}
        hosts = {}
        if admin:
            for n in dbm.rows(self.db, "SELECT * FROM compute_nodes"):
                hosts[n["host"]] = ("MAINTENANCE" if n["disabled"] else
                                    "UP" if servicegroup.is_up(n, self.config) else "DOWN")
        props = {}
        for v in views:
            f = flavors.get(str(v["flavor"]["id"])) or {}
            v["tags"] = tags.get(v["id"], [])
            v["flavor"] = dict(v["flavor"], swap=f.get("swap") or 0, ephemeral=f.get("ephemeral_gb") or 0)
            v["volumes_attached"] = [dict(x, delete_on_termination=dot.get(x["id"], False))
                                     for x in v.get("volumes_attached") or ()]
            if admin:
                r = rows.get(v["id"]) or {}
                img = r.get("image_id")
                if img and img not in props:
                    i = dbm.row(self.db, "SELECT properties FROM images WHERE id=?", (img,))
                    props[img] = dbm.jload(i["properties"], {}) if i else {}
                p = props.get(img) or {}
                v.update(user_data=r.get("user_data"), kernel_id=p.get("kernel_id") or "",
                         ramdisk_id=p.get("ramdisk_id") or "",
                         host_status=hosts.get(v.get("host"), "UNKNOWN") if v.get("host") else "")
        return views

    @staticmethod
    def _match_names(pat: str, rs: list[dict]) -> list[dict]:
        """nova's name filter is a regular expression. Matching runs on the one loop everyone
        shares, so it gets a time budget (the regex module's timeout): a pattern that would
        backtrack for seconds is refused instead of freezing the cloud."""
        if len(pat) > 255:
            raise BadRequest("name filter is longer than 255 characters")
        try:
            rx = regex.compile(pat)
        except regex.error as e:
            raise BadRequest(f"name filter is not a valid regular expression: {e}") from None
        deadline = time.monotonic() + 0.25
        out = []
        try:
            for r in rs:
                if rx.search(r["name"], timeout=max(deadline - time.monotonic(), 0.001)):
                    out.append(r)
        except TimeoutError:
            raise BadRequest("name filter takes too long to match; simplify the expression") from None
        return out

    def _match_ips(self, pat: str, rs: list[dict]) -> list[dict]:
        """nova's ip filter: a regular expression searched in each fixed address (the same
        time budget as names)."""
        if len(pat) > 255:
            raise BadRequest("ip filter is longer than 255 characters")
        try:
            rx = regex.compile(pat)
        except regex.error as e:
            raise BadRequest(f"ip filter is not a valid regular expression: {e}") from None
        ips: dict[str, list[str]] = {}
        for p in dbm.rows(self.db, "SELECT device_id, ip_address FROM ports WHERE device_id!=''"):
            ips.setdefault(p["device_id"], []).append(p["ip_address"])
        try:
            return [r for r in rs if any(rx.search(ip, timeout=0.05) for ip in ips.get(r["uuid"], ()))]
        except TimeoutError:
            raise BadRequest("ip filter takes too long to match; simplify the expression") from None

    def get(self, ctx, server_id):
        return self.with_extras([self.store.view(self._instance(ctx, server_id), ctx.is_admin)], ctx.is_admin)[0]

    def _any_instance(self, ctx, server_id):
        """Actions, decisions and traces stay readable after a delete (as upstream's
        os-instance-actions for deleted instances, admin or owner)."""
        self._need_project(ctx)
        r = self.store.get(server_id) if isinstance(server_id, str) else None
        if r is None or (r["project_id"] != ctx.project_id and not ctx.is_admin):
            raise NotFound(f"instance {server_id} could not be found")
        return r

    def list_actions(self, ctx, server_id):
        r = self._any_instance(ctx, server_id)
        return [self._action_view(a) for a in dbm.rows(
            self.db, "SELECT * FROM instance_actions WHERE instance_uuid=? ORDER BY id DESC", (r["uuid"],))]

    def get_action(self, ctx, server_id, request_id):
        r = self._any_instance(ctx, server_id)
        a = dbm.row(self.db, "SELECT * FROM instance_actions WHERE instance_uuid=? AND request_id=?",
                    (r["uuid"], request_id))
        if not a:
            raise NotFound(f"action {request_id} not found for instance {r['uuid']}")
        v = self._action_view(a)
        v["events"] = [self.store.event_view(e) for e in dbm.rows(
            self.db, "SELECT * FROM instance_action_events WHERE action_id=? ORDER BY id", (a["id"],))]
        if not ctx.is_admin:  # event hosts are admin-only, as nova's (2.62)
            v = self.store.hide_hosts(v)
            for e in v["events"]:
                e["host"] = None
        return v

    @staticmethod
    def _action_view(a):
        return {"action": a["action"], "instance_uuid": a["instance_uuid"], "request_id": a["request_id"],
                "user_id": a["user_id"], "project_id": a["project_id"], "start_time": a["start_time"],
                "finish_time": a["finish_time"], "message": a["message"]}

    def explain(self, ctx, server_id):
        r = self._any_instance(ctx, server_id)
        out = [dbm.jload(d["data"]) for d in dbm.rows(
            self.db, "SELECT data FROM scheduler_decisions WHERE instance_uuid=? ORDER BY attempt", (r["uuid"],))]
        attempts = dbm.jload(r["attempts"], [])
        for d in out:
            d["build_attempts"] = attempts
        return out if ctx.is_admin else self.store.hide_hosts(out)

    def trace(self, ctx, server_id):
        r = self._any_instance(ctx, server_id)
        out = self.tracer.for_instance(r["uuid"])
        return out if ctx.is_admin else self.store.hide_hosts(out)

    # ---- flavors -------------------------------------------------------------------------------
    @staticmethod
    def flavor_view(f):
        return {"id": f["id"], "name": f["name"], "vcpus": f["vcpus"], "ram": f["ram"], "disk": f["disk"],
                "is_public": bool(f["is_public"]), "swap": f.get("swap") or 0,
                "ephemeral": f.get("ephemeral_gb") or 0, "rxtx_factor": f.get("rxtx_factor") or 1.0}

    def list_flavors(self, ctx, is_public=None):
        """is_public as nova's list takes it from admins (members see public and shared ones)."""
        return [self.flavor_view(f) for f in self.visible_flavors(ctx, is_public)]

    def get_flavor(self, ctx, ref):
        f = self.find_flavor(ref)
        if not self.may_see_flavor(ctx, f):
            raise NotFound(f"flavor {ref!r} could not be found")
        return self.flavor_view(f)

    # ---- hypervisors ---------------------------------------------------------------------------
    def hypervisor_view(self, n, usage):
        why = servicegroup.down_reason(n, self.config)
        c = self.config
        return {"id": n["host"], "name": n["host"], "state": "down" if why else "up",
                "status": "disabled" if n["disabled"] else "enabled", "driver": n["driver"],
                "address": n["address"], "availability_zone": n["availability_zone"],
                "vcpus": n["vcpus"], "memory_mb": n["memory_mb"], "disk_gb": n["disk_gb"],
                "vcpus_used": usage.get("v") or 0, "memory_mb_used": usage.get("m") or 0,
                "disk_gb_used": usage.get("d") or 0, "running_vms": usage.get("n") or 0,
                "cpu_allocation_ratio": c.cpu_allocation_ratio, "ram_allocation_ratio": c.ram_allocation_ratio,
                "disk_allocation_ratio": c.disk_allocation_ratio,
                "reserved_host_memory_mb": c.reserved_host_memory_mb,
                "hypervisor_type": n["hypervisor_type"], "hypervisor_version": n["hypervisor_version"],
                "accelerator": n["accelerator"], "last_heartbeat": n["last_heartbeat"],
                "down_reason": why,
                "failed_builds": n["failed_builds"]}

    def _usage(self):
        return {r["host"]: r for r in dbm.rows(self.db, "SELECT host, sum(vcpus) v, sum(memory_mb) m,"
                                                        " sum(disk_gb) d, count(*) n FROM claims GROUP BY host")}

    def list_hypervisors(self, ctx):
        self._need_project(ctx)
        if not ctx.is_admin:
            from backend.core.errors import Forbidden
            raise Forbidden("only an admin may list hypervisors")
        u = self._usage()
        return [self.hypervisor_view(n, u.get(n["host"], {}))
                for n in dbm.rows(self.db, "SELECT * FROM compute_nodes WHERE configured=1 ORDER BY host")]

    def get_hypervisor(self, ctx, host):
        for h in self.list_hypervisors(ctx):
            if h["name"] == host:
                return h
        raise NotFound(f"hypervisor {host!r} not found")

    # ---- server groups, limits -------------------------------------------------------------------
    def group_view(self, g):
        members = [r["uuid"] for r in dbm.rows(self.db, "SELECT uuid FROM instances WHERE server_group_id=?"
                                                        " AND deleted=0", (g["id"],))]
        return {"id": g["id"], "name": g["name"], "policy": g["policy"], "policies": [g["policy"]],
                "members": members, "project_id": g["project_id"], "user_id": g["user_id"]}

    def list_server_groups(self, ctx):
        self._need_project(ctx)
        return [self.group_view(g) for g in dbm.rows(self.db, "SELECT * FROM server_groups WHERE project_id=?"
                                                              " ORDER BY created_at", (ctx.project_id,))]

    def limits(self, ctx):
        """nova's absolute limits: the project's quotas and what it uses of them."""
        self._need_project(ctx)
        q = quota.QuotaService(self.db, self.config).show(ctx, ctx.project_id, "compute")
        out = {}
        for res, mx, used in (("instances", "maxTotalInstances", "totalInstancesUsed"),
                              ("cores", "maxTotalCores", "totalCoresUsed"),
                              ("ram", "maxTotalRAMSize", "totalRAMUsed"),
                              ("server_groups", "maxServerGroups", "totalServerGroupsUsed"),
                              ("server_group_members", "maxServerGroupMembers", None),
                              ("metadata_items", "maxServerMeta", None),
                              ("key_pairs", "maxTotalKeypairs", None)):
            out[mx] = q[res]["limit"]
            if used:
                out[used] = q[res]["in_use"]
        return out
