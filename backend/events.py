"""Pushes every state change to subscribers (the app's live panels), and records the
trace: each queue message and each service step, stored so it can be read back later."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from backend import db as dbm

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

    def publish(self, event: dict) -> None:
        for cb in list(self._subs):
            try:
                cb(event)
            except Exception:  # a broken subscriber must never break a build
                log.exception("event subscriber failed")


class Tracer:
    def __init__(self, db, hub: EventHub):
        self.db = db
        self.hub = hub

    def record(self, *, service: str, kind: str, request_id: str | None = None,
               instance_uuid: str | None = None, topic: str | None = None,
               method: str | None = None, step: str | None = None, phase: str | None = None,
               duration_ms: float | None = None, detail: str | None = None) -> dict:
        t = {"ts": time.time(), "request_id": request_id, "instance_uuid": instance_uuid,
             "service": service, "kind": kind, "topic": topic, "method": method, "step": step,
             "phase": phase, "duration_ms": duration_ms, "detail": detail}
        if instance_uuid:  # only instance-related traces are kept; the rest only pushed
            cur = self.db.conn.execute(
                "INSERT INTO trace (ts, request_id, instance_uuid, service, kind, topic, method, step,"
                " phase, duration_ms, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (t["ts"], request_id, instance_uuid, service, kind, topic, method, step, phase,
                 duration_ms, detail))
            t["id"] = cur.lastrowid
        self.hub.publish({"type": "trace", "trace": t})
        return t

    def for_instance(self, uuid: str) -> list[dict]:
        return dbm.rows(self.db, "SELECT * FROM trace WHERE instance_uuid=? ORDER BY id", (uuid,))
