"""Wires the services together on one event loop: the database, the queue, every service
and one compute manager per host of hosts.yaml; reconciles what a previous run left
behind; runs the build-timeout watchdog. One backend per state directory (a lock)."""
from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import time
from pathlib import Path

from backend.core import db as dbm
from backend.core import states
from backend.compute.manager import ComputeManager
from backend.compute.api import ComputeAPI
from backend.conductor.manager import ConductorManager
from backend.core.context import RequestContext
from backend.core.errors import AlreadyRunning, CloudError
from backend.messaging.events import EventHub, Tracer
from backend.core.hosts import HostsFileError, load_hosts
from backend.identity import IdentityService
from backend.image.api import ImageService
from backend.core.instances import InstanceStore
from backend.network.api import NetworkService
from backend.messaging.inproc import Bus
from backend.scheduler.manager import SchedulerManager
from backend.virt import load_driver
from backend.volume.api import VolumeService

log = logging.getLogger(__name__)


def resolve_hosts_path(config) -> Path:
    if config.hosts_path:
        return Path(config.hosts_path)
    if os.environ.get("POCKETSTACK_HOSTS"):
        return Path(os.environ["POCKETSTACK_HOSTS"])
    lab = config.home / "lab" / "hosts.yaml"
    if lab.exists():  # written by `pocketstack lab up`
        return lab
    return Path("hosts.yaml")


class Runtime:
    def __init__(self, config):
        self.config = config
        self._lock_fd = None
        self._tasks: list[asyncio.Task] = []
        self.computes: dict[str, ComputeManager] = {}

    # ---- the state directory lock ----------------------------------------------------------
    def _take_lock(self, serve_url):
        path = self.config.home / "pocketstack.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.read(fd, 4096) or b"{}")
            except ValueError:
                info = {}
            os.close(fd)
            where = f", serving {info['url']}" if info.get("url") else ""
            raise AlreadyRunning(f"another pocketstack backend (pid {info.get('pid', '?')}{where}) is already "
                                 f"running on {self.config.home}; stop it or use another POCKETSTACK_HOME") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "url": serve_url, "started": time.time()}).encode())
        self._lock_fd = fd

    # ---- start / stop ------------------------------------------------------------------------
    async def start(self, serve_url=None):
        c = self.config
        if not c.db_path.exists():
            raise CloudError(f"no cloud in {c.home}: run `pocketstack init` first")
        self._take_lock(serve_url)
        try:
            await self._start()
        except BaseException:
            self._release_lock()
            raise

    async def _start(self):
        c = self.config
        hosts_path = resolve_hosts_path(c)
        try:
            hosts = load_hosts(hosts_path)
        except HostsFileError as e:
            raise CloudError(str(e)) from None
        self.db = dbm.open_db(c.db_path)
        ok = self.db.conn.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise CloudError(f"database {c.db_path} failed its integrity check: {ok}")
        self.events = EventHub(keep=c.event_replay)
        self.tracer = Tracer(self.db, self.events)
        self.bus = Bus(self.tracer)
        self.identity = IdentityService(self.db, c)
        self.image = ImageService(self.db, c)
        self.network = NetworkService(self.db, c)
        self.volume = VolumeService(self.db, self.bus, c)
        self.store = InstanceStore(self.db, self.events, self.network)
        self.store.tracer = self.tracer
        self.scheduler = SchedulerManager(self.db, self.tracer, c)
        self.conductor = ConductorManager(self.db, self.bus, self.tracer, self.store, c, self.events)
        self.compute_api = ComputeAPI(self.db, self.bus, self.tracer, self.store, self.network, self.image,
                                      self.volume, c)
        for topic, ep in (("conductor", self.conductor), ("scheduler", self.scheduler),
                          ("network", self.network), ("volume", self.volume), ("image", self.image)):
            self.bus.register(topic, ep)
        self._register_hosts(hosts)
        for h in hosts:
            cm = ComputeManager(h, load_driver(h, c), self.bus, self.tracer, c)
            self.computes[h.name] = cm
            self.bus.register(cm.topic, cm)
        await asyncio.gather(*(cm.start() for cm in self.computes.values()))
        await self.reconcile()
        self._tasks.append(asyncio.get_running_loop().create_task(self._watchdog()))
        self._tasks.append(asyncio.get_running_loop().create_task(self._flusher()))

    def _register_hosts(self, hosts):
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

    async def _flusher(self):
        while True:
            await asyncio.sleep(0.25)
            self.tracer.flush()

    async def stop(self):
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bus.drain(2.0)
        self.bus.cancel_all()
        for cm in self.computes.values():
            await cm.stop()
        self.tracer.flush()
        self.db.conn.close()
        self._release_lock()

    def _release_lock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- recovery ------------------------------------------------------------------------------
    async def reconcile(self):
        """After a restart: builds that were in flight are resumed from scheduling (their
        partial resources released first); interrupted deletes are finished; power actions
        interrupted mid-way are cleared and the power sync re-reads the guests."""
        self.image.reconcile()  # uploads cut by the stop: back to queued, no partial files
        ctx = RequestContext.system()
        for r in dbm.rows(self.db, "SELECT * FROM instances WHERE deleted=0 AND (vm_state='building'"
                                   " OR task_state IS NOT NULL)"):
            u = r["uuid"]
            if r["task_state"] == states.DELETING:
                cm = self.computes.get(r["host"]) if r["host"] else None
                if cm and cm.up:
                    self.bus.cast(ctx, cm.topic, "terminate_instance", instance_uuid=u)
                else:
                    await self.compute_api.local_delete(ctx, r)
            elif r["vm_state"] == states.BUILDING:
                cm = self.computes.get(r["host"]) if r["host"] else None
                if cm is not None:
                    await cm._cleanup(ctx, u)
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
                self.bus.cast(rctx, "conductor", "build_instances", instance_uuids=[u],
                              request_spec=self._spec_of(r), instance_uuid=u)
            else:
                self.store.update(u, task_state=None)
        for cm in self.computes.values():
            await cm.sync_power_states(ctx)

    def _spec_of(self, r):
        img = dbm.row(self.db, "SELECT properties FROM images WHERE id=?", (r["image_id"],)) if r["image_id"] else None
        g = dbm.row(self.db, "SELECT policy FROM server_groups WHERE id=?", (r["server_group_id"],)) \
            if r["server_group_id"] else None
        return {"vcpus": r["vcpus"], "memory_mb": r["memory_mb"],
                "disk_gb": 0 if r["boot_volume_size"] else r["root_gb"],
                "availability_zone": r["requested_az"],
                "image_properties": dbm.jload(img["properties"], {}) if img else {},
                "group_id": r["server_group_id"], "group_policy": g["policy"] if g else None}

    async def _watchdog(self):
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
                await self.network.deallocate_for_instance(ctx, u)
                await self.volume.release_for_instance(ctx, u)
                self.db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (u,))
            dbm.update(self.db, "instances", u, {"host": None})
            if r["task_state"] == states.DELETING:  # the user asked for a delete: finish it
                await self.compute_api.local_delete(ctx, self.store.get(u))
                continue
            self.store.set_error(u, f"Build of instance {u} timed out after {self.config.build_timeout:g} s "
                                    f"(in task_state {r['task_state']})", None, r["host"])
