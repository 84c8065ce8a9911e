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
    if node["down_reason"]:
        return node["down_reason"]
    if node["last_heartbeat"] is None:
        return "never reported"
    if (time.time() if now is None else now) - node["last_heartbeat"] >= config.service_down_time:
        return f"no heartbeat for {config.service_down_time:g} s"
    return None


def is_up(node, config, now: float | None = None) -> bool:
    return down_reason(node, config, now) is None


# ---- service records and host ownership (nova's services table, servicegroup db driver) -------
# Each process of a cluster has a services row (binary, host = its service name) whose
# updated_at it renews every report interval; a compute process owns the hosts mapped to it in
# host_mappings. A row not renewed within service_down_time is a dead process.
SERVICES_SCHEMA = """
CREATE TABLE IF NOT EXISTS services (id INTEGER PRIMARY KEY, binary TEXT NOT NULL, host TEXT NOT NULL,
  pid INTEGER NOT NULL, node TEXT NOT NULL, started_at REAL NOT NULL, updated_at REAL NOT NULL,
  stopped INTEGER NOT NULL DEFAULT 0, UNIQUE(binary, host));
CREATE TABLE IF NOT EXISTS host_mappings (host TEXT PRIMARY KEY, service_id INTEGER NOT NULL,
  lost_at REAL);
"""


def _ensure_schema(db) -> None:
    # SQLite: made here on first use; PostgreSQL: the migrations make them (the same tables)
    if getattr(db, "engine", "sqlite") == "sqlite":
        db.conn.executescript(SERVICES_SCHEMA)


class HostOwned(Exception):
    """A host (or service name) is held by another live process."""


class ServiceRecord:
    """This process's services row: register() (claiming its compute hosts), report() each
    interval, stop(). db: the backend's database (sqlite-utils), config: Config."""

    def __init__(self, db, config, binary: str, host: str):
        self.db, self.config, self.binary, self.host = db, config, binary, host
        self.id: int | None = None
        _ensure_schema(db)

    def _alive(self, row, now) -> bool:
        return not row["stopped"] and now - row["updated_at"] < self.config.service_down_time

    def register(self, compute_hosts=(), host_configs=()) -> list[str]:
        """The row of this service, the mapping of its hosts and their compute_nodes rows
        (configured), in one transaction. Refused (HostOwned, nothing written) when a live
        process holds this service name or any host. Returns the hosts the conductor took
        over from a lost process (their builds were rescheduled)."""
        now = time.time()
        with dbm.transaction(self.db):
            same = dbm.row(self.db, "SELECT * FROM services WHERE binary=? AND host=?", (self.binary, self.host))
            if same and self._alive(same, now) and same["pid"] != os.getpid():
                raise HostOwned(f"service {self.binary} {self.host!r} is already running (pid {same['pid']} "
                                f"on {same['node']}, reported {now - same['updated_at']:.1f} s ago)")
            for h in compute_hosts:
                owner = dbm.row(self.db, "SELECT s.* FROM host_mappings m JOIN services s ON s.id=m.service_id"
                                         " WHERE m.host=?", (h,))
                if owner and (owner["binary"], owner["host"]) != (self.binary, self.host) \
                        and self._alive(owner, now):
                    raise HostOwned(f"host {h} is owned by compute service {owner['host']!r} (pid "
                                    f"{owner['pid']} on {owner['node']}), which is alive: a host is "
                                    f"served by one compute process")
            self.db.conn.execute(
                "INSERT INTO services (binary, host, pid, node, started_at, updated_at, stopped)"
                " VALUES (?,?,?,?,?,?,0) ON CONFLICT(binary, host) DO UPDATE SET pid=excluded.pid,"
                " node=excluded.node, started_at=excluded.started_at, updated_at=excluded.updated_at,"
                " stopped=0", (self.binary, self.host, os.getpid(), socket.gethostname(), now, now))
            self.id = dbm.row(self.db, "SELECT id FROM services WHERE binary=? AND host=?",
                              (self.binary, self.host))["id"]
            lost = [r["host"] for h in compute_hosts for r in dbm.rows(
                self.db, "SELECT host FROM host_mappings WHERE host=? AND lost_at IS NOT NULL", (h,))]
            self.db.conn.execute("DELETE FROM host_mappings WHERE service_id=?", (self.id,))
            for h in compute_hosts:
                self.db.conn.execute("INSERT INTO host_mappings VALUES (?,?,NULL) ON CONFLICT(host) DO UPDATE"
                                     " SET service_id=excluded.service_id, lost_at=NULL", (h, self.id))
            for h in host_configs:
                values = {"address": h.address, "driver": h.driver, "availability_zone": h.availability_zone}
                if dbm.row(self.db, "SELECT 1 x FROM compute_nodes WHERE host=?", (h.name,)):
                    dbm.update(self.db, "compute_nodes", h.name, dict(values, configured=1, last_heartbeat=None))
                else:
                    self.db["compute_nodes"].insert(dict(values, host=h.name, configured=1))
        return lost

    def report(self) -> None:
        self.db.conn.execute("UPDATE services SET updated_at=? WHERE id=?", (time.time(), self.id))

    async def reporting(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            self.report()

    def stop(self) -> None:
        """A clean stop: the row says so (its hosts are down at once, not after service_down_time)."""
        if self.id is not None:
            self.db.conn.execute("UPDATE services SET stopped=1 WHERE id=?", (self.id,))


def mark_lost(db, host: str) -> None:
    """The conductor took the host's builds over (its next process drops what was queued)."""
    db.conn.execute("UPDATE host_mappings SET lost_at=? WHERE host=?", (time.time(), host))


def dead_compute_hosts(db, config, now: float | None = None) -> dict[str, str]:
    """The hosts whose compute process stopped or stopped reporting, not yet taken over:
    {host: why}."""
    _ensure_schema(db)
    now = time.time() if now is None else now
    out = {}
    for r in dbm.rows(db, "SELECT m.host h, s.* FROM host_mappings m JOIN services s ON s.id=m.service_id"
                                 " WHERE m.lost_at IS NULL"):
        if r["stopped"]:
            out[r["h"]] = f"compute service {r['host']} (pid {r['pid']}) stopped"
        elif now - r["updated_at"] >= config.service_down_time:
            out[r["h"]] = (f"compute service {r['host']} (pid {r['pid']}) has not reported for "
                           f"{now - r['updated_at']:.0f} s")
    return out


def services(db) -> list[dict]:
    _ensure_schema(db)
    return dbm.rows(db, "SELECT * FROM services ORDER BY binary, host")
