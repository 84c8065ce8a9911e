"""PgNode: a cluster of our own that nobody reaches without its password, restartable on its
port, gone without a trace when destroyed."""
from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

from backend.core import db as dbm
from backend.core.pgnode import PgNode


def test_the_cluster_wants_its_password_and_keeps_it_private():
    base = Path(tempfile.mkdtemp(prefix="pocketstack-pg-", dir="/tmp"))
    base.chmod(0o755)
    node = PgNode(base / "cluster").start()
    try:
        assert stat.S_IMODE((base / "cluster").stat().st_mode) == 0o700
        assert stat.S_IMODE((base / "cluster" / "password").stat().st_mode) == 0o600
        for url in (node.url, node.local_url):
            with psycopg.connect(url) as c:
                assert c.execute("SELECT current_database()").fetchone() == ("pocketstack",)
        db = dbm.open_db(node.local_url)  # migrated over the socket too
        assert dbm.current_revision(db) == dbm.HEAD
        db.close()
        no_password = node.url.replace(f":{node.password}@", "@")
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(no_password, connect_timeout=5)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(node.url.replace(node.password, "wrong"), connect_timeout=5)
        port = node.port
        node.restart()
        assert node.port == port
        with psycopg.connect(node.url) as c:  # same port, same password
            assert c.execute("SELECT 1").fetchone() == (1,)
    finally:
        node.destroy()
    assert not (base / "cluster").exists()
    base.rmdir()
