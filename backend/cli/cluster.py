"""`pocketstack cluster up [--computes N] | down | status`: the services of one cloud as
separate processes on this machine, as OpenStack runs them: a RabbitMQ node of our own
(backend.messaging.rabbit, free loopback ports), then the conductor, scheduler, api and N
compute processes (`pocketstack serve --role ...`), the hosts of the hosts file split over the
compute processes. Everything lives under <state directory>/cluster: the generated
pocketstack.conf, the hosts file of each compute process, pidfiles (run/), logs (log/) and
state.json (what `down` stops; it stops that and nothing else). The control plane shares the
cloud's SQLite file (WAL across processes on one machine), or with --database postgresql a
PostgreSQL cluster of our own (backend/core/pgnode.py) under <state directory>/cluster/pg,
which `down` stops and keeps. docs/cluster.md."""
from __future__ import annotations

import configparser
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from backend.core import db as dbm
from backend.core import servicegroup
from backend.core.config import Config
from backend.core.hosts import HostsFileError, load_hosts
from backend.messaging.rabbit import RabbitError, RabbitNode
from backend.runtime import resolve_hosts_path

from . import cluster_lab, cluster_pg


class ClusterError(Exception):
    pass


def cluster_dir(config: Config) -> Path:
    return config.home / "cluster"


def _state(config: Config) -> dict | None:
    p = cluster_dir(config) / "state.json"
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        return None


def _save(config: Config, state: dict) -> None:
    p = cluster_dir(config) / "state.json"
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.chmod(0o600)  # the broker's and the database's passwords
    tmp.replace(p)


def _node_of(state: dict) -> RabbitNode:
    """The node `up` started, from its record (its ports are in its name and state)."""
    r = state["rabbit"]
    return RabbitNode.attach(Path(r["dir"]), r["port"], r["dist_port"], r["epmd_port"], r["nodename"],
                             tuple(r.get("listen", ())))


