"""The WAL checkpoints of a long-running process happen on a thread of their own: the commits
on the event loop no longer copy the WAL into the database file, and the WAL stays small."""
from __future__ import annotations

import os
import threading
import time

from backend.core import db as dbm

PAGE = b"x" * 4000  # about one page per row


def _checkpointers() -> set:
    """This process's checkpoint threads (another test's cloud may still hold one: compared, not counted)."""
    return {t for t in threading.enumerate() if t.name == "wal-checkpoint"}


def _wal_size(path) -> int:
    return os.path.getsize(str(path) + "-wal")


def _write(db, n):
    """n one-page commits in bursts of 100, with a pause after each (as a service's come)."""
    db.conn.execute("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, b BLOB)")
    for i in range(n):
        with dbm.transaction(db):
            db.conn.execute("INSERT INTO blobs (b) VALUES (?)", (PAGE,))
        if i % 100 == 99:
            time.sleep(0.05)


def test_without_the_thread_the_backstop_lets_the_wal_grow(tmp_path):
    # the control: with the service connection's automatic checkpoint set as high as the
    # checkpointer sets it and no thread, 2,000 one-page commits grow the WAL past 12 MB
    db = dbm.open_db(tmp_path / "x.db")
    db.conn.execute("PRAGMA wal_autocheckpoint=4000")
    _write(db, 2000)
    assert _wal_size(tmp_path / "x.db") > 12_000_000


def test_the_thread_checkpoints_and_the_wal_is_reused(tmp_path):
    db = dbm.open_db(tmp_path / "x.db")
    before = _checkpointers()
    ck = dbm.WalCheckpointer(db, interval=0.01).start()
    try:
        assert len(_checkpointers() - before) == 1
        assert db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4000
        version = db.conn.execute("PRAGMA data_version").fetchone()[0]
        _write(db, 2000)
        # checkpointed by the thread, the WAL starts over after each burst: it stays small
        assert _wal_size(tmp_path / "x.db") < 8_000_000
        # a checkpoint changes no row: the view cache's check does not see another writer
        assert db.conn.execute("PRAGMA data_version").fetchone()[0] == version
    finally:
        ck.stop()
    assert _checkpointers() <= before
    assert db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    assert db.conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == 2000


def test_a_runtime_runs_one_and_stops_it(tmp_path):
    import asyncio

    from backend.core.config import Config
    from backend.facade import Cloud

    (tmp_path / "hosts.yaml").write_text(
        "hosts:\n  - {name: h1, address: 127.0.0.1, driver: fake, vcpus: 4, memory_mb: 4096, disk_gb: 40}\n")
    cfg = Config(home=tmp_path / "home", hosts_path=tmp_path / "hosts.yaml", password_hash_rounds=4)
    Cloud.init(cfg, "pw")

    async def run():
        before = _checkpointers()
        cloud = Cloud(cfg)
        await cloud.start()
        try:
            assert len(_checkpointers() - before) == 1
        finally:
            await cloud.stop()
        assert _checkpointers() <= before
    asyncio.run(run())
