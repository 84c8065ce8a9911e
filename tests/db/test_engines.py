"""The data-access layer on both engines: the services' SQLite dialect, transactions that
commit together or not at all, one writer at a time (no quota overshoot with 8 racing
connections), and PostgreSQL's reconnection after a restart."""
from __future__ import annotations

import threading
import uuid

import pytest

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import OverQuota
from backend.core.pgsql import translate


@pytest.fixture
def url(tmp_path, database_connection):
    return database_connection or f"sqlite:///{tmp_path / 'e.db'}"


@pytest.fixture
def db(url):
    d = dbm.open_db(url)
    yield d
    d.close()


def test_transaction_rolls_back_everything(db):
    with pytest.raises(RuntimeError):
        with dbm.transaction(db):
            db.conn.execute("INSERT INTO roles (id, name) VALUES ('r1', 'x')")
            db["roles"].insert({"id": "r2", "name": "y"})
            raise RuntimeError("boom")
    assert dbm.row(db, "SELECT count(*) n FROM roles")["n"] == 0
    with dbm.transaction(db):
        db["roles"].insert({"id": "r3", "name": "z"})
    assert dbm.rows(db, "SELECT id, name FROM roles") == [{"id": "r3", "name": "z"}]


def test_the_sqlite_dialect_runs_on_both(db):
    db["roles"].insert({"id": "r1", "name": "admin"})
    db["users"].insert({"id": "u1", "name": "a", "domain_id": "default", "password_hash": "x", "created_at": "t"})
    db["projects"].insert({"id": "p1", "name": "p", "domain_id": "default", "created_at": "t"})
    for _ in range(2):  # the second is ignored, not an error
        db.conn.execute("INSERT OR IGNORE INTO assignments VALUES (?,?,?)", ("u1", "p1", "r1"))
    assert dbm.row(db, "SELECT count(*) n FROM assignments")["n"] == 1
    with pytest.raises(dbm.IntegrityError, match="name"):
        db["roles"].insert({"id": "r2", "name": "admin"})
    cur = db.conn.execute("INSERT INTO instance_faults (instance_uuid, code, message, created_at) VALUES (?,?,?,?)",
                          ("i1", 500, "50% done", "t"))
    first = cur.lastrowid
    second = db.conn.execute("INSERT INTO instance_faults (instance_uuid, code, message, created_at)"
                             " VALUES (?,?,?,?)", ("i1", 500, "x", "t")).lastrowid
    assert isinstance(first, int) and second == first + 1
    assert dbm.row(db, "SELECT message FROM instance_faults WHERE id=? AND message LIKE '50%'", (first,)) == {
        "message": "50% done"}
    assert dbm.row(db, "SELECT max(code, 7) m, min(code, 7) n FROM instance_faults WHERE id=?", (first,)) == {
        "m": 500, "n": 7}
    assert dbm.rows(db, "SELECT id FROM roles WHERE id=?1 OR name=?1 OR id=?2 ORDER BY id", ("r1", "nope")) == [
        {"id": "r1"}]  # numbered parameters, one used twice
    dbm.update(db, "roles", "r1", {"description": "it's ?"})
    assert dbm.row(db, "SELECT description FROM roles WHERE name LIKE 'ADM%'")["description"] == "it's ?"


def test_claims_keep_host_usage_on_both(db):
    db["compute_nodes"].insert({"host": "h1", "driver": "fake", "availability_zone": "nova"})
    dbm.put_claim(db, "i1", "h1", 2, 256, 1)
    dbm.put_claim(db, "i2", "h1", 1, 128, 1)
    dbm.put_claim(db, "i1", "h1", 4, 256, 1)  # replaced: both triggers fire
    assert dbm.row(db, "SELECT vcpus_used, memory_mb_used, running_vms FROM compute_nodes") == {
        "vcpus_used": 5, "memory_mb_used": 384, "running_vms": 2}
    assert dbm.row(db, "SELECT sum(vcpus) v FROM claims")["v"] == 5  # an int, not a Decimal
    assert type(dbm.row(db, "SELECT sum(vcpus) v FROM claims")["v"]) is int


def test_eight_writers_never_overshoot_a_quota(url, config):
    """Eight connections (as eight processes would have) race to add networks with a quota of
    3: the count and the insert share one transaction, one writer at a time, so exactly 3 land."""
    dbm.open_db(url).close()
    config.quota_defaults = {"network": 3}
    barrier = threading.Barrier(8)
    outcomes = []

    def worker(i):
        d = dbm.open_db(url)
        barrier.wait()
        try:
            with dbm.transaction(d):
                quota.check(d, config, "p1", {"network": 1}, "network")
                d.conn.execute("INSERT INTO networks (id, name, project_id, created_at) VALUES (?,?,?,?)",
                               (str(uuid.uuid4()), f"n{i}", "p1", dbm.now_iso()))
            outcomes.append("ok")
        except OverQuota:
            outcomes.append("over")
        finally:
            d.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["ok"] * 3 + ["over"] * 5
    d = dbm.open_db(url)
    assert dbm.row(d, "SELECT count(*) n FROM networks WHERE project_id='p1'")["n"] == 3
    d.close()


def test_sqlite_only_statements_are_refused_on_postgresql_by_name():
    with pytest.raises(Exception, match="INSERT OR REPLACE is SQLite's own"):
        translate("INSERT OR REPLACE INTO quotas VALUES (?,?,?,?)")
    with pytest.raises(Exception, match="journal_mode"):
        translate("PRAGMA journal_mode")
    assert translate("SELECT 'a?%' x, ? y")[0] == "SELECT 'a?%%' x, %s y"


def test_a_cached_server_view_follows_a_change_made_by_another_process(url):
    """Two processes of a cluster, each with its own connection and view cache: a change one
    commits shows in the other's next view (SQLite: data_version; PostgreSQL: the triggers'
    NOTIFY, delivered by the cache's check)."""
    from backend.core.instances import InstanceStore

    class Hub:
        active = False

    a, b = dbm.open_db(url), dbm.open_db(url)
    a["instances"].insert({"uuid": "i1", "name": "vm", "hostname": "vm", "project_id": "p", "user_id": "u",
                           "flavor_id": "f", "vcpus": 1, "memory_mb": 128, "root_gb": 1, "flavor_name": "m1.nano",
                           "vm_state": "building", "created_at": "t", "updated_at": "t"})
    store_a, store_b = InstanceStore(a, Hub(), None), InstanceStore(b, Hub(), None)
    assert store_a.views_for(["i1"])[0]["vm_state"] == "building"  # cached in process a
    dbm.update(b, "instances", "i1", {"vm_state": "active"})       # process b commits
    assert store_a.views_for(["i1"])[0]["vm_state"] == "active"
    assert store_b.views_for(["i1"])[0]["vm_state"] == "active"
    a.close()
    b.close()