def _ours(pid: int) -> bool:
    """The pid is still one of our serve processes (not a recycled pid)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"serve" in cmd and b"--role" in cmd


def _split_hosts(config: Config, n: int, where: Path) -> list[Path]:
    try:
        hosts = load_hosts(resolve_hosts_path(config))
    except HostsFileError as e:
        raise ClusterError(str(e)) from None
    if len(hosts) < n:
        raise ClusterError(f"--computes {n}: the hosts file has {len(hosts)} host(s); each compute process "
                           "needs at least one")
    files = []
    for i in range(n):
        part = [h.model_dump(exclude_none=True) for h in hosts[i::n]]
        f = where / f"hosts-compute-{i + 1}.yaml"
        f.write_text(yaml.safe_dump({"hosts": part}, sort_keys=False))
        files.append(f)
    return files


def _write_conf(config: Config, path: Path, transport_url: str, port: int, database: str | None) -> None:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    if config.conf_file:
        cp.read(config.conf_file)
    cp["DEFAULT"]["transport_url"] = transport_url
    cp["DEFAULT"]["state_path"] = str(config.home)
    if not cp.has_section("api"):
        cp.add_section("api")
    cp["api"]["listen"], cp["api"]["port"] = "127.0.0.1", str(port)
    if database:
        if not cp.has_section("database"):
            cp.add_section("database")
        cp["database"]["connection"] = database
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        cp.write(f)  # 0600: it holds the broker's and the database's passwords
    path.chmod(0o600)


def _spawn(config: Config, cdir: Path, conf: Path, role: str, name: str, hosts: Path | None = None,
           netns: str | None = None) -> dict:
    log = cdir / "log" / f"{name}.log"
    cmd = [sys.executable, "-m", "backend.cli.main", "serve", "--role", role, "--config-file", str(conf)]
    if netns:  # a lab host's namespace: ip execs the command (same pid)
        cmd = ["ip", "netns", "exec", netns, *cmd]
    if hosts:
        cmd += ["--hosts", str(hosts)]
    env = dict(os.environ, POCKETSTACK_SERVICE_HOST=name, POCKETSTACK_CONFIG_FILE=str(conf))
    for k in ("POCKETSTACK_TRANSPORT_URL", "POCKETSTACK_HOSTS", "POCKETSTACK_HOME"):
        env.pop(k, None)  # the generated conf says it
    with open(log, "ab") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]))
    (cdir / "run" / f"{name}.pid").write_text(f"{p.pid}\n")
    return {"role": role, "name": name, "pid": p.pid, "log": str(log), "proc": p, "conf": str(conf),
            "netns": netns}


def _db(config: Config, state: dict | None = None):
    url = (state or {}).get("database_connection") or config.database_connection
    return dbm.open_db(url or config.db_path)


def _ready(config: Config, proc: dict, port: int, state: dict | None = None) -> bool:
    db = _db(config, state)
    try:
        rows = [r for r in servicegroup.services(db) if r["pid"] == proc["pid"] and not r["stopped"]]
    finally:
        db.conn.close()
    if not rows:
        return False
    if proc["role"] != "api":
        return True
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except OSError as e:
        return getattr(e, "code", None) is not None  # any HTTP answer: it serves


def _wait_ready(config: Config, proc: dict, port: int, timeout: float, state: dict | None = None) -> None:
    end = time.monotonic() + timeout
    while not _ready(config, proc, port, state):
        if proc["proc"].poll() is not None:
            tail = Path(proc["log"]).read_text(errors="replace").strip().splitlines()[-5:]
            raise ClusterError(f"{proc['name']} exited ({proc['proc'].returncode}) while starting: "
                               + " | ".join(tail) + f" (log: {proc['log']})")
        if time.monotonic() > end:
            raise ClusterError(f"{proc['name']} did not answer within {timeout:g} s (log: {proc['log']})")
        time.sleep(0.1)


def up(config: Config, computes: int = 2, port: int | None = None, timeout: float = 60.0,
       log=print, database: str = "sqlite", computes_in_lab: bool = False) -> dict:
    """Start the node (and with database='postgresql' the database) and the processes; the
    cluster's state (url, processes). On any failure everything started is stopped again.
    computes_in_lab: one compute process per lab host in its namespace (cluster_lab.py)."""
    if computes < 1:
        raise ClusterError(f"--computes {computes}: at least 1")
    if database not in ("sqlite", "postgresql"):
        raise ClusterError(f"--database {database!r}: sqlite or postgresql")
    if computes_in_lab and database != "postgresql":
        raise ClusterError("--computes-in-lab: the compute processes reach the database over the lab "
                           "network: add --database postgresql")
    if database == "sqlite" and not config.db_path.exists():
        raise ClusterError(f"no cloud in {config.home}: run `pocketstack init` first")
    old = _state(config)
    if old and any(_ours(p["pid"]) for p in old["processes"]):
        raise ClusterError(f"a cluster is already running on {config.home} (pocketstack cluster status)")
    cdir = cluster_dir(config)
    for d in (cdir, cdir / "run", cdir / "log"):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    lab = cluster_lab.plan(config, cdir, ClusterError) if computes_in_lab else None
    hosts_files = [f for _, f in lab.computes] if lab else _split_hosts(config, computes, cdir)
    port = port or config.api_port
    # the node runs as the rabbitmq user, which cannot enter the state directory (0700)
    rdir = Path(tempfile.mkdtemp(prefix="pocketstack-rabbit-"))
    node = RabbitNode(rdir, listen=(lab.bridge,) if lab else ())
    state = {"rabbit": {"dir": str(rdir), "port": node.port, "dist_port": node.dist_port,
                        "epmd_port": node.epmd_port, "nodename": node.nodename, "listen": list(node.listen)},
             "transport_url": node.url.replace("amqp://", "rabbit://"), "api_port": port,
             "url": f"http://127.0.0.1:{port}", "processes": [],
             "postgres": (old or {}).get("postgres")}
    _save(config, state)  # before anything starts: `down` finds whatever did
    try:
        if database == "postgresql":
            state["database_connection"] = cluster_pg.start(config, state, log,
                                                            allow=(lab.bridge, lab.cidr) if lab else None)
            _save(config, state)
        log(f"rabbitmq: starting node {node.nodename} on 127.0.0.1:{node.port}")
        try:
            node.start(timeout=timeout)
            if lab:  # a user of our own: guest is refused off loopback
                node.add_user(cluster_lab.RABBIT_USER, lab.rabbit_password)
        except RabbitError as e:
            raise ClusterError(str(e)) from None
        conf = cdir / "pocketstack.conf"
        if lab:
            state["transport_url"] = cluster_lab.transport_url(lab, node.port, "127.0.0.1")
            _save(config, state)
            _write_conf(config, cdir / "pocketstack-lab.conf", cluster_lab.transport_url(lab, node.port, lab.bridge),
                        port, state["database_lab"])
        _write_conf(config, conf, state["transport_url"], port, state.get("database_connection"))
        # the control plane gets the whole hosts file: its network node section (the L3 agent's)
        whole = resolve_hosts_path(config).resolve()
        plan = [("conductor", "conductor", whole), ("scheduler", "scheduler", whole), ("api", "api", whole)]
        plan += [("compute", f"compute-{i + 1}", f) for i, f in enumerate(hosts_files)]
        netns = {f"compute-{i + 1}": ns for i, (ns, _) in enumerate(lab.computes)} if lab else {}
        # the conductor first (every other process reports to it), then the rest together
        for batch in (plan[:1], plan[1:]):
            procs = []
            for role, name, hosts in batch:
                procs.append(_spawn(config, cdir, cdir / "pocketstack-lab.conf" if name in netns else conf,
                                    role, name, hosts, netns.get(name)))
                state["processes"].append({k: v for k, v in procs[-1].items() if k != "proc"})
                _save(config, state)
            for proc in procs:
                _wait_ready(config, proc, port, timeout, state)
                log(f"{proc['name']}: pid {proc['pid']} ready")
    except BaseException:
        down(config, log=lambda m: None)
        raise
    return state


def respawn(config: Config, name: str, timeout: float = 60.0) -> dict:
    """Start the named process of the cluster again (one that died), as `up` started it."""
    state = _state(config)
    if state is None:
        raise ClusterError(f"no cluster on {config.home}")
    old = next((p for p in state["processes"] if p["name"] == name), None)
    if old is None:
        raise ClusterError(f"the cluster has no process {name!r}")
    if _ours(old["pid"]):
        raise ClusterError(f"{name} is running (pid {old['pid']})")
    cdir = cluster_dir(config)
    hosts = cdir / f"hosts-{name}.yaml" if old["role"] == "compute" else resolve_hosts_path(config).resolve()
    proc = _spawn(config, cdir, Path(old.get("conf") or cdir / "pocketstack.conf"), old["role"], name, hosts,
                  old.get("netns"))
    state["processes"][state["processes"].index(old)] = {k: v for k, v in proc.items() if k != "proc"}
    _save(config, state)
    _wait_ready(config, proc, state["api_port"], timeout, state)
    return state


def down(config: Config, timeout: float = 15.0, log=print) -> bool:
    """Stop what `up` started (its processes, newest first, then its node); nothing else."""
    state = _state(config)
    if state is None:
        log(f"no cluster on {config.home}")
        return False
    procs = [p for p in reversed(state["processes"]) if _ours(p["pid"])]
    for p in procs:
        os.kill(p["pid"], signal.SIGTERM)
    end = time.monotonic() + timeout
    for p in procs:
        while _ours(p["pid"]) and time.monotonic() < end:
            _reap(p["pid"])
            time.sleep(0.05)
        if _ours(p["pid"]):
            os.kill(p["pid"], signal.SIGKILL)
        _reap(p["pid"])
        log(f"{p['name']}: stopped (pid {p['pid']})")
    for p in state["processes"]:
        (cluster_dir(config) / "run" / f"{p['name']}.pid").unlink(missing_ok=True)
    node = _node_of(state) if "rabbit" in state else None
    if node is not None and node.base.exists():
        node._ctl("shutdown", timeout=60)
        node._end_epmd()
        shutil.rmtree(node.base, ignore_errors=True)
        log(f"rabbitmq: node {node.nodename} stopped")
    cluster_pg.stop(state, log)
    if state.get("postgres"):  # kept for the next `up`: the database lives there
        _save(config, {"postgres": state["postgres"], "processes": []})
    else:
        (cluster_dir(config) / "state.json").unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    try:  # our own child when up and down run in one process (the tests): no zombie left
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(config: Config) -> dict | None:
    """The processes (role, name, pid, state) and the node's queues, or None (no cluster)."""
    state = _state(config)
    if state is None:
        return None
    if "rabbit" not in state:  # only a kept database: nothing runs
        return None
    db = _db(config, state)
    try:
        rows = {(r["pid"], r["host"]): r for r in servicegroup.services(db)}
    finally:
        db.conn.close()
    now = time.time()
    out = []
    for p in state["processes"]:
        r = rows.get((p["pid"], p["name"]))
        if not _ours(p["pid"]):
            st = "dead"
        elif r is None:
            st = "starting"
        elif now - r["updated_at"] >= config.service_down_time:
            st = f"not reporting ({now - r['updated_at']:.0f} s)"
        else:
            st = "up"
        out.append(dict(p, state=st))
    try:
        queues = _node_of(state).list_queues()
    except (RabbitError, OSError, subprocess.SubprocessError) as e:
        queues = {"(broker unreachable)": str(e)}
    return {"processes": out, "queues": queues, "url": state["url"], "transport_url": state["transport_url"],
            "database": state.get("database_connection") or f"sqlite:///{config.db_path}"}


