"""Whether a compute service is up (nova's servicegroup API, database driver): the one rule,
used by the compute API, the conductor, the scheduler and the hypervisor views."""
from __future__ import annotations

import asyncio
import os
import socket
import time

from backend.core import db as dbm


def down_reason(node, config, now: float | None = None) -> str | None:
    """None when the host is up (it reported within service_down_time and its last report
    found nothing wrong); else why it is down. node: a compute_nodes row."""
    return host_down_reason(node["down_reason"], node["last_heartbeat"], config, now)


def host_down_reason(reported: str | None, last_heartbeat: float | None, config,
                     now: float | None = None) -> str | None:
    """down_reason from a row's two columns (the scheduler reads thousands of rows as tuples)."""
    if reported:
        return reported
    if last_heartbeat is None:
        return "never reported"
    if (time.time() if now is None else now) - last_heartbeat >= config.service_down_time:
        return f"no heartbeat for {config.service_down_time:g} s"
    return None


def is_up(node, config, now: float | None = None) -> bool:
    return down_reason(node, config, now) is None


# ---- service records and host ownership (nova's services table, servicegroup db driver) -------
# Each process of a cluster has a services row (role, host = its service name) whose updated_at
# it renews every report interval; a compute process owns the hosts mapped to it in
# host_mappings. A row not renewed within service_down_time is a dead process. Both tables
# come from migration 0008.


class HostOwned(Exception):
    """A host (or service name) is held by another live process."""


