"""Pushes every state change to subscribers (the app's live panels), and records the
trace: each queue message and each service step, stored so it can be read back later."""
from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Callable

from backend.core import db as dbm
from backend.core.errors import BadRequest
from backend.core.inputs import shown

log = logging.getLogger(__name__)
_EVENT_ID = re.compile(r"([0-9a-f]{8})-([0-9]{1,18})", re.ASCII)


class Subscription:
    """What EventHub.subscribe_from returns: close() (or calling it) ends it; position is
    the id of the newest event published so far."""

    def __init__(self, hub: EventHub, entry) -> None:
        self._hub, self._entry = hub, entry

    @property
    def position(self) -> str:
        return self._hub.last_id

    def close(self) -> None:
        if self._entry in self._hub._id_subs:
            self._hub._id_subs.remove(self._entry)

    __call__ = close


class EventHub:
    """Every event gets an id, `<epoch>-<n>`: n counts up from 1 and the epoch is new at each
    start, so an id from an earlier run is never taken for one of this one. Once a stream
    has subscribed with ids, the last `keep` events are kept, so a client that reconnects
    with the last id it saw is given what it missed (Server-Sent Events' Last-Event-ID)."""

    def __init__(self, keep: int = 10_000):
        self._subs: list[Callable[[dict], None]] = []
        self._id_subs: list[Callable[[str, dict], None]] = []
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self._kept: deque[dict] = deque(maxlen=keep)
        self._keeping = False

    def subscribe(self, cb: Callable[[dict], None]) -> Callable[[], None]:
        self._subs.append(cb)

        def unsubscribe():
            if cb in self._subs:
                self._subs.remove(cb)
        return unsubscribe

    def subscribe_from(self, cb: Callable[[str, dict], None], last_event_id: str | None) -> Subscription:
        """cb(id, event) for every event from now on. With last_event_id (an id this hub
        gave): first the kept events after it; when some of those are no longer kept, or
        the id is from an earlier run, one {"type": "reset"} instead (reload the lists).
        A malformed id is a BadRequest."""
        missed = self._since(last_event_id) if last_event_id is not None else []
        self._keeping = True  # from the first stream on: whoever drops out may come back
        if missed is None:
            cb(self.last_id, {"type": "reset", "reason": f"the events after {last_event_id} are no longer "
                              "kept: reload the lists"})
        else:
            for n, event in missed:
                cb(f"{self.epoch}-{n}", event)
        self._id_subs.append(cb)
        return Subscription(self, cb)

    def _since(self, last_event_id: str) -> list[tuple[int, dict]] | None:
        m = _EVENT_ID.fullmatch(last_event_id.strip())
        if not m:
            raise BadRequest(f"Last-Event-ID {shown(last_event_id)} is not an event id of this stream "
                             "(EPOCH-N, as sent in its id: lines)")
        epoch, n = m.group(1), int(m.group(2))
        first = self.seq - len(self._kept) + 1  # the id of the oldest event kept
        if epoch != self.epoch or n > self.seq or n + 1 < first:
            return None
        return list(zip(range(n + 1, self.seq + 1), itertools.islice(self._kept, n + 1 - first, None)))

    @property
    def last_id(self) -> str:
        return f"{self.epoch}-{self.seq}"

    @property
    def active(self) -> bool:
        return bool(self._subs or self._id_subs) or self._keeping

    def publish(self, event: dict) -> None:
        self.seq += 1
        if self._keeping:
            self._kept.append(event)
        for cb in list(self._subs):
            try:
                cb(event)
            except Exception:  # a broken subscriber must never break a build
                log.exception("event subscriber failed")
        if self._id_subs:
            event_id = f"{self.epoch}-{self.seq}"
            for id_cb in list(self._id_subs):
                try:
                    id_cb(event_id, event)
                except Exception:
                    log.exception("event subscriber failed")


class Tracer:
    """Trace rows are buffered and written in batches (one executemany per flush): a
    create sends ~60 messages, one INSERT each would dominate the control plane's cost.
    A crash loses at most the last flush interval of trace, never state."""

    FLUSH_AT = 500
    # the last id's time step, one for the whole process: several shared tracers of one process
    # (runtimes of several roles) then never give two rows the same id
    _tick = 0

    def __init__(self, db, hub: EventHub, shared: bool = False):
        self.db = db
        self.hub = hub
        self._buf: list[tuple] = []
        self._next_id = (db.conn.execute("SELECT coalesce(max(id), 0) FROM trace").fetchone()[0]) + 1
        # shared: several processes write the trace (a cluster). Ids are then the time in
        # 16 µs steps (monotonic here) with this process's slot in the low 12 bits, so they
        # never collide and still sort in time order across processes.
        self._slot = os.getpid() & 0xFFF if shared else None

    def record(self, *, service: str, kind: str, request_id: str | None = None,
               instance_uuid: str | None = None, topic: str | None = None,
               method: str | None = None, step: str | None = None, phase: str | None = None,
               duration_ms: float | None = None, detail: str | None = None) -> dict:
        t = {"id": None, "ts": time.time(), "request_id": request_id, "instance_uuid": instance_uuid,
             "service": service, "kind": kind, "topic": topic, "method": method, "step": step,
             "phase": phase, "duration_ms": duration_ms, "detail": detail}
        if instance_uuid:  # only instance-related traces are kept; the rest only pushed
            if self._slot is None:
                t["id"] = self._next_id
                self._next_id += 1
            else:
                Tracer._tick = max(Tracer._tick + 1, int(t["ts"] * 1e6) >> 4)
                t["id"] = (Tracer._tick << 12) | self._slot
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
