"""Recovery, the conductor's side of a restart and of a hung build: reconcile() after a
start (builds in flight resume from scheduling, interrupted deletes finish, interrupted power
actions are cleared) and the build watchdog (nothing stays in BUILD past build_timeout)."""
from __future__ import annotations

import asyncio
import logging
import time

from backend.core import db as dbm
from backend.core import servicegroup, states
from backend.core.context import RequestContext

log = logging.getLogger(__name__)


class Recovery:
    """computes: the compute managers by host (their state is looked at, their cleanup run);
    compute_api.local_delete, network and volume release what a host cannot."""

    def __init__(self, db, store, tracer, config, *, computes, compute_api, network, volume, image,
                 conductor_api, compute_rpcapi):
        self.db, self.store, self.tracer, self.config = db, store, tracer, config
        self.computes = computes
        self.compute_api, self.network, self.volume, self.image = compute_api, network, volume, image
        self.conductor_api, self.compute_rpcapi = conductor_api, compute_rpcapi

    # ---- after a restart -------------------------------------------------------------------------
    async def reconcile(self, images: bool = True, before: str | None = None):
        """After a restart: builds that were in flight are resumed from scheduling (their
        partial resources released first); interrupted deletes are finished; power actions
        interrupted mid-way are cleared and the power sync re-reads the guests. before: only
        what was last changed before then (a cluster's conductor: its own start; what came after
        is work of the running cluster, not cut by the stop)."""
        if images:
            self.image.reconcile()  # uploads cut by the stop: back to queued, no partial files
        ctx = RequestContext.system()
        builds = []
        for r in dbm.rows(self.db, "SELECT * FROM instances WHERE deleted=0 AND (vm_state='building'"
                                   " OR task_state IS NOT NULL)" + (" AND updated_at < ?" if before else ""),
                          (before,) if before else ()):
            u = r["uuid"]
            if r["task_state"] == states.DELETING:
                cm = self.computes.get(r["host"]) if r["host"] else None
                if cm and cm.up:
                    self.compute_rpcapi.terminate_instance(ctx, cm.host, instance_uuid=u)
                else:
                    await self.compute_api.local_delete(ctx, r)
            elif r["vm_state"] == states.BUILDING:
                builds.append(r)
            else:
                self.store.update(u, task_state=None)
        # together: each waits for its host's cleanup (a call to another process in a cluster),
        # and one slow host must not keep the other builds in their cut state
        for r, out in zip(builds, await asyncio.gather(*(self._resume_build(ctx, r) for r in builds),
                                                         return_exceptions=True)):
            if isinstance(out, Exception):
                log.error("resuming the build of %s failed: %s", r["uuid"], out)
        for cm in self.computes.values():
            await cm.sync_power_states(ctx)

    async def _resume_build(self, ctx, r):
        u = r["uuid"]
        # taken back in one statement, only if nothing changed it since it was read (a build
        # that went on meanwhile is left alone; its host's process, if it still runs it, is
        # refused at its next step since the host is no longer its)
        if dbm.update_returning(self.db, "instances", u, {"task_state": states.SCHEDULING, "host": None},
                                " AND deleted=0 AND vm_state='building' AND updated_at=?",
                                (r["updated_at"],)) is None:
            return
        log.warning("build of %s was cut in %s on %s: resumed from scheduling", u, r["task_state"], r["host"])
        cm = self.computes.get(r["host"]) if r["host"] else None
        if cm is not None:
            await cm._cleanup(ctx, u)
        elif r["host"]:  # a host served by another process (a cluster): its compute process
            try:         # removes what the build made there, its guest above all
                await self.compute_rpcapi.cleanup_build(ctx, r["host"], instance_uuid=u)
            except Exception as e:  # the host's process is gone: release what the cloud holds
                log.warning("cleanup of the cut build %s on %s failed (%s): releasing its resources",
                            u, r["host"], e)
                await self._release(ctx, u)
        self.store.update(u, task_state=states.SCHEDULING, host=None)
        # the resumed build belongs to the original create: its events land there
        create = dbm.row(self.db, "SELECT id, request_id FROM instance_actions WHERE instance_uuid=?"
                                  " AND action='create' ORDER BY id DESC LIMIT 1", (u,))
        rctx = ctx.with_request_id(create["request_id"]) if create else ctx
        if create:
            self.db.conn.execute("UPDATE instance_action_events SET finish_time=?, result='Error',"
                                 " details='interrupted by a restart of the backend'"
                                 " WHERE action_id=? AND finish_time IS NULL", (dbm.now_iso(), create["id"]))
        self.tracer.record(service="conductor", kind="step", request_id=rctx.request_id, instance_uuid=u,
                           step="resume after restart", phase="start")
        # the attempt starts again: its build time too (the watchdog measures from here)
        self.db.conn.execute("UPDATE instances SET build_started=? WHERE uuid=?", (time.time(), u))
        self.conductor_api.build_instances(rctx, instance_uuids=[u], request_spec=self._spec_of(r),
                                           instance_uuid=u)

    async def resume_unsent_builds(self):
        """An api process's start-up: creates recorded before it started whose build never
        reached the conductor (the api process that took them died before its build_instances
        cast left, or while the broker was away) are cast again. The conductor runs a build's
        scheduling once, so a cast that did leave (still queued) makes the copy a no-op."""
        ctx = RequestContext.system()
        for r in dbm.rows(self.db, "SELECT i.* FROM instances i WHERE i.deleted=0 AND i.vm_state='building'"
                                   " AND i.task_state='scheduling' AND i.host IS NULL AND NOT EXISTS (SELECT 1"
                                   " FROM scheduler_decisions d WHERE d.instance_uuid=i.uuid)"):
            create = dbm.row(self.db, "SELECT request_id FROM instance_actions WHERE instance_uuid=? AND"
                                      " action='create' ORDER BY id DESC LIMIT 1", (r["uuid"],))
            rctx = ctx.with_request_id(create["request_id"]) if create else ctx
            log.warning("build of %s was recorded but may never have reached the conductor: sent again",
                        r["uuid"])
            self.conductor_api.build_instances(rctx, instance_uuids=[r["uuid"]],
                                               request_spec=self._spec_of(r),
                                               instance_uuid=r["uuid"])

    def _spec_of(self, r):
        img = dbm.row(self.db, "SELECT properties FROM images WHERE id=?", (r["image_id"],)) if r["image_id"] else None
        g = dbm.row(self.db, "SELECT policy FROM server_groups WHERE id=?", (r["server_group_id"],)) \
            if r["server_group_id"] else None
        decided = dbm.row(self.db, "SELECT count(*) c FROM scheduler_decisions WHERE instance_uuid=?",
                          (r["uuid"],))["c"]
        return {"decisions_made": decided,  # the conductor schedules it only if none came since
                "vcpus": r["vcpus"], "memory_mb": r["memory_mb"],
                "disk_gb": 0 if r["boot_volume_size"] else r["root_gb"],
                "availability_zone": r["requested_az"],
                "image_properties": dbm.jload(img["properties"], {}) if img else {},
                "group_id": r["server_group_id"], "group_policy": g["policy"] if g else None}

    async def _release(self, ctx, u):
        await self.network.deallocate_for_instance(ctx, instance_uuid=u)
        await self.volume.release_for_instance(ctx, instance_uuid=u)
        self.db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (u,))

    # ---- a cluster's conductor ------------------------------------------------------------------------
    async def start_cluster(self, was_down: bool):
        """The conductor role's start-up: when the whole cluster was down, cut uploads are
        reset at once (before an api process serves images), and once the api, a scheduler and
        a compute process run (bounded by build_timeout) the builds in flight are resumed and
        interrupted deletes finished, as the embedded runtime does at its start. Then the
        watchdog and the watch on compute processes (not before: a build is resumed once)."""
        started = dbm.now_iso()  # what changes after this is the running cluster's own work
        if was_down:
            self.image.reconcile()
            deadline = time.monotonic() + self.config.build_timeout
            all_back = None  # when the roles are there: how long to wait for every compute process
            while time.monotonic() < deadline:
                live = servicegroup.live_services(self.db, self.config)
                if {"api", "scheduler", "compute"} <= {r["role"] for r in live}:
                    # and each mapped host's process back (bounded: one that never comes back
                    # is a lost process; a build cast to its host is rescheduled, see
                    # ConductorManager._build_undelivered)
                    # (a process starting on a loaded machine takes seconds: not less than 30)
                    all_back = all_back or time.monotonic() + max(self.config.service_down_time, 30)
                    if not servicegroup.unserved_hosts(self.db, live) or time.monotonic() > all_back:
                        break
                await asyncio.sleep(0.25)
            unserved = servicegroup.unserved_hosts(self.db, servicegroup.live_services(self.db, self.config))
            log.warning("the cluster was down: resuming what was in flight before %s%s", started,
                        f" (hosts whose compute process is not back: {sorted(unserved)})" if unserved else "")
            try:
                await self.reconcile(images=False, before=started)
            except Exception:
                log.exception("reconciling the cluster after its start failed")
        await asyncio.gather(self.watchdog(), self.watch_compute_services())

    # ---- a lost compute process (a cluster) -------------------------------------------------------
    async def watch_compute_services(self):
        """The hosts of a compute process that stopped or stopped reporting go down and their
        builds are rescheduled, as when a host is lost mid-build."""
        while True:
            await asyncio.sleep(min(1.0, self.config.heartbeat_interval))
            try:
                for host, why in servicegroup.dead_compute_hosts(self.db, self.config).items():
                    await self.host_lost(host, why)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watching the compute services failed")

    async def host_lost(self, host, why):
        ctx = RequestContext.system()
        await self.conductor_api.service_heartbeat(ctx, host=host, up=False, reason=why)
        servicegroup.mark_lost(self.db, host)
        for r in dbm.rows(self.db, "SELECT i.* FROM instances i LEFT JOIN claims c ON c.instance_uuid=i.uuid"
                                   " WHERE i.deleted=0 AND i.vm_state='building' AND (i.host=? OR c.host=?)",
                          (host, host)):
            u = r["uuid"]
            # take the build from the host first, in one statement: a build that ended ACTIVE
            # meanwhile is left alone, and the lost host's process, should it still be running
            # (its heartbeats cut, not its work), is refused at its next step (build_progress
            # checks the host) instead of finishing a build whose ports go here
            if dbm.update_returning(self.db, "instances", u, {"host": None},
                                    " AND deleted=0 AND vm_state='building'") is None:
                continue
            log.warning("build of %s was on %s, which is lost (%s): rescheduling", u, host, why)
            await self.network.deallocate_for_instance(ctx, instance_uuid=u)
            await self.volume.release_for_instance(ctx, instance_uuid=u)  # files on the lost host stay
            self.db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (u,))
            d = dbm.row(self.db, "SELECT data FROM scheduler_decisions WHERE instance_uuid=? ORDER BY id DESC"
                                 " LIMIT 1", (u,))
            alternates = [a for a in (dbm.jload(d["data"], {}).get("alternates") or []) if a != host] if d else []
            create = dbm.row(self.db, "SELECT request_id FROM instance_actions WHERE instance_uuid=? AND"
                                      " action='create' ORDER BY id DESC LIMIT 1", (u,))
            rctx = ctx.with_request_id(create["request_id"]) if create else ctx
            self.conductor_api.build_failed(rctx, instance_uuid=u, host=host, reason=why, reschedulable=True,
                                            alternates=alternates)

    # ---- the build watchdog ------------------------------------------------------------------------
    async def watchdog(self):
        """Nothing stays in BUILD forever: past build_timeout it goes to ERROR, released."""
        while True:
            await asyncio.sleep(min(5.0, max(self.config.build_timeout / 4, 0.2)))
            try:
                await self.expire_builds()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("build watchdog failed")

    async def expire_builds(self):
        limit = time.time() - self.config.build_timeout
        ctx = RequestContext.system()
        for r in dbm.rows(self.db, "SELECT * FROM instances WHERE deleted=0 AND vm_state='building'"
                                   " AND build_started < ?", (limit,)):
            u = r["uuid"]
            cm = self.computes.get(r["host"]) if r["host"] else None
            for any_cm in self.computes.values():  # a hung build holds its lock: end it
                any_cm.abort_build(u)
            if cm is not None:
                try:
                    await asyncio.wait_for(cm._cleanup(ctx, u), 30)
                except Exception as e:
                    log.warning("cleanup of timed-out build %s: %s", u, e)
            else:
                await self._release(ctx, u)
            dbm.update(self.db, "instances", u, {"host": None})
            if r["task_state"] == states.DELETING:  # the user asked for a delete: finish it
                await self.compute_api.local_delete(ctx, self.store.get(u))
                continue
            self.store.set_error(u, f"Build of instance {u} timed out after {self.config.build_timeout:g} s "
                                    f"(in task_state {r['task_state']})", None, r["host"])
