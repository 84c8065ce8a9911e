"""Instance records: state changes, instance actions and events, faults, and the server
view. Used by the compute API and the conductor (compute reaches these only through the
conductor). Every change is one transaction and is pushed to subscribers."""
from __future__ import annotations

import json
import re

from backend.core import db as dbm
from backend.core import power_state
from backend.core.states import api_status


def sanitize_hostname(name: str, default: str = "server") -> str:
    """As nova's utils.sanitize_hostname: lowercase, [a-z0-9-], at most 63 characters."""
    h = re.sub(r"[ _.]", "-", name.lower())
    h = re.sub(r"[^\w-]+", "", h, flags=re.ASCII)
    h = h.strip("-.")[:63].strip("-")
    return h or default


class InstanceStore:
    tracer = None  # set by the runtime: each state change goes into the instance's trace

    def __init__(self, db, hub, network):
        self.db = db
        self.hub = hub
        self.network = network
        self._actions: dict[tuple[str, str], int] = {}
        self._open: dict[tuple[int, str], tuple[int, dict]] = {}
        self._install_view_cache()

    def get(self, uuid: str) -> dict | None:
        return dbm.row(self.db, "SELECT * FROM instances WHERE uuid=?", (uuid,))

    # ---- server views, cached ---------------------------------------------------------------
    # A view joins the instance row with its ports, volumes, fault and image name. Temporary
    # triggers on this connection drop an instance's cached view whenever any of those rows
    # change, whichever code path wrote them, so a list of 1,000 builds only what changed.
    # A change of the instance row alone (every state change of a build) keeps the other
    # parts (ps_row_dirty): the new view is the new row over the parts already read. A change
    # of one part's rows (a build's port created, bound, up) drops that part only
    # (ps_part_dirty): the next view reads it alone. '*': every view.
    _TRIGGERS = [
        ("instances", "UPDATE", ["NEW.uuid"], None), ("instances", "DELETE", ["OLD.uuid"], None),
        ("ports", "INSERT", ["NEW.device_id"], "addresses"),
        ("ports", "UPDATE", ["OLD.device_id", "NEW.device_id"], "addresses"),
        ("ports", "DELETE", ["OLD.device_id"], "addresses"),
        ("volumes", "INSERT", ["NEW.attached_to"], "volumes"),
        ("volumes", "UPDATE", ["OLD.attached_to", "NEW.attached_to"], "volumes"),
        ("volumes", "DELETE", ["OLD.attached_to"], "volumes"),
        ("instance_faults", "INSERT", ["NEW.instance_uuid"], "fault"),
        ("instance_faults", "DELETE", ["OLD.instance_uuid"], "fault"),
        ("images", "UPDATE", ["'*'"], None), ("images", "DELETE", ["'*'"], None),
        ("networks", "UPDATE", ["'*'"], None),
        ("instance_security_groups", "INSERT", ["NEW.instance_uuid"], "groups"),
        ("instance_security_groups", "DELETE", ["OLD.instance_uuid"], "groups"),
        ("security_groups", "UPDATE", ["'*'"], None),
        # a floating IP shows in its port's server's addresses (rare changes: drop every view)
        ("floatingips", "INSERT", ["'*'"], None), ("floatingips", "UPDATE", ["'*'"], None),
        ("floatingips", "DELETE", ["'*'"], None),
    ]
    _PARTS = frozenset({"image_name", "addresses", "volumes", "fault", "groups"})

    def _install_view_cache(self):
        self._views: dict[str, dict] = {}
        self._parts: dict[str, dict] = {}  # what a view takes from rows other than the instance's
        self.db.conn.create_function("ps_view_dirty", 1, self._dirty)
        if self.db.engine != "sqlite":
            return  # PostgreSQL: the migrations' triggers NOTIFY ps_view_dirty, which calls _dirty
        self.db.conn.create_function("ps_row_dirty", 1, self._row_dirty)
        self.db.conn.create_function("ps_part_dirty", 2, self._part_dirty)
        for table, op, keys, part in self._TRIGGERS:
            if (table, op) == ("instances", "UPDATE"):
                calls = [f"ps_row_dirty({k})" for k in keys]
            elif part:
                calls = [f"ps_part_dirty({k}, '{part}')" for k in keys]
            else:
                calls = [f"ps_view_dirty({k})" for k in keys]
            body = " ".join(f"SELECT {c};" for c in calls)
            # named by what they call: a connection's earlier cache keeps its own triggers apart
            self.db.conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS view2_{table}_{op.lower()} AFTER {op} "
                                 f"ON main.{table} BEGIN {body} END")

    def hide_hosts(self, obj):
        """The same data with every compute host's name replaced by 'a host': where a
        project's instance runs is the operator's business (nova shows hosts to admins only);
        the reasons stay."""
        names = [r["host"] for r in dbm.rows(self.db, "SELECT host FROM compute_nodes")]
        if not names:
            return obj
        rx = re.compile(r"(?<![\w-])(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
                        + r")(?![\w.-])")
        return json.loads(rx.sub("a host", json.dumps(obj)))

    def _dirty(self, key):
        if key == "*":
            self._views.clear()
            self._parts.clear()
        elif key:
            self._views.pop(key, None)
            self._parts.pop(key, None)

    def _row_dirty(self, key):
        self._views.pop(key, None)

    def _part_dirty(self, key, part):
        if key == "*":
            self._dirty(key)
        elif key:
            self._views.pop(key, None)
            p = self._parts.get(key)
            if p is not None:
                p.pop(part, None)

    def _check_version(self) -> None:
        # another connection (another process of a cluster) committed: the triggers did not see
        # it (on PostgreSQL this round trip delivers the other's NOTIFYs, which drop the views)
        version = self.db.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != getattr(self, "_data_version", version):
            self._views.clear()
            self._parts.clear()
        self._data_version = version

    def view(self, r: dict, admin: bool = True) -> dict:
        return self.views_for([r["uuid"]], admin)[0]

    def views_for(self, uuids: list[str], admin: bool = True) -> list[dict]:
        """The views of these instances, in this order (each a fresh top-level dict)."""
        self._check_version()
        missing = [u for u in uuids if u not in self._views]
        for i in range(0, len(missing), 900):  # SQLite's bound-parameter limit
            part = missing[i:i + 900]
            rows = dbm.rows(self.db, f"SELECT * FROM instances WHERE uuid IN ({','.join('?' * len(part))})", part)
            for v in self._build(rows):
                self._views[v["id"]] = v
        out = []
        for u in uuids:
            v = self._views.get(u)
            if v is not None:
                if admin:
                    out.append(dict(v))
                else:
                    out.append(dict(v, host=None, fault=self.hide_hosts(v["fault"]) if v["fault"] else None))
        return out

    def _build(self, rs: list[dict]) -> list[dict]:
        """Server views of many rows with a fixed number of queries (none but the rows' own
        for instances whose other parts are cached and still describe the same image; only
        the parts dropped since for the others)."""
        stale, which = [], set()
        for r in rs:
            p = self._parts.get(r["uuid"])
            if p is None or p["image_id"] != r["image_id"]:
                stale.append(r)
                which = set(self._PARTS)
            elif not self._PARTS <= p.keys():  # a part dropped since it was read
                stale.append(r)
                which |= self._PARTS - p.keys()
        if stale:
            fresh = self._read_parts(stale, which)
            for r in stale:
                old = self._parts.get(r["uuid"])
                keep = old if old is not None and old["image_id"] == r["image_id"] else {}
                self._parts[r["uuid"]] = {**keep, **fresh[r["uuid"]]}
        return [self._compose(r, self._parts[r["uuid"]]) for r in rs]

    def _read_parts(self, rs: list[dict], which=_PARTS) -> dict[str, dict]:
        ids = [r["uuid"] for r in rs]
        marks = ",".join("?" * len(ids))
        out: dict[str, dict] = {r["uuid"]: {"image_id": r["image_id"]} for r in rs}
        if "image_name" in which:
            images = {i["id"]: i["name"] for i in dbm.rows(self.db, "SELECT id, name FROM images")}
            for r in rs:
                out[r["uuid"]]["image_name"] = images.get(r["image_id"])
        if "addresses" in which:
            addrs: dict[str, dict] = {}
            for p in dbm.rows(self.db, f"SELECT p.device_id, p.ip_address, p.mac_address, n.name,"
                                       f" f.floating_ip_address FROM ports p JOIN networks n ON n.id=p.network_id"
                                       f" LEFT JOIN floatingips f ON f.port_id=p.id WHERE p.device_id IN ({marks})"
                                       f" ORDER BY p.created_at", ids):
                net = addrs.setdefault(p["device_id"], {}).setdefault(p["name"], [])
                net.append({"addr": p["ip_address"], "mac": p["mac_address"], "version": 4, "type": "fixed"})
                if p["floating_ip_address"]:  # nova's OS-EXT-IPS:type floating, after its fixed address
                    net.append({"addr": p["floating_ip_address"], "mac": p["mac_address"], "version": 4,
                                "type": "floating"})
            for u in ids:
                out[u]["addresses"] = addrs.get(u, {})
        if "groups" in which:
            groups: dict[str, list] = {}  # nova's security_groups: the names the server asked for
            for g in dbm.rows(self.db, f"SELECT s.instance_uuid, g.name FROM instance_security_groups s JOIN"
                                       f" security_groups g ON g.id=s.security_group_id WHERE s.instance_uuid IN"
                                       f" ({marks}) ORDER BY s.position", ids):
                groups.setdefault(g["instance_uuid"], []).append(g["name"])
            for u in ids:
                out[u]["groups"] = groups.get(u, [])
        if "fault" in which:
            faults = {}
            for f in dbm.rows(self.db, f"SELECT * FROM instance_faults WHERE instance_uuid IN ({marks})"
                                       " ORDER BY id", ids):
                faults[f["instance_uuid"]] = {"code": f["code"], "message": f["message"], "details": f["details"],
                                              "host": f["host"], "created": f["created_at"]}
            for u in ids:
                out[u]["fault"] = faults.get(u)
        if "volumes" in which:
            vols: dict[str, list] = {}
            for v in dbm.rows(self.db, f"SELECT id, attached_to FROM volumes WHERE attached_to IN ({marks})"
                                       " AND status='in-use'", ids):
                vols.setdefault(v["attached_to"], []).append({"id": v["id"]})
            for u in ids:
                out[u]["volumes"] = vols.get(u, [])
        return out

    @staticmethod
    def _compose(r: dict, p: dict) -> dict:
        """One view: the row over its parts (shared, as the cached views' nested values always were)."""
        u = r["uuid"]
        return {"id": u, "name": r["name"], "hostname": r["hostname"], "project_id": r["project_id"],
                "user_id": r["user_id"], "status": api_status(r["vm_state"], r["task_state"]),
                "vm_state": r["vm_state"], "task_state": r["task_state"], "power_state": r["power_state"],
                "power_state_name": power_state.NAMES.get(r["power_state"], str(r["power_state"])),
                "host": r["host"], "availability_zone": r["availability_zone"],
                "flavor": {"id": r["flavor_id"], "name": r["flavor_name"], "vcpus": r["vcpus"],
                           "ram": r["memory_mb"], "disk": r["root_gb"]},
                "image": {"id": r["image_id"], "name": p["image_name"]} if r["image_id"] else None,
                "addresses": p["addresses"], "created": r["created_at"], "updated": r["updated_at"],
                "launched_at": r["launched_at"], "terminated_at": r["terminated_at"],
                "boot_volume_id": r["boot_volume_id"], "volumes_attached": p["volumes"],
                "fault": p["fault"] if p["fault"] and r["vm_state"] == "error" else None,
                "reservation_id": r["reservation_id"], "metadata": dbm.jload(r["metadata"], {}),
                "key_name": r.get("key_name"), "deleted": bool(r["deleted"]),
                "access_ip_v4": r.get("access_ip_v4"), "access_ip_v6": r.get("access_ip_v6"),
                "security_groups": p["groups"], "description": r.get("description"), "launch_index": r.get("launch_index") or 0}

    def publish(self, uuid: str, r: dict | None = None) -> None:
        """Push the instance's view; r, when given, is its row as just read."""
        if not self.hub.active:  # building the view costs queries: only when someone listens
            return
        r = r or self.get(uuid)
        if r is not None:
            self._check_version()
            v = self._views[uuid] = self._build([r])[0]
            self.hub.publish({"type": "instance", "server": dict(v)})

    def update(self, uuid: str, **values) -> dict:
        values["updated_at"] = dbm.now_iso()
        # one statement, atomic on its own, that answers the row as it now is
        r = dbm.update_returning(self.db, "instances", uuid, values)
        self.publish(uuid, r)
        if values.keys() & {"vm_state", "task_state", "power_state"}:
            self._trace_state(r)
        return r

    def save(self, uuid: str, expected_task_state, values: dict) -> dict | None:
        """nova's instance.save(expected_task_state=...): one UPDATE that also checks the
        instance is live and in that task_state; None (nothing written) when it is not."""
        values = dict(values, updated_at=dbm.now_iso())
        check = " AND deleted=0 AND " + ("task_state IS NULL" if expected_task_state is None else "task_state=?")
        r = dbm.update_returning(self.db, "instances", uuid, values, check,
                                 () if expected_task_state is None else (expected_task_state,))
        if r is None:
            return None
        self.publish(uuid, r)
        if values.keys() & {"vm_state", "task_state", "power_state"}:
            self._trace_state(r)
        return r

    def _trace_state(self, r: dict | None) -> None:
        """A state record (vm_state/task_state/power_state, as backend.messaging.flow reads it):
        the launch flow shows the instance's states at each step."""
        if self.tracer is not None and r is not None:
            p = r["power_state"]
            self.tracer.record(service="db", kind="state", instance_uuid=r["uuid"],
                               detail=f"{r['vm_state']}/{r['task_state']}/{power_state.NAMES.get(p, p)}")

    # ---- actions, events, faults -------------------------------------------------------
    def action_start(self, ctx, uuid: str, action: str, message: str | None = None) -> int:
        cur = self.db.conn.execute(
            "INSERT INTO instance_actions (instance_uuid, action, request_id, user_id, project_id, start_time,"
            " message) VALUES (?,?,?,?,?,?,?)",
            (uuid, action, ctx.request_id, ctx.user_id, ctx.project_id, dbm.now_iso(), message))
        self._remember((uuid, ctx.request_id), cur.lastrowid)
        return cur.lastrowid

    def _action_id(self, ctx, uuid) -> int | None:
        key = (uuid, ctx.request_id)
        if key in self._actions:
            return self._actions[key]
        a = dbm.row(self.db, "SELECT id FROM instance_actions WHERE instance_uuid=? AND request_id=?"
                             " ORDER BY id DESC LIMIT 1", (uuid, ctx.request_id))
        if a:
            self._remember(key, a["id"])
        return a["id"] if a else None

    def _remember(self, key, aid):
        if len(self._actions) > 20000:  # a cache, not a record: the table is the record
            self._actions.clear()
        self._actions[key] = aid

    def event_start(self, ctx, uuid: str, event: str, host: str | None = None, once: bool = False) -> int | None:
        """once: unless the request's action has that event open already (a message delivered
        again whose first copy began it and was cut: the copy takes it up, event_finish ends
        it). The same one statement either way."""
        aid = self._action_id(ctx, uuid)
        if aid is None:
            return None
        ev = {"event": event, "start_time": dbm.now_iso(), "finish_time": None, "result": None, "host": host,
              "details": None}
        if once:
            cur = self.db.conn.execute(
                "INSERT INTO instance_action_events (action_id, event, start_time, host) SELECT ?,?,?,?"
                " WHERE NOT EXISTS (SELECT 1 FROM instance_action_events WHERE action_id=? AND event=?"
                " AND finish_time IS NULL)", (aid, event, ev["start_time"], host, aid, event))
            if not cur.rowcount:  # the earlier copy's (not in this process's cache: event_finish reads it)
                return None
        else:
            cur = self.db.conn.execute("INSERT INTO instance_action_events (action_id, event, start_time, host)"
                                       " VALUES (?,?,?,?)", (aid, event, ev["start_time"], host))
        # open events by (action, name): finishing one needs no lookup
        self._open[(aid, event)] = (cur.lastrowid, ev)
        self.hub.publish({"type": "action", "instance_uuid": uuid, "event": ev})
        return cur.lastrowid

    def event_finish(self, ctx, uuid: str, event: str, result: str = "Success", details: str | None = None):
        aid = self._action_id(ctx, uuid)
        if aid is None:
            return
        opened = self._open.pop((aid, event), None)
        if opened is None:  # started by an earlier run of the backend
            r = dbm.row(self.db, "SELECT * FROM instance_action_events WHERE action_id=? AND event=?"
                                 " AND finish_time IS NULL ORDER BY id DESC LIMIT 1", (aid, event))
            if r is None:
                return
            opened = (r["id"], self.event_view(r))
        ev_id, ev = opened
        now = dbm.now_iso()
        with dbm.transaction(self.db):
            self.db.conn.execute("UPDATE instance_action_events SET finish_time=?, result=?, details=? WHERE id=?",
                                 (now, result, details, ev_id))
            if result == "Error":
                self.db.conn.execute("UPDATE instance_actions SET message='Error', finish_time=? WHERE id=?",
                                     (now, aid))
            else:
                self.db.conn.execute("UPDATE instance_actions SET finish_time=? WHERE id=?", (now, aid))
        self.hub.publish({"type": "action", "instance_uuid": uuid,
                          "event": dict(ev, finish_time=now, result=result, details=details)})

    @staticmethod
    def event_view(e) -> dict:
        return {"event": e["event"], "start_time": e["start_time"], "finish_time": e["finish_time"],
                "result": e["result"], "host": e["host"], "details": e["details"]}

    def add_fault(self, uuid: str, code: int, message: str, details: str | None, host: str | None):
        self.db.conn.execute("INSERT INTO instance_faults (instance_uuid, code, message, details, host, created_at)"
                             " VALUES (?,?,?,?,?,?)", (uuid, code, message[:255], details, host, dbm.now_iso()))

    def set_error(self, uuid: str, message: str, details: str | None = None, host: str | None = None,
                  code: int = 500):
        """vm_state error with a fault, in one transaction."""
        with dbm.transaction(self.db):
            self.add_fault(uuid, code, message, details, host)
            dbm.update(self.db, "instances", uuid, {"vm_state": "error", "task_state": None,
                                                    "updated_at": dbm.now_iso()})
        self.publish(uuid)
        self._trace_state(self.get(uuid))
