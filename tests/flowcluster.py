"""The flow tests in cluster mode (tests/test_flow_cluster.py): each test's cloud is a cluster
of its own over one RabbitMQ node per module (started on free loopback ports, stopped at the
module's end).

This process is the api process: the facade the tests call, its live feed (`subscribe`, fed
across processes by the event relay) and the network, volume and image topics. It also runs
the conductor and the scheduler, each a runtime of that role on this loop with its own broker
connection and its own database connection, sharing this process's config as one
pocketstack.conf serves every process of a cluster (a test that lowers build_timeout lowers
the conductor's). The fake hosts are served by 2 compute processes (`pocketstack serve --role
compute`, the hosts split round robin as `cluster up` splits them). Every message between the
services crosses the broker; a fake host's behaviour reaches its compute process through the
state directory's fake-behaviours.json (`FakeDriver.behaviours` is that file here)."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import aio_pika
import yaml

from backend.core import db as dbm
from backend.facade import Cloud
from backend.messaging.rabbit import RabbitNode
from backend.runtime import TOPICS, Runtime

REPO = Path(__file__).resolve().parents[1]
COMPUTES = 2
# the compute processes are forked from a server that has imported the backend once (a
# process's start is then ~0.1 s of CPU, not ~0.7 s of imports); each runs `pocketstack serve`'s
# own entry point, as the command does
_SERVER = multiprocessing.get_context("forkserver")
_SERVER.set_forkserver_preload(["backend.cli.main", "backend.cli.serve", "backend.runtime", "backend.facade",
                                "backend.virt.fake", "backend.compute.manager"])


def _serve(argv: list[str], env: dict, log: str) -> None:
    """In the forked process: `pocketstack <argv>` with env, output to log, a session of its own."""
    os.setsid()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(REPO)
    from backend.cli.main import main
    sys.exit(main(argv))


class _Forked:
    """A forked process with the parts of subprocess.Popen's interface used here."""

    def __init__(self, argv: list[str], env: dict, log: Path):
        log.touch()
        self._p = _SERVER.Process(target=_serve, args=(argv, env, str(log)), daemon=False)
        self._p.start()
        self.pid = self._p.pid

    @property
    def returncode(self) -> int | None:
        return self._p.exitcode

    def poll(self) -> int | None:
        return self._p.exitcode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        self._p.kill()

    def wait(self, timeout: float | None = None) -> int:
        self._p.join(timeout)
        if self._p.exitcode is None:
            raise subprocess.TimeoutExpired("pocketstack serve", timeout)
        return self._p.exitcode


def start_node() -> tuple[RabbitNode, Path]:
    # not under pytest's tmp_path: its parents are private to root, and the node runs as `rabbitmq`
    d = Path(tempfile.mkdtemp(prefix="pocketstack-rabbit-"))
    try:
        return RabbitNode(d).start(), d
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise


def stop_node(node: RabbitNode, d: Path) -> None:
    try:
        node.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


class ClusterCloud(Cloud):
    """The api process's facade; its stop() stops the whole cluster (as `cluster down`)."""

    cluster: "FlowCluster"

    async def stop(self) -> None:
        await self.cluster.stop()


