"""Wires the services together on one event loop: the database, the bus, every service and
one compute manager per host of hosts.yaml; starts the conductor's recovery (reconcile what
a previous run left behind, the build watchdog). One backend per state directory (a lock).

config.role picks what this process serves (`pocketstack serve --role`): `all` (the embedded
default: everything, one process), or one role of a cluster over RabbitMQ (docs/cluster.md):
`api` (REST API, facade, compute API, identity, and the network/volume/image topics),
`conductor` (conductor topic, build watchdog, takeover of lost compute processes' hosts),
`scheduler`, `compute` (a compute manager per host of its hosts file, owned by this process)."""
from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import time
from pathlib import Path

from backend.core import db as dbm
from backend.compute import rpcapi as compute_rpcapi
from backend.compute.manager import ComputeManager
from backend.compute.host_reports import HostReporter
from backend.compute.api import ComputeAPI
from backend.compute.console_auth import ConsoleAPI
from backend.conductor.manager import ConductorManager
from backend.conductor.recovery import Recovery
from backend.conductor.rpcapi import ConductorAPI
from backend.core import servicegroup
from backend.core.errors import AlreadyRunning, CloudError
from backend.messaging.events import EventHub, Tracer
from backend.messaging.events_relay import EventRelay
from backend.network.rpcapi import NetworkAPI
from backend.volume.rpcapi import VolumeAPI
from backend.core.hosts import HostsFileError, load_hosts, load_network_node
from backend.identity import IdentityService
from backend.image.api import ImageService
from backend.core.instances import InstanceStore
from backend.network.api import NetworkService
from backend.messaging.amqp import AMQPBus
from backend.messaging.inproc import InProcessBus
from backend.scheduler.manager import SchedulerManager
from backend.virt import load_driver
from backend.volume.api import VolumeService

