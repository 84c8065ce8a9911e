"""PostgreSQL under the data-access layer: a connection with sqlite3's shape (execute,
executemany, in_transaction, create_function, close) over psycopg 3, and the one place where
the services' SQLite dialect becomes PostgreSQL's.

- `?` placeholders -> `%s` (and a literal `%` -> `%%`); `INSERT OR IGNORE` -> `ON CONFLICT DO
  NOTHING`; LIKE -> ILIKE (SQLite's LIKE ignores ASCII case); scalar max(a, b)/min(a, b) ->
  GREATEST/LEAST; an INSERT into a table with an identity id gets `RETURNING id`, which gives
  the cursor sqlite3's lastrowid; `PRAGMA quick_check` -> the server's own answer.
- Transactions keep SQLite's BEGIN IMMEDIATE semantics, one writer at a time (a transaction-
  scoped advisory lock): every read-check-write in the services (quota, capacity, names) was
  written against them.
- A connection that the server dropped (a restart) is made again on the next statement outside
  a transaction (tenacity, bounded); inside one the statement fails and the transaction rolls
  back, so nothing is half-written.
- create_function(name, 1, fn) listens on channel `name`: the migrations' PL/pgSQL triggers
  NOTIFY it (the server-view cache)."""
from __future__ import annotations

import functools
import re
import sqlite3

import psycopg
from psycopg.adapt import Loader
from psycopg.rows import dict_row
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

# the tables whose id is an identity column (INTEGER PRIMARY KEY in SQLite)
IDENTITY_TABLES = frozenset({"instance_actions", "instance_action_events", "instance_faults",
                             "scheduler_decisions", "key_pairs", "trace"})
WRITE_LOCK = 0x70636B74  # the advisory lock every write transaction takes ("pckt")
RECONNECT_FOR = 60.0  # seconds a statement waits for the server to come back

_TOKENS = re.compile(r"('(?:[^']|'')*'|\"[^\"]*\")")
_INSERT = re.compile(r"^\s*INSERT\s+(OR\s+(IGNORE|REPLACE)\s+)?INTO\s+(\w+)\s*(\(([^)]*)\))?", re.I)
_MINMAX = re.compile(r"\b(max|min)\s*\(", re.I)
_NUMBERED = re.compile(r"\?(\d+)")  # SQLite's ?NNN: the NNNth parameter, as often as it appears


class _NumericLoader(Loader):
    """sum() of BIGINT is NUMERIC: back to int (or float), as SQLite gives them."""

    def load(self, data):
        s = bytes(data).decode()
        return float(s) if "." in s or "e" in s.lower() else int(s)


def _scalar_minmax(sql: str) -> str:
    """max(a, b) with two or more arguments is SQLite's scalar max: GREATEST in PostgreSQL."""
    out, pos = [], 0
    for m in _MINMAX.finditer(sql):
        depth, i, commas = 1, m.end(), 0
        while i < len(sql) and depth:
            c = sql[i]
            depth += (c == "(") - (c == ")")
            commas += c == "," and depth == 1
            i += 1
        if commas:
            out.append(sql[pos:m.start()] + ("GREATEST(" if m.group(1).lower() == "max" else "LEAST("))
            pos = m.end()
    return "".join(out) + sql[pos:]


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, bool]:
    """(PostgreSQL statement, whether it returns the new row's id). Numbered parameters
    (?1, ?2) become named ones (%(p1)s): params() turns the sequence into their dict."""
    if sql.lstrip().upper().startswith("PRAGMA"):
        if sql.strip().lower() in ("pragma quick_check", "pragma integrity_check"):
            return "SELECT 'ok' AS quick_check", False
        if sql.strip().lower() == "pragma data_version":
            # what others committed reaches this process as NOTIFYs, which this very round
            # trip delivers (the view cache's check); the number itself stays put
            return "SELECT 0 AS data_version", False
        raise sqlite3.NotSupportedError(f"{sql.strip()!r} is SQLite's own: not on PostgreSQL")
    parts = _TOKENS.split(sql)
    for i, p in enumerate(parts):
        if i % 2:  # a literal or a quoted name: only % is special to psycopg
            parts[i] = p.replace("%", "%%")
        else:
            p = _NUMBERED.sub(r"%(p\1)s", p.replace("%", "%%")).replace("?", "%s")
            p = re.sub(r"\bLIKE\b", "ILIKE", p, flags=re.I)
            parts[i] = _scalar_minmax(p) if _MINMAX.search(p) else p
    q = "".join(parts)
    returning = False
    m = _INSERT.match(q)
    if m:
        verb, table, cols = (m.group(2) or "").upper(), m.group(3), m.group(5)
        if verb == "REPLACE":
            raise sqlite3.NotSupportedError("INSERT OR REPLACE is SQLite's own: write the upsert with "
                                            "ON CONFLICT (key) DO UPDATE, which both engines take")
        if verb == "IGNORE":
            q = re.sub(r"^\s*INSERT\s+OR\s+IGNORE", "INSERT", q, count=1, flags=re.I) + " ON CONFLICT DO NOTHING"
        if (table in IDENTITY_TABLES and cols is not None and "id" not in [c.strip() for c in cols.split(",")]
                and "RETURNING" not in q.upper()):
            q += " RETURNING id"
            returning = True
    return q, returning


