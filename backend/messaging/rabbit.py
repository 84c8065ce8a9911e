"""A RabbitMQ node of our own: Debian's rabbitmq-server on free loopback ports, with its data,
logs and plugin list under a state directory. The machine's system service (and its node
name, ports and data) is never touched.

Run as root, Debian's wrapper drops to the `rabbitmq` user (su, which keeps the environment),
so the node's directories belong to that user. The Erlang cookie is that user's own."""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path


class RabbitError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RabbitNode:
    """start() / stop() / restart(); url is the transport_url clients connect to. The ports
    are chosen once, so a restarted node comes back where its clients left it."""

    def __init__(self, base: Path, name: str = "pocketstack", listen: tuple[str, ...] = ()):
        """listen: addresses the AMQP port is open on besides loopback (e.g. the lab bridge's,
        for compute processes in the lab's namespaces); guest stays loopback-only there."""
        if shutil.which("rabbitmq-server") is None:
            raise RabbitError("rabbitmq-server is not installed (scripts/setup.sh installs it)")
        self.base = Path(base)
        self.listen = tuple(listen)
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        # the port in the name: two nodes of ours on one machine never share a name
        self.nodename = f"{name}-{self.port}@localhost"
        self.proc: subprocess.Popen | None = None

    @classmethod
    def attach(cls, base: Path, port: int, dist_port: int, epmd_port: int, nodename: str,
               listen: tuple[str, ...] = ()) -> "RabbitNode":
        """A node started elsewhere (by `cluster up`), from its record: stop(), start() again
        on the same ports and data directory, ctl commands."""
        node = cls.__new__(cls)
        node.base, node.listen = Path(base), tuple(listen)
        node.port, node.dist_port, node.epmd_port, node.nodename = port, dist_port, epmd_port, nodename
        node.proc = None
        return node

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict:
        b = self.base
        return dict(
            os.environ,
            RABBITMQ_NODENAME=self.nodename,
            # more than loopback: the listeners are in rabbitmq.conf (these would override them)
            **({} if self.listen else {"RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                                                       "RABBITMQ_NODE_PORT": str(self.port)}),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_MNESIA_BASE=str(b / "mnesia"),
            RABBITMQ_LOG_BASE=str(b / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(b / "enabled_plugins"),
            # not /etc/rabbitmq's files: they belong to the system service
            RABBITMQ_CONFIG_FILE=str(b / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(b / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(b / "rabbitmq-env.conf"),
            # Erlang distribution on loopback only
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )

    def _prepare(self):
        b = self.base
        for d in (b, b / "mnesia", b / "log"):
            d.mkdir(parents=True, exist_ok=True)
        (b / "enabled_plugins").write_text("[].\n")
        conf = "loopback_users.guest = true\n"
        for i, addr in enumerate(("127.0.0.1", *self.listen) if self.listen else ()):
            conf += f"listeners.tcp.{i + 1} = {addr}:{self.port}\n"
        (b / "rabbitmq.conf").write_text(conf)
        (b / "advanced.config").write_text("[].\n")
        (b / "rabbitmq-env.conf").write_text("")
        if os.geteuid() == 0:
            user = pwd.getpwnam("rabbitmq")
            for p in [b, *b.rglob("*")]:
                os.chown(p, user.pw_uid, user.pw_gid)
            for parent in b.resolve().parents:  # the node runs as that user: it must get there
                st = parent.stat()
                if not (st.st_mode & 0o001 or (st.st_uid == user.pw_uid and st.st_mode & 0o100)):
                    raise RabbitError(f"the rabbitmq user cannot reach {b}: {parent} is not searchable "
                                      "by others; put the node's directory elsewhere")

    def _ctl(self, *args, timeout=30) -> subprocess.CompletedProcess:
        return subprocess.run(["rabbitmqctl", "-n", self.nodename, *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def ping(self) -> bool:
        r = subprocess.run(["rabbitmq-diagnostics", "-n", self.nodename, "-q", "ping"], env=self.env(),
                           capture_output=True, text=True, timeout=30)
        return r.returncode == 0

    def start(self, timeout: float = 60.0) -> "RabbitNode":
        self._prepare()
        log = open(self.base / "server.out", "ab")
        self.proc = subprocess.Popen(["rabbitmq-server"], env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        end = time.monotonic() + timeout
        while not self.ping():
            if self.proc.poll() is not None:
                rc, self.proc = self.proc.returncode, None
                self._end_epmd()  # the node's runtime started it before the node gave up
                raise RabbitError(f"rabbitmq-server exited ({rc}); "
                                  f"see {self.base / 'server.out'} and {self.base / 'log'}")
            if time.monotonic() > end:
                self.stop()
                raise RabbitError(f"rabbitmq node {self.nodename} did not answer ping in {timeout} s")
            time.sleep(0.2)
        # ping answers once the runtime is up; the AMQP listener comes with the boot's end
        r = self._ctl("await_startup", timeout=timeout)
        if r.returncode != 0:  # e.g. its AMQP port was taken meanwhile
            self.stop()
            raise RabbitError(f"rabbitmq node {self.nodename} did not finish starting: "
                              f"{(r.stderr or r.stdout).strip()[-300:]}; see {self.base / 'log'}")
        return self

    def stop(self):
        if self.proc is None:  # attached: its process is not ours to wait for
            r = self._ctl("shutdown", timeout=60)
            if r.returncode == 0:
                self._end_epmd()
            return
        if self.proc.poll() is None:
            self._ctl("shutdown", timeout=60)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self._end_epmd()

    def _end_epmd(self):
        # the epmd this node started on its own port (nothing else uses that port)
        subprocess.run(["epmd", "-kill"], env=self.env(), capture_output=True, timeout=10)

    def restart(self):
        self.stop()
        self.start()

    def add_vhost(self, name: str) -> str:
        """A virtual host of its own (queues apart from every other's); its transport_url."""
        for args in (("add_vhost", name), ("set_permissions", "-p", name, "guest", ".*", ".*", ".*")):
            r = self._ctl(*args)
            if r.returncode != 0:
                raise RabbitError(f"rabbitmqctl {args[0]} {name} failed: {r.stderr.strip()}")
        return f"rabbit://guest:guest@127.0.0.1:{self.port}/{name}"

    def add_user(self, user: str, password: str, vhost: str = "/") -> None:
        """A user of our own with every permission on the vhost (guest only works on loopback)."""
        for args in (("add_user", user, password), ("set_permissions", "-p", vhost, user, ".*", ".*", ".*")):
            r = self._ctl(*args)
            if r.returncode != 0:
                raise RabbitError(f"rabbitmqctl {args[0]} {user} failed: {r.stderr.strip()[-300:]}")

    def list_queues(self, vhost: str = "/") -> dict[str, int]:
        """Queue name -> messages ready, as `rabbitmqctl list_queues` shows them."""
        r = self._ctl("list_queues", "-p", vhost, "-q", "--no-table-headers", "name", "messages")
        if r.returncode != 0:
            raise RabbitError(f"rabbitmqctl list_queues failed: {r.stderr.strip()}")
        out = {}
        for line in r.stdout.splitlines():
            name, _, n = line.rpartition("\t")
            if name:
                out[name] = int(n)
        return out
