"""The conductor: compute's only path to the database, and the owner of the build
orchestration (schedule, cast to a host, reschedule to the next alternate)."""
from __future__ import annotations

import asyncio
import logging

from backend.compute import rpcapi as compute_rpcapi
from backend.conductor.host_reports import HostReports
from backend.conductor.redelivered import Redelivered, reached, saved
from backend.conductor.rpcapi import ANY
from backend.core import capacity
from backend.core import db as dbm
from backend.core import pgsql
from backend.core import servicegroup
from backend.core import power_state, states
from backend.messaging.bus import MessagingTimeout
from backend.messaging.trace import Step
from backend.scheduler.rpcapi import SchedulerAPI

log = logging.getLogger(__name__)


class ComputeResourcesUnavailable(Exception):
    reschedulable = True


class ConductorManager(HostReports, Redelivered):
    def __init__(self, db, bus, tracer, store, config, hub):
        self.db = db
        self.scheduler_api = SchedulerAPI(bus)
        self.compute_rpcapi = compute_rpcapi.ComputeAPI(bus)
        self.tracer = tracer
        self.store = store
        self.config = config
        self.hub = hub
        self._scheduling: set[str] = set()  # builds whose decision is being made here
        self._undelivered: set[asyncio.Task] = set()

    # ---- build orchestration ----------------------------------------------------------------
    async def build_instances(self, ctx, instance_uuids, request_spec, instance_uuid=None):
        """Cast by the compute API: schedule every instance of the request, then cast
        each to its host with its alternates (nova's schedule_and_build_instances)."""
        ev = "conductor_schedule_and_build_instances"
        # run once per build however often it is cast (a copy redelivered after a broker
        # restart, an api process sending again what it may have sent before it died): only
        # builds with the decisions the caster saw (none for a create) and not in hand here
        seen = request_spec.get("decisions_made", 0)
        rows = {u: r for u in instance_uuids if u not in self._scheduling and (r := self._still_building(u))
                and self._decisions(u) == seen}
        uuids = list(rows)
        if not uuids:
            return
        self._scheduling.update(uuids)
        # the attempt each build's cast carries (its failed attempts + 1; a resumed build keeps
        # them): a copy of an earlier attempt's cast is told apart by it (instance_claim)
        tries = {u: len(dbm.jload(r["attempts"], [])) + 1 for u, r in rows.items()}
        try:
            await self._schedule_and_build(ctx, ev, uuids, request_spec, seen, tries)
        finally:
            self._scheduling.difference_update(uuids)

    def _decisions(self, uuid) -> int:
        return dbm.row(self.db, "SELECT count(*) c FROM scheduler_decisions WHERE instance_uuid=?", (uuid,))["c"]

    async def _schedule_and_build(self, ctx, ev, uuids, request_spec, seen, tries):
        for u in uuids:
            self.store.event_start(ctx, u, ev, once=True)  # a copy cut past this takes the open event up
        async with Step(self.tracer, ctx, "conductor", "schedule", uuids[0]):
            for attempt in range(3):
                try:
                    decisions = await self.scheduler_api.select_destinations(
                        ctx, instance_uuids=uuids, request_spec=request_spec, instance_uuid=uuids[0])
                    break
                except Exception as e:
                    # a claim cut by a database restart was rolled back whole; a request or
                    # reply lost with the broker (MessagingUnavailable, 503, or no reply in
                    # time) left at most a claim the next decision replaces: decide again
                    if attempt < 2 and (pgsql.connection_dropped(e) or getattr(e, "code", None) == 503
                                        or isinstance(e, MessagingTimeout)):
                        continue
                    decisions = [{"selected": None, "alternates": [], "message": f"scheduler failed: {e}"}
                                 ] * len(uuids)
                    break
        for u, d in zip(uuids, decisions):
            def record(u=u, d=d):  # the decision and the event: one commit
                self._save_decision(u, d, seen + 1)  # counted by build_instances' guard
                if not d.get("selected"):
                    self.store.event_finish(ctx, u, ev, "Error", d.get("message"))
                    self._fail(u, d.get("message") or "No valid host was found.", _decision_details(d))
                    return False
                self.store.event_finish(ctx, u, ev)
                return True
            if self._write(record):
                self._cast_build(ctx, u, d["selected"], d.get("alternates", []), tries[u])

    def _write(self, fn):
        """fn() in one transaction. A transaction cut by a lost database connection (a
        PostgreSQL restart) was rolled back whole: it is run again (bounded), as a single
        statement outside a transaction is."""
        for attempt in range(3):
            try:
                with dbm.transaction(self.db):
                    return fn()
            except Exception as e:
                if attempt == 2 or not pgsql.connection_dropped(e):
                    raise

    def _still_building(self, uuid) -> dict | None:
        r = self.store.get(uuid)
        return r if (r and r["vm_state"] == states.BUILDING and r["task_state"] == states.SCHEDULING
                     and not r["deleted"]) else None

    def _save_decision(self, uuid, d, attempt):
        d = dict(d, attempt=attempt, created=dbm.now_iso())
        self.db.conn.execute("INSERT INTO scheduler_decisions (instance_uuid, attempt, data, created_at)"
                             " VALUES (?,?,?,?)", (uuid, attempt, dbm.jdump(d), d["created"]))

    def _cast_build(self, ctx, uuid, host, alternates, attempt):
        def undelivered(why):
            task = asyncio.get_running_loop().create_task(
                self._build_undelivered(ctx, uuid, host, alternates, why))
            self._undelivered.add(task)
            task.add_done_callback(self._undelivered.discard)
        self.compute_rpcapi.build_and_run_instance(ctx, host, instance_uuid=uuid, alternates=alternates,
                                                   attempt=attempt, undelivered=undelivered)

    async def _build_undelivered(self, ctx, uuid, host, alternates, why):
        """No process of the host took the build (its compute process is not running: a
        cluster started again before all of it was back, a host whose process died): a failed
        attempt there that never began — the scheduler's claim is released and the next
        alternate is tried, or the build ends in ERROR naming why. Never left in BUILD."""
        r = self.store.get(uuid)
        if r is None or r["deleted"] or r["vm_state"] != states.BUILDING or r["host"] not in (None, host):
            return
        try:
            self.db.conn.execute("DELETE FROM claims WHERE instance_uuid=? AND host=?", (uuid, host))
            await self.build_failed(ctx, uuid, host, f"compute service of host {host} did not take the"
                                    f" build: {why}", True, alternates, counted=False)
        except Exception:  # the watchdog ends it at build_timeout
            log.exception("an undelivered build of %s could not be rescheduled", uuid)

    def _fail(self, uuid, message, details, host=None):
        self.db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (uuid,))
        self.store.set_error(uuid, message, details, host)

    async def build_failed(self, ctx, instance_uuid, host, reason, reschedulable, alternates, counted=True,
                           attempt=None):
        """Compute's report of a failed build (everything on the host already released).
        counted: the host's failed_builds grows (not for a build its host never received).
        attempt: the number the failed build's cast carried."""
        r = self.store.get(instance_uuid)
        if r is None or r["deleted"]:
            return
        if r["vm_state"] != states.BUILDING:  # overtaken (timed out): never bring it back
            return
        if self._failure_counted(r, host, reason, attempt):  # a second copy: counted, rescheduled
            return
        attempts = dbm.jload(r["attempts"], []) + [{"host": host, "reason": reason}]
        if counted:
            self.db.conn.execute("UPDATE compute_nodes SET failed_builds=failed_builds+1 WHERE host=?", (host,))
        if r["task_state"] == states.DELETING:
            self._finish_local_delete(instance_uuid)
            return
        alternates = [a for a in alternates if self._host_up(a)]
        if reschedulable and alternates and len(attempts) < self.config.max_attempts:
            self.store.update(instance_uuid, task_state=states.SCHEDULING, host=None, attempts=dbm.jdump(attempts))
            self.tracer.record(service="conductor", kind="step", request_id=ctx.request_id,
                               instance_uuid=instance_uuid, step="reschedule", phase="start",
                               detail=f"{host} failed ({reason}); next: {alternates[0]}")
            self._cast_build(ctx, instance_uuid, alternates[0], alternates[1:], len(attempts) + 1)
            return
        dbm.update(self.db, "instances", instance_uuid, {"attempts": dbm.jdump(attempts), "host": None})
        lines = "\n".join(f"attempt {i + 1} on {a['host']}: {a['reason']}" for i, a in enumerate(attempts))
        if reschedulable:
            msg = (f"Exceeded maximum number of retries. Exhausted all hosts available for retrying build "
                   f"failures for instance {instance_uuid}: " + "; ".join(f"{a['host']}: {a['reason']}"
                                                                        for a in attempts))
        else:
            msg = f"Build of instance {instance_uuid} aborted on {host}: {reason}"
        self._fail(instance_uuid, msg, lines, host)

    def _host_up(self, host) -> bool:
        n = dbm.row(self.db, "SELECT * FROM compute_nodes WHERE host=?", (host,))
        return bool(n and not n["disabled"] and servicegroup.is_up(n, self.config))

    async def build_aborted(self, ctx, instance_uuid):
        r = self.store.get(instance_uuid)
        if r is not None and not r["deleted"] and r["task_state"] == states.DELETING:
            self._finish_local_delete(instance_uuid)
        # otherwise the build was overtaken (timed out to ERROR): the record stays as it is

    def _finish_local_delete(self, uuid):
        self.db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (uuid,))
        self.store.update(uuid, vm_state=states.DELETED, task_state=None, deleted=1, power_state=power_state.NOSTATE,
                          terminated_at=dbm.now_iso())

    # ---- the compute nodes ----------------------------------------------------------------------
    def register_hosts(self, hosts):
        """At start: the hosts of hosts.yaml, as compute_nodes; the others are marked unconfigured."""
        names = {h.name for h in hosts}
        with dbm.transaction(self.db):
            self.db.conn.execute("UPDATE compute_nodes SET configured=0")
            for h in hosts:
                if dbm.row(self.db, "SELECT 1 x FROM compute_nodes WHERE host=?", (h.name,)):
                    self.db["compute_nodes"].update(h.name, {"address": h.address, "driver": h.driver,
                                                             "availability_zone": h.availability_zone,
                                                             "configured": 1, "last_heartbeat": None})
                else:
                    self.db["compute_nodes"].insert({"host": h.name, "address": h.address, "driver": h.driver,
                                                     "availability_zone": h.availability_zone, "configured": 1})
        gone = [r["host"] for r in dbm.rows(self.db, "SELECT host FROM compute_nodes WHERE configured=0")]
        if gone:
            log.warning("hosts no longer in hosts.yaml: %s", ", ".join(sorted(set(gone) - names)))

    # ---- compute's database access ----------------------------------------------------------
    async def instance_get(self, ctx, instance_uuid):
        return self.store.get(instance_uuid)

    async def instance_update(self, ctx, instance_uuid, expected_task_state=ANY, launched=False, **values):
        try:
            return self._update(instance_uuid, expected_task_state, launched, **values)
        except LookupError:  # a second copy finds the save made: answered as the first was
            r = self.store.get(instance_uuid)
            if r is None or r["deleted"] or not saved(r, dict(values, launched=launched)):
                raise
            return r

    def _update(self, instance_uuid, expected_task_state=ANY, launched=False, **values):
        if launched:
            values["launched_at"] = dbm.now_iso()
        if "requested_networks" in values:
            values["requested_networks"] = dbm.jdump(values["requested_networks"])
        if expected_task_state != ANY:  # checked by the UPDATE itself, as nova's instance.save
            out = self.store.save(instance_uuid, expected_task_state, values)
            if out is None:
                r = self.store.get(instance_uuid)
                if r is None or r["deleted"]:
                    raise LookupError(f"instance {instance_uuid} is gone")
                raise LookupError(f"instance {instance_uuid} is in task_state {r['task_state']!r}, "
                                  f"expected {expected_task_state!r}")
        else:
            r = self.store.get(instance_uuid)
            if r is None or r["deleted"]:
                raise LookupError(f"instance {instance_uuid} is gone")
            out = self.store.update(instance_uuid, **values)
        if launched:
            self.db.conn.execute("UPDATE compute_nodes SET failed_builds=0 WHERE host=?", (out["host"],))
        return out

    async def end_task(self, ctx, instance_uuid, tasks=None, **values):
        """The end of a power action: clear the task, unless a delete came in meanwhile (the
        delete owns the instance from then on) or, tasks given (the action's task_states),
        another action began (after this call's first copy ended the action: a second copy
        must not end the next one)."""
        r = self.store.get(instance_uuid)
        if r is None or r["deleted"] or r["task_state"] == states.DELETING:
            return
        if tasks is not None and r["task_state"] not in tasks:
            return
        self.store.update(instance_uuid, task_state=None, **values)

    async def instance_claim(self, ctx, instance_uuid, host, build_event=None, claim_event=None, updates=(),
                             start=None, attempt=None):
        """The resource claim, with the build's first events in the same round trip: the
        build's event started, the claim's event started and finished with its result; then
        the state changes of updates (as build_progress's) and start's event begun. attempt:
        the number the build's cast carried. A second copy of the build or of this call gets
        what Redelivered._build_again says (nothing written)."""
        r = self.store.get(instance_uuid)
        again = self._build_again(r, host, attempt, updates)
        if again is not None:
            return again
        def events(result, details=None):
            for e in (build_event, claim_event):
                if e:
                    self.store.event_start(ctx, instance_uuid, e, host)
            if claim_event:
                self.store.event_finish(ctx, instance_uuid, claim_event, result, details)

        mismatch = []

        def claimed():
            events("Success")
            try:
                for u in updates:
                    self._update(instance_uuid, **u)
            except LookupError as e:  # a delete came in: the claim stands, the build is aborted
                mismatch.append(str(e))
                return
            if start:
                self.store.event_start(ctx, instance_uuid, start, host)
        try:  # the events and state changes go in the claim's transaction (one commit)...
            out = self._write(lambda: self._claim(instance_uuid, host, also=claimed, r=r))
            return dict(out, aborted=mismatch[-1]) if mismatch else out
        except Exception as e:  # ...or, the claim refused (nothing of it written), in their own
            self._write(lambda: events("Error", f"{type(e).__name__}: {e}"))
            raise

    async def build_progress(self, ctx, instance_uuid, finish=None, updates=(), start=None, host=None,
                             finish_after=None, passed=()):
        """One step of a build in one round trip: the event of the stage that ended is
        finished, the events of passed (stages with nothing to do) start and end, the state
        changes are made in order (each {'expected_task_state': ..., **values}; a mismatch is
        LookupError, as instance_update), the next stage's event
        is started; finish_after (the build's own event) is finished last. One transaction
        (one commit, not one per statement); what came before a mismatch is kept."""
        def step():
            if host is not None:  # fenced: a build taken from this host (lost) goes no further
                r = self.store.get(instance_uuid)
                if r is not None and not r["deleted"] and r["host"] != host:
                    return LookupError(f"instance {instance_uuid} is no longer building on {host}")
                if reached(r, updates):  # a second copy: the step (one transaction) was made
                    return None
            if finish:
                self.store.event_finish(ctx, instance_uuid, finish, "Success", None)
            for e in passed:
                self.store.event_start(ctx, instance_uuid, e, host)
                self.store.event_finish(ctx, instance_uuid, e, "Success", None)
            try:
                for u in updates:
                    self._update(instance_uuid, **u)
            except LookupError as e:
                return e
            if start:
                self.store.event_start(ctx, instance_uuid, start, host)
            if finish_after:
                self.store.event_finish(ctx, instance_uuid, finish_after, "Success", None)
        mismatch = self._write(step)
        if mismatch is not None:
            raise mismatch

    def _claim(self, instance_uuid, host, also=None, r=None):
        """Checked and written in one transaction, so usage never passes capacity × ratio,
        however many builds race; also() writes in the same transaction, after the claim.
        r: the instance's row, when the caller read it just now."""
        r = r or self.store.get(instance_uuid)
        if r is None or r["deleted"] or r["task_state"] == states.DELETING or r["vm_state"] != states.BUILDING:
            raise LookupError(f"instance {instance_uuid} is gone or no longer building")
        disk = 0 if r["boot_volume_size"] else r["root_gb"]
        c = self.config
        with dbm.transaction(self.db):
            n = dbm.row(self.db, "SELECT * FROM compute_nodes WHERE host=?", (host,))
            mine = dbm.row(self.db, "SELECT * FROM claims WHERE instance_uuid=? AND host=?", (instance_uuid, host))
            used = {"v": n["vcpus_used"], "m": n["memory_mb_used"], "d": n["disk_gb_used"]}
            if mine:  # the scheduler claimed already: check the rest of the host's usage
                used = {"v": used["v"] - mine["vcpus"], "m": used["m"] - mine["memory_mb"],
                        "d": used["d"] - mine["disk_gb"]}
            limits = (capacity.vcpu_limit(n["vcpus"], c), capacity.ram_limit_mb(n["memory_mb"], c),
                      capacity.disk_limit_mb(n["disk_gb"], c) / 1024)
            want = (r["vcpus"], r["memory_mb"], disk)
            have = (used["v"], used["m"], used["d"])
            for name, lim, u, w in zip(("vCPU", "RAM MB", "disk GB"), limits, have, want):
                if u + w > lim:
                    raise ComputeResourcesUnavailable(
                        f"insufficient {name} on {host}: {lim - u:g} free, {w} requested")
            if not mine or (mine["vcpus"], mine["memory_mb"], mine["disk_gb"]) != want:
                # (the scheduler's claim of the same amounts stands as it is)
                dbm.put_claim(self.db, instance_uuid, host, r["vcpus"], r["memory_mb"], disk)
            out = dbm.update_returning(self.db, "instances", instance_uuid, {
                "host": host, "availability_zone": n["availability_zone"], "updated_at": dbm.now_iso()})
            self.store.publish(instance_uuid, out)  # before what also() changes: the feed keeps order
            if also:
                also()
        out = dict(out, requested_networks=dbm.jload(out["requested_networks"]))
        return out

    async def instance_release(self, ctx, instance_uuid, host=None):
        """The instance's claims (only the one on host, when given)."""
        if host is None:
            self.db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (instance_uuid,))
        else:
            self.db.conn.execute("DELETE FROM claims WHERE instance_uuid=? AND host=?", (instance_uuid, host))

    async def instance_destroyed(self, ctx, instance_uuid):
        r = self.store.get(instance_uuid)
        if r is not None and not r["deleted"]:  # (a second copy: deleted already)
            self._finish_local_delete(instance_uuid)

    async def instance_error(self, ctx, instance_uuid, host, message):
        if not self._fault_recorded(instance_uuid, message, host):
            self.store.set_error(instance_uuid, message, None, host)

    async def instance_fault(self, ctx, instance_uuid, host, message):
        if not self._fault_recorded(instance_uuid, message, host):
            self.store.add_fault(instance_uuid, 500, message, None, host)

    async def event_start(self, ctx, instance_uuid, event, host=None):
        if not self._event_open(ctx, instance_uuid, event):
            self.store.event_start(ctx, instance_uuid, event, host)

    async def event_finish(self, ctx, instance_uuid, event, result="Success", details=None):
        self.store.event_finish(ctx, instance_uuid, event, result, details)


def _decision_details(d: dict) -> str:
    lines = []
    for f in d.get("filters", []):
        for rm in f.get("removed", []):
            lines.append(f"{f['name']} removed {rm['host']}: {rm['reason']}")
    return "\n".join(lines) or (d.get("message") or "")