# ---- the command line ------------------------------------------------------------------------
def _config(args) -> Config:
    return Config.load(getattr(args, "config_file", None),
                       hosts_path=Path(args.hosts) if getattr(args, "hosts", None) else None)


def _up(args) -> int:
    config = _config(args)
    try:
        state = up(config, args.computes, args.port, log=lambda m: print(m, flush=True), database=args.database,
                   computes_in_lab=args.computes_in_lab)
    except ClusterError as e:
        print(f"pocketstack: error: {e}", file=sys.stderr)
        return 1
    print(f"cluster up: API {state['url']}, broker {state['transport_url']}\n"
          f"  export OS_AUTH_URL={state['url']}/identity/v3   (pocketstack cluster status; cluster down)")
    return 0


def _down(args) -> int:
    down(_config(args), log=lambda m: print(m, flush=True))
    return 0


def _status(args) -> int:
    st = status(_config(args))
    if st is None:
        print("no cluster here (pocketstack cluster up)")
        return 1
    print(f"API {st['url']}   broker {st['transport_url']}   database {st['database']}")
    print(f"{'ROLE':<10} {'NAME':<12} {'PID':>8}  STATE")
    for p in st["processes"]:
        print(f"{p['role']:<10} {p['name']:<12} {p['pid']:>8}  {p['state']}")
    print(f"\n{'QUEUE':<44} MESSAGES")
    for q, n in sorted(st["queues"].items()):
        print(f"{q:<44} {n}")
    return 0


