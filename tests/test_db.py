"""The database file: permissions, WAL, and a database from an earlier version upgraded."""
from __future__ import annotations

import sqlite3
import stat

from backend.core import db as dbm


def test_new_database_is_private_and_wal(tmp_path):
    db = dbm.open_db(tmp_path / "x.db")
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert stat.S_IMODE((tmp_path / "x.db").stat().st_mode) == 0o600


def test_columns_added_since_an_earlier_version_appear(tmp_path):
    path = tmp_path / "old.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE compute_nodes (host TEXT PRIMARY KEY, driver TEXT NOT NULL,"
              " availability_zone TEXT NOT NULL)")
    c.execute("INSERT INTO compute_nodes VALUES ('h1', 'fake', 'nova')")
    c.commit()
    c.close()
    db = dbm.open_db(path)
    r = dbm.row(db, "SELECT * FROM compute_nodes WHERE host='h1'")
    assert (r["vcpus_used"], r["running_vms"], r["configured"], r["down_reason"]) == (0, 0, 1, None)
    db.conn.execute("INSERT INTO claims VALUES ('i1', 'h1', 2, 256, 1)")  # the usage triggers work too
    assert dbm.row(db, "SELECT vcpus_used, running_vms FROM compute_nodes")["vcpus_used"] == 2


def test_transaction_rolls_back_everything(tmp_path):
    db = dbm.open_db(tmp_path / "t.db")
    try:
        with dbm.transaction(db):
            db.conn.execute("INSERT INTO roles (id, name) VALUES ('r1', 'x')")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert dbm.row(db, "SELECT count(*) n FROM roles")["n"] == 0
