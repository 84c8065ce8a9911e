"""The data-access layer: every SQL statement of the services goes through here, on SQLite
(the embedded default: one file, WAL mode, one transaction per state change) or PostgreSQL
(the cluster's control plane). The services write SQLite's dialect; backend.core.pgsql turns
it into PostgreSQL's in one place. The schema is versioned (backend/core/migrations, Alembic):
a database is upgraded to the head when it is opened. Services other than compute use it
directly; compute goes through the conductor.

A schema change is a new revision in backend/core/migrations/versions/ (`alembic -c alembic.ini
revision -m ...`); never an edit of a revision that has been released."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sqlite3
import threading
from pathlib import Path
from urllib.parse import urlsplit

MIGRATIONS = Path(__file__).with_name("migrations")


def _head() -> str:
    """The newest revision: the one no other revision names as its down_revision (read from
    the files without importing Alembic, which only an upgrade needs; a test checks it)."""
    revs, downs = set(), set()
    for f in (MIGRATIONS / "versions").glob("*.py"):
        text = f.read_text()
        revs.update(re.findall(r'^revision = "([^"]+)"', text, re.M))
        downs.update(re.findall(r'^down_revision = "([^"]+)"', text, re.M))
    heads = revs - downs
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have one head, not {sorted(heads)}: see {MIGRATIONS}")
    return heads.pop()


HEAD = _head()
IntegrityError = sqlite3.IntegrityError  # raised by both engines (PostgreSQL's is translated)


class DatabaseError(Exception):
    pass


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Table:
    """sqlite-utils' db[table].insert(row) / .update(pk, values), on both engines."""

    def __init__(self, db: "Database", name: str):
        self.db, self.name = db, name

    def insert(self, record: dict) -> "Table":
        cols = ", ".join(record)
        self.db.conn.execute(f"INSERT INTO {self.name} ({cols}) VALUES ({', '.join('?' * len(record))})",
                             tuple(record.values()))
        return self

    def update(self, pk, values: dict) -> "Table":
        update(self.db, self.name, pk, values)
        return self


class Database:
    """engine 'sqlite' or 'postgresql'; conn has sqlite3's shape on both (execute, executemany,
    in_transaction, create_function, close): on SQLite it is the sqlite3 connection itself."""

    def __init__(self, engine: str, conn, url: str):
        self.engine, self.conn, self.url = engine, conn, url

    def __getitem__(self, table: str) -> Table:
        return Table(self, table)

    def close(self) -> None:
        self.conn.close()


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy (Alembic) takes for one of ours."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> Path:
    """sqlite:////abs/path or sqlite:///rel/path -> the file."""
    p = url[len("sqlite:///"):]
    if not url.startswith("sqlite:///") or not p or p == ":memory:":
        raise DatabaseError(f"database connection {url!r}: a SQLite URL names a file (sqlite:////path/to/file.db)")
    return Path(p)


def open_db(target: Path | str, migrate: bool = True) -> Database:
    """A database by file path or URL (sqlite:////path | postgresql://user@host:port/name),
    upgraded to the newest schema revision (unless migrate=False: `pocketstack db sync`)."""
    url = target if isinstance(target, str) else None
    if url is None or url.startswith("sqlite:"):
        path = Path(target) if url is None else sqlite_path(url)
        db = Database("sqlite", _open_sqlite(path), f"sqlite:///{path}")
    elif url.startswith(("postgresql://", "postgres://")):
        from backend.core.pgsql import PgConnection
        import psycopg
        try:
            db = Database("postgresql", PgConnection(url), url)
        except psycopg.OperationalError as e:
            raise DatabaseError(f"cannot reach the database {safe_url(url)}: {str(e).strip()}") from None
    else:
        raise DatabaseError(f"database connection {safe_url(url)!r}: only sqlite:/// and postgresql:// are known")
    if migrate and current_revision(db) != HEAD:
        upgrade(db)
    return db


def safe_url(url: str) -> str:
    """The URL without its password (it goes into errors and logs)."""
    u = urlsplit(url)
    if u.password:
        return url.replace(f":{u.password}@", ":***@", 1)
    return url