def register(groups) -> None:
    p = groups.add_parser("cluster", help="the services as separate processes over RabbitMQ (docs/cluster.md)")
    sub = p.add_subparsers(dest="cluster_cmd", required=True)
    u = sub.add_parser("up", help="start a RabbitMQ node of our own and the api, conductor, scheduler and "
                                  "compute processes")
    u.add_argument("--computes", type=int, default=2, help="compute processes; the hosts are split over them (2)")
    u.add_argument("--port", type=int, help="the API's port (default: [api] port, 8774)")
    u.add_argument("--hosts", help="hosts.yaml to split (default: as `serve`)")
    u.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                   help="the control plane's database: the cloud's SQLite file (default) or a PostgreSQL "
                        "cluster of our own under the state directory (a new cloud: OS_PASSWORD)")
    u.add_argument("--computes-in-lab", action="store_true",
                   help="one compute process per lab host, in that host's network namespace, reaching the "
                        "broker and the database over the lab network (needs --database postgresql)")
    u.add_argument("--config-file", metavar="FILE", help="pocketstack.conf to start from")
    u.set_defaults(local=_up)
    d = sub.add_parser("down", help="stop what `cluster up` started, and nothing else")
    d.add_argument("--config-file", metavar="FILE")
    d.set_defaults(local=_down)
    s = sub.add_parser("status", help="the processes and the broker's queues")
    s.add_argument("--config-file", metavar="FILE")
    s.set_defaults(local=_status)
