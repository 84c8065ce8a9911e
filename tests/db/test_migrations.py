"""Versioned migrations: the same tables and columns on both engines, the newest revision named
in backend.core.db, and a file made before migrations adopted in place with every row kept."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
from alembic.config import Config
from alembic.script import ScriptDirectory

from backend.core import db as dbm
from dbhelp import drop_database, fresh_database

OLD_DUMP = Path(__file__).with_name("made_before_migrations.sql")


def test_head_names_the_newest_revision():
    cfg = Config()
    cfg.set_main_option("script_location", str(dbm.MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == dbm.HEAD


def sqlite_columns(conn) -> dict[str, list[str]]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}


def pg_columns(url) -> dict[str, list[str]]:
    with psycopg.connect(url) as c:
        out: dict[str, list[str]] = {}
        for t, col in c.execute("SELECT table_name, column_name FROM information_schema.columns"
                                " WHERE table_schema='public' ORDER BY table_name, ordinal_position"):
            out.setdefault(t, []).append(col)
        return out


def test_both_engines_get_the_same_tables_and_columns(tmp_path, pg_cluster):
    lite = dbm.open_db(tmp_path / "x.db")
    url = fresh_database(pg_cluster)
    try:
        pg = dbm.open_db(url)
        assert dbm.current_revision(lite) == dbm.current_revision(pg) == dbm.HEAD
        want = sqlite_columns(lite.conn)
        assert len(want) > 30 and "instances" in want and "alembic_version" in want
        assert pg_columns(url) == want  # same names, same order (INSERT ... VALUES relies on it)
        pg.close()
    finally:
        drop_database(pg_cluster, url)


def test_a_file_from_before_migrations_is_stamped_and_upgraded_keeping_every_row(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(OLD_DUMP.read_text())
    counts = {t: old.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for (t,) in old.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()}
    old.close()
    assert "alembic_version" not in counts and counts["instances"] == 1 and counts["ports"] == 1
    db = dbm.open_db(path)
    assert dbm.current_revision(db) == dbm.HEAD
    for t, n in counts.items():
        assert dbm.row(db, f"SELECT count(*) n FROM {t}")["n"] == n, t
    fresh = sqlite_columns(dbm.open_db(tmp_path / "new.db").conn)
    have = sqlite_columns(db.conn)
    assert {t: set(c) for t, c in have.items()} == {t: set(c) for t, c in fresh.items()}
    vm = dbm.row(db, "SELECT * FROM instances")
    assert vm["vm_state"] == "active" and vm["launch_index"] == 0
    # the usage triggers still follow the claims
    host = vm["host"]
    used = dbm.row(db, "SELECT vcpus_used FROM compute_nodes WHERE host=?", (host,))["vcpus_used"]
    db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (vm["uuid"],))
    assert dbm.row(db, "SELECT vcpus_used FROM compute_nodes WHERE host=?", (host,))["vcpus_used"] == used - 1
    db.close()
    again = dbm.open_db(path)  # a second open changes nothing
    assert dbm.row(again, "SELECT count(*) n FROM instances")["n"] == 1


def test_a_bad_connection_url_is_refused_by_name(tmp_path):
    import pytest
    with pytest.raises(dbm.DatabaseError, match="only sqlite:/// and postgresql://"):
        dbm.open_db("mysql://x@127.0.0.1/db")
    with pytest.raises(dbm.DatabaseError, match="names a file"):
        dbm.open_db("sqlite:///")
    with pytest.raises(dbm.DatabaseError, match=r"cannot reach the database postgresql://u:\*\*\*@127\.0\.0\.1:1/x"):
        dbm.open_db("postgresql://u:secret@127.0.0.1:1/x")


def test_postgresql_drops_the_same_cached_views_as_sqlite():
    """The server-view cache's triggers: PL/pgSQL ones in the migrations for PostgreSQL, temporary
    ones made by InstanceStore for SQLite; a row that one engine watches the other watches too."""
    import importlib
    from backend.core.instances import InstanceStore
    base = importlib.import_module("backend.core.migrations.versions.0001_baseline")
    sqlite_side = {(t, op, tuple(k.strip("'") for k in keys)) for t, op, keys, _part in InstanceStore._TRIGGERS}
    assert {(t, op, tuple(keys)) for t, op, keys in base.VIEW_TRIGGERS} == sqlite_side