def _open_sqlite(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    if new:
        os.chmod(path, 0o600)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL: durable at checkpoints, one fsync-free commit per state change in WAL mode
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    for suffix in ("-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            os.chmod(p, 0o600)
    return conn


class WalCheckpointer:
    """SQLite's WAL checkpoints on a thread of their own, for a long-running process. By
    default the connection that commits past 1,000 WAL pages copies them into the database
    file (and fsyncs it) inside that COMMIT, on the event loop; a burst of builds then spent
    a fifth of its SQL time there. Here a second connection checkpoints every `interval` on
    this thread (sqlite3 lets go of the GIL while it works, so it runs on another core).
    PASSIVE: it never waits for, nor blocks, a writer or a reader; a checkpoint changes no
    row, so `PRAGMA data_version` (the view cache's check) does not move.

    The WAL starts over from its beginning only when a write begins with every frame copied,
    which a thread running behind a steady stream of commits rarely sees: the service
    connection's own checkpoint stays as a backstop past `backstop_pages` (it then has
    little left to copy), so the WAL is bounded in a long burst and reused after it."""

    def __init__(self, db: "Database", interval: float = 0.1, backstop_pages: int = 4000):
        self.db, self.interval = db, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backstop = backstop_pages

    def start(self) -> "WalCheckpointer":
        if self.db.engine != "sqlite":
            return self  # PostgreSQL checkpoints by itself
        path = self.db.url[len("sqlite:///"):]
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=1000")
        self.db.conn.execute(f"PRAGMA wal_autocheckpoint={self._backstop}")
        self._thread = threading.Thread(target=self._run, args=(conn,), name="wal-checkpoint", daemon=True)
        self._thread.start()
        return self

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # all: a statement left open holds a read lock
                except sqlite3.Error:
                    pass  # busy or locked this time: the next round (or the backstop) does it
        finally:
            conn.close()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            with contextlib.suppress(sqlite3.Error):
                self.db.conn.execute("PRAGMA wal_autocheckpoint=1000")


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None: new, or made before migrations)."""
    if db.engine == "sqlite":
        if not db.conn.execute("SELECT 1 FROM sqlite_master WHERE name='alembic_version'").fetchone():
            return None
    elif not row(db, "SELECT 1 x FROM pg_tables WHERE tablename='alembic_version' AND schemaname=current_schema()"):
        return None
    r = db.conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return r[0] if r else None


def upgrade(db: Database, revision: str = "head") -> None:
    """Alembic's upgrade on its own connection to the same database. A file made before
    migrations is adopted by the first revision (stamped and upgraded in place, rows kept).
    On PostgreSQL an advisory lock keeps two processes from upgrading at once."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if db.engine == "sqlite":
        file = db.url[len("sqlite:///"):]
        engine = create_engine("sqlite://", poolclass=NullPool, creator=lambda: sqlite3.connect(
            file, isolation_level=None, check_same_thread=False))
    else:
        engine = create_engine(sqlalchemy_url(db.url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if db.engine == "sqlite":
                conn.exec_driver_sql("PRAGMA busy_timeout=5000")
            else:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": 0x70636B6D})
                conn.commit()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def transaction(db: Database):
    """One transaction: everything inside commits together or not at all. One writer at a
    time on both engines (SQLite's BEGIN IMMEDIATE; on PostgreSQL an advisory lock), so a
    check and the write it guards cannot interleave with another's."""
    conn = db.conn
    if conn.in_transaction:  # nested: the outer transaction owns commit/rollback
        yield db
        return
    if db.engine == "sqlite":
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        return
    conn.begin()
    try:
        yield db
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()


PKS = {"instances": "uuid", "compute_nodes": "host"}  # the rest: id


def update(db: Database, table: str, pk, values: dict) -> None:
    """UPDATE by primary key (one statement, no schema lookups: the per-state-change hot path)."""
    cols = ", ".join(f"{k}=?" for k in values)
    db.conn.execute(f"UPDATE {table} SET {cols} WHERE {PKS.get(table, 'id')}=?", (*values.values(), pk))


def put_claim(db, uuid: str, host: str, vcpus: int, memory_mb: int, disk_gb: int) -> None:
    """Replace the instance's claim (DELETE + INSERT, so both usage triggers fire)."""
    db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (uuid,))
    db.conn.execute("INSERT INTO claims VALUES (?,?,?,?,?)", (uuid, host, vcpus, memory_mb, disk_gb))


def update_returning(db: Database, table: str, pk, values: dict, where: str = "", params=()) -> dict | None:
    """UPDATE by primary key (and the extra condition where, with its params) that answers the
    row as it now is, or None when no row matched: one statement where an UPDATE and a SELECT
    were two (SQLite >= 3.35 and PostgreSQL both take RETURNING)."""
    cols = ", ".join(f"{k}=?" for k in values)
    rs = rows(db, f"UPDATE {table} SET {cols} WHERE {PKS.get(table, 'id')}=?{where} RETURNING *",
              (*values.values(), pk, *params))  # every row read: the statement ends here
    return rs[0] if rs else None


def row(db: Database, sql: str, params=()) -> dict | None:
    if db.engine != "sqlite":
        return db.conn.dicts(sql, params).fetchone()
    cur = db.conn.execute(sql, params)
    r = cur.fetchone()
    if r is None:
        return None
    return dict(zip([c[0] for c in cur.description], r))


def rows(db: Database, sql: str, params=()) -> list[dict]:
    if db.engine != "sqlite":
        return db.conn.dicts(sql, params).fetchall()
    cur = db.conn.execute(sql, params)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def jdump(v) -> str:
    return json.dumps(v, sort_keys=True)


def jload(s, default=None):
    if s is None:
        return default
    if s == "{}":  # most metadata and properties: skip the parser (lists of 1,000 rows)
        return {}
    return json.loads(s)
