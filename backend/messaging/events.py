"""Pushes every state change to subscribers (the app's live panels), and records the
trace: each queue message and each service step, stored so it can be read back later."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from backend.core import db as dbm

log = logging.getLogger(__name__)


class EventHub:
    def __init__(self):
        self._subs: list[Callable[[dict], None]] = []

    def subscribe(self, cb: Callable[[dict], None]) -> Callable[[], None]:
        self._subs.append(cb)

        def unsubscribe():
            if cb in self._subs:
                self._subs.remove(cb)
        return unsubscribe

    @property
    def active(self) -> bool:
        return bool(self._subs)

    def publish(self, event: dict) -> None:
        for cb in list(self._subs):
            try:
                cb(event)
            except Exception:  # a broken subscriber must never break a build
                log.exception("event subscriber failed")


class Tracer:
    """Trace rows are buffered and written in batches (one executemany per flush): a
    create sends ~60 messages, one INSERT each would dominate the control plane's cost.
    A crash loses at most the last flush interval of trace, never state."""

    FLUSH_AT = 500

    def __init__(self, db, hub: EventHub):
        self.db = db
        self.hub = hub
        self._buf: list[tuple] = []
        self._next_id = (db.conn.execute("SELECT coalesce(max(id), 0) FROM trace").fetchone()[0]) + 1

    def record(self, *, service: str, kind: str, request_id: str | None = None,
               instance_uuid: str | None = None, topic: str | None = None,
               method: str | None = None, step: str | None = None, phase: str | None = None,
               duration_ms: float | None = None, detail: str | None = None) -> dict:
        t = {"id": None, "ts": time.time(), "request_id": request_id, "instance_uuid": instance_uuid,
             "service": service, "kind": kind, "topic": topic, "method": method, "step": step,
             "phase": phase, "duration_ms": duration_ms, "detail": detail}
        if instance_uuid:  # only instance-related traces are kept; the rest only pushed
            t["id"] = self._next_id
            self._next_id += 1
            self._buf.append((t["id"], t["ts"], request_id, instance_uuid, service, kind, topic, method, step,
                              phase, duration_ms, detail))
            if len(self._buf) >= self.FLUSH_AT:
                self.flush()
        if self.hub.active:
            self.hub.publish({"type": "trace", "trace": t})
        return t

    def flush(self) -> None:
        if not self._buf:
            return
        buf, self._buf = self._buf, []
        with dbm.transaction(self.db):  # one commit for the batch, not one per row
            self.db.conn.executemany(
                "INSERT INTO trace (id, ts, request_id, instance_uuid, service, kind, topic, method, step,"
                " phase, duration_ms, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", buf)

    def for_instance(self, uuid: str) -> list[dict]:
        self.flush()
        return dbm.rows(self.db, "SELECT * FROM trace WHERE instance_uuid=? ORDER BY id", (uuid,))