log = logging.getLogger(__name__)
ROLES = ("all", "api", "conductor", "scheduler", "compute")
# the bus topics each role serves (compute: compute.<host> per host it owns)
TOPICS = {"all": ("conductor", "scheduler", "network", "volume", "image"),
          "api": ("network", "volume", "image"), "conductor": ("conductor",), "scheduler": ("scheduler",),
          "compute": ()}


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
    def __init__(self, config, role: str | None = None):
        """role: config.role unless given (several roles' runtimes may share one config)."""
        self.config = config
        self.role = role or config.role
        self.service = self.relay = None
        self._lock_fd = None
        self._tasks: list[asyncio.Task] = []
        self.computes: dict[str, ComputeManager] = {}

    # ---- the state directory lock ----------------------------------------------------------
    def _take_lock(self, serve_url):
        path = self.config.home / "pocketstack.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        shared = self.role != "all"  # a cluster's processes share the directory
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.read(fd, 4096) or b"{}")
            except ValueError:
                info = {}
            os.close(fd)
            if shared or not info:
                raise AlreadyRunning(f"a pocketstack backend{' (pid ' + str(info['pid']) + ')' if info else ''} "
                                     f"or cluster is already running on {self.config.home}; stop it "
                                     "(`pocketstack cluster down`) or use another POCKETSTACK_HOME") from None
            where = f", serving {info['url']}" if info.get("url") else ""
            raise AlreadyRunning(f"another pocketstack backend (pid {info.get('pid', '?')}{where}) is already "
                                 f"running on {self.config.home}; stop it or use another POCKETSTACK_HOME") from None
        if not shared:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "url": serve_url, "started": time.time()}).encode())
        self._lock_fd = fd

    # ---- start / stop ------------------------------------------------------------------------
    async def start(self, serve_url=None):
        c = self.config
        if not getattr(c, "database_connection", "").startswith("postgres") and not c.db_path.exists():
            raise CloudError(f"no cloud in {c.home}: run `pocketstack init` first")
        self._take_lock(serve_url)
        try:
            await self._start()
        except BaseException:
            if getattr(self, "checkpointer", None) is not None:
                self.checkpointer.stop()
            self._release_lock()
            raise

    async def _start(self):
        c, role = self.config, self.role
        if role not in ROLES:
            raise CloudError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        cluster = role != "all"
        if cluster and not c.transport_url:
            raise CloudError(f"role {role} is one process of a cluster: it needs the message broker "
                             "([DEFAULT] transport_url = rabbit://... in pocketstack.conf, or "
                             "POCKETSTACK_TRANSPORT_URL)")
        hosts = []
        if role in ("all", "compute"):
            hosts_path = resolve_hosts_path(c)
            try:
                hosts = load_hosts(hosts_path)
            except HostsFileError as e:
                raise CloudError(str(e)) from None
        self.db = dbm.open_db(getattr(c, "database_connection", "") or c.db_path)
        ok = self.db.conn.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise CloudError(f"database {c.db_path} failed its integrity check: {ok}")
        self.checkpointer = dbm.WalCheckpointer(self.db).start()
        self.events = EventHub(keep=c.event_replay)
        self.tracer = Tracer(self.db, self.events, shared=cluster)
        if c.transport_url:
            # a cluster's processes ride out a broker restart: calls and casts wait for the
            # connection to come back (the api's create still answers 503 at once)
            self.bus = await AMQPBus(c.transport_url, self.tracer, reconnect_wait=60.0 if cluster else 0.0).connect()
            if cluster:  # the compute hosts other processes serve
                self.bus.directory = lambda topic: servicegroup.serves_topic(self.db, topic)
        else:
            self.bus = InProcessBus(self.tracer, serialize=c.bus_serialize)
        self.conductor_api, self.compute_rpcapi = ConductorAPI(self.bus), compute_rpcapi.ComputeAPI(self.bus)
        self.identity = IdentityService(self.db, c)
        self.image = ImageService(self.db, c)
        self.network = NetworkService(self.db, c)
        # l2population reaches the compute hosts over the bus; the network node is hosts.yaml's
        self.network.l2.bus = self.bus
        self.network.l2.loop = asyncio.get_running_loop()
        try:
            self.network.l2.node = load_network_node(resolve_hosts_path(c))
        except HostsFileError as e:
            raise CloudError(str(e)) from None
        # the network node also runs the L3 agent (routers), in the process serving the network topic
        if self.network.l2.node is not None and "network" in TOPICS[role]:
            from backend.network.l3_agent import L3Agent, external_bridge_name
            self.network.l3_agent = L3Agent(self.network, getattr(self.network.l2.node, "external_bridge", None)
                                            or external_bridge_name(c.home))
            await self.network.l3_agent.sync_all()
        self.volume = VolumeService(self.db, self.bus, c)
        self.store = InstanceStore(self.db, self.events, self.network)
        self.store.tracer = self.tracer
        self.scheduler = SchedulerManager(self.db, self.tracer, c)
        self.conductor = ConductorManager(self.db, self.bus, self.tracer, self.store, c, self.events)
        self.compute_api = ComputeAPI(self.db, self.bus, self.tracer, self.store, self.network, self.image,
                                      self.volume, c)
        served = {"conductor": self.conductor, "scheduler": self.scheduler, "network": self.network,
                  "volume": self.volume, "image": self.image}
        for topic in TOPICS[role]:
            self.bus.register(topic, served[topic])
        if cluster:
            await self._register_service(hosts)
        else:
            self.conductor.register_hosts(hosts)
        for h in hosts:
            cm = ComputeManager(h, load_driver(h, c), self.bus, self.tracer, c)
            self.computes[h.name] = cm
            self.bus.register(cm.topic, cm)
        if isinstance(self.bus, AMQPBus):
            await self.bus.ready()  # the queues are declared and consumed before any message
        if cluster:  # live events cross processes; the api role serves them to clients
            self.relay = await EventRelay(c.transport_url, self.events, receive=role == "api").start()
        # the hosts' first reports and init_host, then their heartbeats and power sync, batched
        self.host_reporter = HostReporter(self.computes, self.conductor_api, c)
        await self.host_reporter.start()
        self.console_api = ConsoleAPI(self.compute_api, self.computes)
        # in a cluster the ports and volumes are released by the api process that serves them
        network, volume = (NetworkAPI(self.bus), VolumeAPI(self.bus)) if cluster else (self.network, self.volume)
        self.recovery = Recovery(self.db, self.store, self.tracer, c, computes=self.computes,
                                 compute_api=self.compute_api, network=network, volume=volume,
                                 image=self.image, conductor_api=self.conductor_api,
                                 compute_rpcapi=self.compute_rpcapi)
        loop = asyncio.get_running_loop()
        if role == "all":
            await self.recovery.reconcile()
            self._tasks.append(loop.create_task(self.recovery.watchdog()))
        if role == "api":  # creates an api process recorded but whose build cast it never sent
            await self.recovery.resume_unsent_builds()
        if role == "conductor":  # reconcile, then the watchdog and the watch on compute processes
            self._tasks.append(loop.create_task(self.recovery.start_cluster(self._cluster_was_down)))
        self._tasks.append(loop.create_task(self._flusher()))

    async def _register_service(self, hosts):
        """This process's services row; a compute process claims its hosts (refused when a live
        process holds one), marks them configured and takes over their queues."""
        c = self.config
        name = c.service_host or (f"{self.role}-{os.getpid()}")
        self.service = servicegroup.ServiceRecord(self.db, c, self.role, name)
        # no other process of the cluster runs: what was in flight was cut (the conductor resumes it)
        self._cluster_was_down = not [r for r in servicegroup.live_services(self.db, c)
                                      if (r["role"], r["host"]) != (self.role, name)]
        try:
            lost = self.service.register([h.name for h in hosts], hosts)
        except servicegroup.HostOwned as e:
            raise CloudError(str(e)) from None
        for h in lost:  # the conductor rescheduled their builds: what was queued for them is stale
            await self.bus.purge(f"compute.{h}")
        if self.role == "conductor" and self._cluster_was_down:
            # the whole cluster was down: this conductor resumes every build in flight itself
            # (start_cluster), so a build cast left in a host's queue (redelivered, unacked when
            # its process stopped) would run the same build twice; the queues go first
            for r in dbm.rows(self.db, "SELECT host FROM compute_nodes"):
                await self.bus.purge(f"compute.{r['host']}")
        self._tasks.append(asyncio.get_running_loop().create_task(self.service.reporting()))

    async def _flusher(self):
        while True:
            await asyncio.sleep(0.25)
            self.tracer.flush()

    async def stop(self):
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if getattr(self, "service", None) is not None:
            self.service.stop()
        if getattr(self, "relay", None) is not None:
            await self.relay.stop()
        await self.bus.drain(2.0)
        self.bus.cancel_all()
        if isinstance(self.bus, AMQPBus):
            await self.bus.close()
        if getattr(self, "host_reporter", None) is not None:
            await self.host_reporter.stop()
        for cm in self.computes.values():
            await cm.stop()
        self.tracer.flush()
        self.checkpointer.stop()
        self.db.conn.close()
        self._release_lock()

    def _release_lock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- recovery (backend.conductor.recovery) ------------------------------------------------
    async def reconcile(self):
        await self.recovery.reconcile()

    async def expire_builds(self):
        await self.recovery.expire_builds()