class FlowCluster:
    """start() gives the api process's Cloud (a ClusterCloud, `.cluster` = self); stop()
    stops every process and runtime and empties the broker's queues for the next test."""

    def __init__(self, node: RabbitNode, config, computes: int = COMPUTES):
        self.node, self.config, self.computes = node, config, computes
        self.runtimes: list[Runtime] = []      # conductor, scheduler (this process)
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []
        self.cloud: Cloud | None = None
        self.trace_ids: set[int] = set()      # the ids of every trace row the feed brought
        self.stopped = False

    # ---- start -----------------------------------------------------------------------------
    async def start(self, admin_password: str | None = "secret") -> ClusterCloud:
        """admin_password: the cloud is made first (`pocketstack init`); None: it exists."""
        c = self.config
        c.transport_url = self.node.url
        c.role, c.database_connection = "api", ""
        if admin_password is not None:
            Cloud.init(c, admin_password)
        try:
            # the conductor after the scheduler and the api: it joins a running cluster, so it
            # skips the start-up recovery of a cluster that was down (nothing to resume in a new
            # cloud; run while a test already creates, it could send a fresh build again)
            for role in ("scheduler", "api", "conductor"):
                if role == "api":
                    self.cloud = ClusterCloud(c)
                    self.cloud.cluster = self
                    await self.cloud.start()
                    self.cloud.rt.events.subscribe(self._seen)
                    continue
                rt = Runtime(c, role=role)
                await rt.start()
                self.runtimes.append(rt)
            self._spawn_computes()  # they reach the conductor as they start
            await self._computes_serving()
        except BaseException:
            await self.stop()
            raise
        return self.cloud

    def _seen(self, event: dict) -> None:
        if event.get("type") == "trace" and event["trace"].get("id") is not None:
            self.trace_ids.add(event["trace"]["id"])

    def _spawn_computes(self) -> None:
        c = self.config
        cdir = c.home / "cluster"
        cdir.mkdir(parents=True, exist_ok=True)
        conf = cdir / "pocketstack.conf"
        conf.write_text(textwrap.dedent(f"""\
            [DEFAULT]
            state_path = {c.home}
            transport_url = {self.node.url.replace("amqp://", "rabbit://", 1)}
            report_interval = {c.heartbeat_interval}
            service_down_time = {c.service_down_time}
            sync_power_state_interval = {c.power_sync_interval}
            cpu_allocation_ratio = {c.cpu_allocation_ratio}
            ram_allocation_ratio = {c.ram_allocation_ratio}
            disk_allocation_ratio = {c.disk_allocation_ratio}
            reserved_host_memory_mb = {c.reserved_host_memory_mb}
            reserved_host_disk_mb = {c.reserved_host_disk_mb}
            """))
        hosts = yaml.safe_load(Path(c.hosts_path).read_text())["hosts"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("POCKETSTACK_")}
        for i in range(self.computes):
            name = f"compute-{i + 1}"
            part = cdir / f"hosts-{name}.yaml"
            part.write_text(yaml.safe_dump({"hosts": hosts[i::self.computes]}, sort_keys=False))
            log = cdir / f"{name}.log"
            p = _Forked(["serve", "--role", "compute", "--config-file", str(conf), "--hosts", str(part)],
                        dict(env, POCKETSTACK_SERVICE_HOST=name), log)
            self.procs.append((name, p, log))

    async def _computes_serving(self, timeout: float = 60.0) -> None:
        """Until each compute process says it serves (its hosts started, their queues consumed)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        waiting = list(self.procs)
        while waiting:
            for name, p, log in list(waiting):
                text = log.read_text(errors="replace")
                if "serving as" in text:
                    waiting.remove((name, p, log))
                elif p.poll() is not None or loop.time() > end:
                    why = f"exited ({p.returncode})" if p.returncode is not None else f"not serving after {timeout:g} s"
                    raise AssertionError(f"{name} {why}: {' | '.join(text.strip().splitlines()[-5:])}")
            await asyncio.sleep(0.02)

    # ---- settle ----------------------------------------------------------------------------
    async def settle(self, timeout: float = 20.0) -> None:
        """Until nothing is in flight anywhere: this process's buses have nothing in hand, no
        queue of the broker holds a message, ready or unacked (a compute process acks once its
        method has run), and every trace row the feed announced is in the database (each
        process writes its own in batches). Bounded."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            before = len(self.trace_ids)
            await self._local_idle(end)
            busy = await asyncio.to_thread(self._busy_queues)
            await self._traced(end)
            if not busy and len(self.trace_ids) == before and not self._local_tasks():
                return
            if loop.time() > end:
                raise AssertionError(f"the cluster is still busy after {timeout:g} s: {busy or 'trace'}")
            await asyncio.sleep(0.02)

    def _all_runtimes(self) -> list[Runtime]:
        return [*self.runtimes, *([self.cloud.rt] if self.cloud else [])]

    def _local_tasks(self) -> int:
        return sum(len(rt.bus._tasks) for rt in self._all_runtimes())

    async def _local_idle(self, end: float) -> None:
        loop = asyncio.get_running_loop()
        while self._local_tasks() and loop.time() < end:
            for rt in self._all_runtimes():
                await rt.bus.drain(min(0.05, max(end - loop.time(), 0.01)))

    def _busy_queues(self) -> dict[str, tuple[int, int]]:
        r = subprocess.run(["rabbitmqctl", "-n", self.node.nodename, "list_queues", "-q", "--no-table-headers",
                            "name", "messages_ready", "messages_unacknowledged"],
                           env=self.node.env(), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"rabbitmqctl list_queues failed: {r.stderr.strip()[-300:]}")
        busy = {}
        for line in r.stdout.splitlines():
            name, ready, unacked = line.rsplit("\t", 2)
            if int(ready) or int(unacked):
                busy[name] = (int(ready), int(unacked))
        return busy

    async def _traced(self, end: float) -> None:
        for rt in self._all_runtimes():
            rt.tracer.flush()
        loop = asyncio.get_running_loop()
        db = dbm.open_db(self.config.db_path)
        try:
            while True:
                want = set(self.trace_ids)
                have = {r[0] for r in db.conn.execute("SELECT id FROM trace WHERE id >= ?", (min(want, default=0),))}
                if want <= have:
                    return
                if loop.time() > end:
                    raise AssertionError(f"{len(want - have)} trace rows announced but never written")
                await asyncio.sleep(0.02)
        finally:
            db.conn.close()

    async def power_synced(self, times: int = 2) -> None:
        """Until every compute process has run `times` power-state syncs from now to their end
        (each round asks the conductor, here, for its hosts' instances once: the round after
        the last counted one shows that one ended). Bounded."""
        conductor = next(rt for rt in self.runtimes if rt.role == "conductor").conductor
        asked: dict[frozenset, int] = {}
        real = conductor.instances_on_hosts

        async def counted(ctx, hosts):
            asked[frozenset(hosts)] = asked.get(frozenset(hosts), 0) + 1
            return await real(ctx, hosts=hosts)
        conductor.instances_on_hosts = counted
        try:
            procs = [frozenset(h["name"] for h in yaml.safe_load(part.read_text())["hosts"])
                     for part in sorted((self.config.home / "cluster").glob("hosts-compute-*.yaml"))]
            loop = asyncio.get_running_loop()
            end = loop.time() + 30
            while any(asked.get(hs, 0) <= times for hs in procs):
                if loop.time() > end:
                    raise AssertionError(f"power syncs seen per compute process: {asked}")
                await asyncio.sleep(0.02)
        finally:
            del conductor.instances_on_hosts

    # ---- stop ------------------------------------------------------------------------------
    async def stop(self) -> None:
        """The conductor and scheduler, the api runtime, the compute processes (SIGTERM,
        SIGKILL after 15 s); then the queues this cluster used go (durable: they would outlive
        it). Again: nothing to do."""
        if self.stopped:
            return
        self.stopped = True
        errors = []
        # the control plane first: a conductor that outlived the compute processes would take
        # their hosts over and reschedule what they ran
        for rt in reversed(self.runtimes):
            try:
                await rt.stop()
            except Exception as e:  # noqa: BLE001 (the rest must still stop)
                errors.append(e)
        if self.cloud is not None:
            try:
                await Cloud.stop(self.cloud)  # the api runtime alone
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        for _name, p, _log in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _name, p, _log in self.procs:
            try:
                await asyncio.to_thread(p.wait, 15)
            except subprocess.TimeoutExpired:
                p.kill()
                await asyncio.to_thread(p.wait)
        await self._delete_queues()
        if errors:
            raise errors[0]

    async def _delete_queues(self) -> None:
        hosts = yaml.safe_load(Path(self.config.hosts_path).read_text())["hosts"]
        names = set(TOPICS["all"]) | {f"compute.{h['name']}" for h in hosts}
        conn = await aio_pika.connect(self.node.url)
        try:
            ch = await conn.channel()
            for name in sorted(names):
                await ch.queue_delete(name)
        finally:
            await conn.close()

