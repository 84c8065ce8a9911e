"""PgNode: a cluster of our own that nobody reaches without its password, restartable on its
port, gone without a trace when destroyed."""
from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

from backend.core.pgnode import PgNode


def test_the_cluster_wants_its_password_and_keeps_it_private():
    base = Path(tempfile.mkdtemp(prefix="pocketstack-pg-", dir="/tmp"))
    base.chmod(0o755)
    node = PgNode(base / "cluster").start()
    try:
        assert stat.S_IMODE((base / "cluster").stat().st_mode) == 0o700
        assert stat.S_IMODE((base / "cluster" / "password").stat().st_mode) == 0o600
        with psycopg.connect(node.url) as c:
            assert c.execute("SELECT current_database()").fetchone() == ("pocketstack",)
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