class ServiceRecord:
    """This process's services row: register() (claiming its compute hosts), report() each
    interval, stop(). db: the backend's database, config: Config; role 'compute', ...; host:
    the service's name."""

    def __init__(self, db, config, role: str, host: str):
        self.db, self.config, self.role, self.host = db, config, role, host
        self.registered = False

    def _alive(self, row, now) -> bool:
        # on this machine a pid that is gone is a dead process at once (a SIGKILLed api started
        # again by `cluster respawn` need not wait for service_down_time)
        return not row["stopped"] and now - row["updated_at"] < self.config.service_down_time and (
            row["node"] != socket.gethostname() or os.path.exists(f"/proc/{row['pid']}"))

    def register(self, compute_hosts=(), host_configs=()) -> list[str]:
        """The row of this service, the mapping of its hosts and their compute_nodes rows
        (configured), in one transaction. Refused (HostOwned, nothing written) when a live
        process holds this service name or any host. Returns the hosts the conductor took
        over from a lost process (their builds were rescheduled)."""
        now = time.time()
        me = (self.role, self.host)
        hosts = list(compute_hosts)
        # a few statements for any number of hosts (a process may serve hundreds: one
        # statement per host and step held the database's write lock for seconds on PostgreSQL)
        with dbm.transaction(self.db):
            same = dbm.row(self.db, "SELECT * FROM services WHERE role=? AND host=?", me)
            if same and self._alive(same, now) and same["pid"] != os.getpid():
                raise HostOwned(f"service {self.role} {self.host!r} is already running (pid {same['pid']} "
                                f"on {same['node']}, reported {now - same['updated_at']:.1f} s ago)")
            # each host's mapping and the services row it names (if any)
            owners = _in(self.db, "SELECT m.host h, m.lost_at, s.* FROM host_mappings m LEFT JOIN services s ON"
                                  " s.role=m.service_role AND s.host=m.service_host WHERE m.host IN ({})", hosts)
            owners = {r["h"]: r for r in owners}
            for h in hosts:
                owner = owners.get(h)
                if owner and owner["role"] is not None and (owner["role"], owner["host"]) != me \
                        and self._alive(owner, now):
                    raise HostOwned(f"host {h} is owned by {owner['role']} service {owner['host']!r} (pid "
                                    f"{owner['pid']} on {owner['node']}), which is alive: a host is "
                                    f"served by one compute process")
            self.db.conn.execute(
                "INSERT INTO services (role, host, pid, node, started_at, updated_at, stopped)"
                " VALUES (?,?,?,?,?,?,0) ON CONFLICT (role, host) DO UPDATE SET pid=excluded.pid,"
                " node=excluded.node, started_at=excluded.started_at, updated_at=excluded.updated_at,"
                " stopped=0", (*me, os.getpid(), socket.gethostname(), now, now))
            lost = [h for h in hosts if h in owners and owners[h]["lost_at"] is not None]
            self.db.conn.execute("DELETE FROM host_mappings WHERE service_role=? AND service_host=?", me)
            if hosts:
                self.db.conn.executemany("INSERT INTO host_mappings VALUES (?,?,?,NULL) ON CONFLICT (host) DO UPDATE"
                                         " SET service_role=excluded.service_role,"
                                         " service_host=excluded.service_host, lost_at=NULL",
                                         [(h, *me) for h in hosts])
            configs = list(host_configs)
            known = {r["host"] for r in _in(self.db, "SELECT host FROM compute_nodes WHERE host IN ({})",
                                             [h.name for h in configs])}
            old = [(h.address, h.driver, h.availability_zone, h.name) for h in configs if h.name in known]
            if old:
                self.db.conn.executemany("UPDATE compute_nodes SET address=?, driver=?, availability_zone=?,"
                                         " configured=1, last_heartbeat=NULL WHERE host=?", old)
            for h in configs:
                if h.name not in known:
                    self.db["compute_nodes"].insert({"address": h.address, "driver": h.driver,
                                                     "availability_zone": h.availability_zone,
                                                     "host": h.name, "configured": 1})
        self.registered = True
        return lost

    def report(self) -> None:
        self.db.conn.execute("UPDATE services SET updated_at=? WHERE role=? AND host=?",
                             (time.time(), self.role, self.host))

    async def reporting(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            self.report()

    def stop(self) -> None:
        """A clean stop: the row says so (its hosts are down at once, not after service_down_time)."""
        if self.registered:
            self.db.conn.execute("UPDATE services SET stopped=1 WHERE role=? AND host=? AND pid=?",
                                 (self.role, self.host, os.getpid()))


def _in(db, sql: str, values: list) -> list[dict]:
    """sql's rows for values in its `IN ({})`, asked in parts far below the engines' limits."""
    out = []
    for i in range(0, len(values), 500):
        part = values[i:i + 500]
        out += dbm.rows(db, sql.format(",".join("?" * len(part))), tuple(part))
    return out


def mark_lost(db, host: str) -> None:
    """The conductor took the host's builds over (its next process drops what was queued)."""
    db.conn.execute("UPDATE host_mappings SET lost_at=? WHERE host=?", (time.time(), host))


def dead_compute_hosts(db, config, now: float | None = None) -> dict[str, str]:
    """The hosts whose compute process stopped or stopped reporting, not yet taken over:
    {host: why}."""
    now = time.time() if now is None else now
    out = {}
    for r in dbm.rows(db, "SELECT m.host h, s.* FROM host_mappings m JOIN services s ON s.role=m.service_role"
                          " AND s.host=m.service_host WHERE m.lost_at IS NULL"):
        if r["stopped"]:
            out[r["h"]] = f"compute service {r['host']} (pid {r['pid']}) stopped"
        elif now - r["updated_at"] >= config.service_down_time:
            out[r["h"]] = (f"compute service {r['host']} (pid {r['pid']}) has not reported for "
                           f"{now - r['updated_at']:.0f} s")
    return out


def unserved_hosts(db, live: list[dict]) -> list[str]:
    """The mapped hosts (not taken over) whose compute process is not among live (services
    rows) or has not reported them since it started: a cluster started again before all its
    compute processes serve. A process registers before it consumes its hosts' queues, and
    reports them only after, so a report since its start means a build cast there is taken."""
    started = {(r["role"], r["host"]): r["started_at"] for r in live}
    out = []
    for r in dbm.rows(db, "SELECT m.host, m.service_role, m.service_host, n.last_heartbeat FROM host_mappings m"
                          " LEFT JOIN compute_nodes n ON n.host=m.host WHERE m.lost_at IS NULL"):
        since = started.get((r["service_role"], r["service_host"]))
        if since is None or r["last_heartbeat"] is None or r["last_heartbeat"] < since:
            out.append(r["host"])
    return out


def serves_topic(db, topic: str) -> bool:
    """Whether a compute process of the cluster maps the host of `compute.<host>`."""
    if not topic.startswith("compute."):
        return False
    return dbm.row(db, "SELECT 1 x FROM host_mappings WHERE host=?", (topic[len("compute."):],)) is not None


def services(db) -> list[dict]:
    return dbm.rows(db, "SELECT * FROM services ORDER BY role, host")


def live_services(db, config, now: float | None = None) -> list[dict]:
    """The services rows of processes that are running: not stopped, reported within
    service_down_time, and (on this node) their pid still there — a cluster killed as a whole
    leaves fresh rows whose processes are gone."""
    now = time.time() if now is None else now
    node = socket.gethostname()
    return [r for r in services(db) if not r["stopped"] and now - r["updated_at"] < config.service_down_time
            and (r["node"] != node or os.path.exists(f"/proc/{r['pid']}"))]