def _params(q: str, params):
    if "%(p" in q:
        return {f"p{i}": v for i, v in enumerate(params, 1)}
    return tuple(params)


class _Inserted:
    """The cursor of an INSERT ... RETURNING id, with sqlite3's lastrowid."""

    def __init__(self, cur):
        self._cur = cur
        r = cur.fetchone()
        self.lastrowid = r[0] if r else None
        self.rowcount = cur.rowcount
        self.description = None

    def fetchone(self):
        return None

    def fetchall(self):
        return []


def _dropped(e: BaseException) -> bool:
    return isinstance(e, psycopg.OperationalError) and getattr(e, "_ps_conn_broken", False)


def connection_dropped(e: BaseException) -> bool:
    """The statement failed because the connection to the server was lost (a restart)."""
    return _dropped(e)


class PgConnection:
    """One connection (the services run on one event loop thread, as with SQLite)."""

    def __init__(self, url: str):
        self.url = url
        self._conn: psycopg.Connection | None = None
        self._tx = False
        self._listen: dict[str, object] = {}
        self._connect()

    # ---- the connection ----------------------------------------------------------------
    def _connect(self):
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        conn.adapters.register_loader("numeric", _NumericLoader)
        conn.add_notify_handler(self._notified)
        for channel in self._listen:
            conn.execute(f'LISTEN "{channel}"')
        self._conn = conn
        for fn in self._listen.values():
            fn("*")  # notifications were missed while the connection was down: all is dirty

    def _notified(self, n):
        fn = self._listen.get(n.channel)
        if fn is not None:
            fn(n.payload)

    def _broken(self) -> bool:
        return self._conn is None or self._conn.closed or self._conn.broken

    def _reconnect(self):
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:
            pass
        self._conn = None
        try:
            self._connect()
        except psycopg.OperationalError as e:
            e._ps_conn_broken = True
            raise

    def _retrying(self):
        return Retrying(retry=retry_if_exception(_dropped), stop=stop_after_delay(RECONNECT_FOR),
                        wait=wait_exponential(multiplier=0.05, max=1.0), reraise=True)

    def _run(self, q: str, params, many: bool = False, dicts: bool = False):
        try:
            if self._conn is None:
                self._connect()
            cur = self._conn.cursor(row_factory=dict_row) if dicts else self._conn.cursor()
            if many:
                cur.executemany(q, params)
            else:
                cur.execute(q, params)
            return cur
        except psycopg.IntegrityError as e:
            raise sqlite3.IntegrityError(str(e).strip()) from e
        except psycopg.OperationalError as e:
            e._ps_conn_broken = self._broken()
            raise

    def _call(self, q: str, params, many: bool = False, dicts: bool = False):
        try:
            return self._run(q, params, many, dicts)
        except psycopg.OperationalError as e:
            if self._tx or not _dropped(e):  # in a transaction: it is gone (rolled back), fail
                raise
        for attempt in self._retrying():  # the server went away: connect again, bounded
            with attempt:
                if self._broken():
                    self._reconnect()
                return self._run(q, params, many, dicts)

    # ---- sqlite3's shape ---------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._tx

    def execute(self, sql: str, params=()):
        q, returning = translate(sql)
        cur = self._call(q, _params(q, params))
        return _Inserted(cur) if returning else cur

    def dicts(self, sql: str, params=()):
        """The rows as dicts (db.row/db.rows): psycopg names the columns once per result."""
        q = translate(sql)[0]
        return self._call(q, _params(q, params), dicts=True)

    def executemany(self, sql: str, seq):
        q, _ = translate(sql)
        return self._call(q, [_params(q, p) for p in seq], many=True)

    def begin(self):
        self._call(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})", None)
        self._tx = True

    def commit(self):
        self._tx = False
        self._run("COMMIT", None)

    def rollback(self):
        self._tx = False
        if not self._broken():
            self._run("ROLLBACK", None)

    def create_function(self, name: str, nargs: int, fn, **_kw):
        self._listen[name] = fn
        self._call(f'LISTEN "{name}"', None)

    def close(self):
        if self._conn is not None:
            self._conn.close()
