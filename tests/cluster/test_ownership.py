"""Host ownership (backend/core/servicegroup.py): one live compute process per host; a process
that stopped reporting loses its hosts; nothing is written when a claim is refused. On SQLite
and on PostgreSQL."""
from __future__ import annotations

import time

import pytest

from backend.core import db as dbm
from backend.core import servicegroup as sg
from backend.core.config import Config
from backend.core.hosts import parse_hosts
from dbhelp import drop_database, fresh_database, pg_cluster  # noqa: F401 (the session's cluster)

HOSTS = parse_hosts("hosts:\n  - {name: h1, address: 127.0.0.1, driver: fake}\n"
                    "  - {name: h2, address: 127.0.0.1, driver: fake}\n", "test")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """The same tables and rules on both engines (PostgreSQL: a fresh database on the tests'
    own cluster)."""
    if request.param == "sqlite":
        d = dbm.open_db(tmp_path / "p.db")
        yield d
        d.conn.close()
        return
    node = request.getfixturevalue("pg_cluster")
    url = fresh_database(node)
    d = dbm.open_db(url)
    yield d
    d.conn.close()
    drop_database(node, url)




def test_a_host_of_a_live_process_is_refused_and_nothing_is_written(db, monkeypatch):
    config = Config(service_down_time=5)
    a = sg.ServiceRecord(db, config, "compute", "compute-1")
    assert a.register(["h1", "h2"], HOSTS) == []
    before = dbm.rows(db, "SELECT * FROM services"), dbm.rows(db, "SELECT * FROM host_mappings")
    b = sg.ServiceRecord(db, config, "compute", "compute-2")
    with pytest.raises(sg.HostOwned, match=r"host h2 is owned by compute service 'compute-1' \(pid \d+"):
        b.register(["h2"], HOSTS[1:])
    assert (dbm.rows(db, "SELECT * FROM services"), dbm.rows(db, "SELECT * FROM host_mappings")) == before
    assert sg.dead_compute_hosts(db, config) == {}


def test_a_process_that_stops_reporting_loses_its_hosts(db):
    config = Config(service_down_time=5)
    a = sg.ServiceRecord(db, config, "compute", "compute-1")
    a.register(["h1", "h2"], HOSTS)
    later = time.time() + 6
    dead = sg.dead_compute_hosts(db, config, now=later)
    assert set(dead) == {"h1", "h2"} and "compute service compute-1" in dead["h1"]
    assert "has not reported for 6 s" in dead["h1"]
    sg.mark_lost(db, "h1")  # taken over by the conductor: not reported again
    assert set(sg.dead_compute_hosts(db, config, now=later)) == {"h2"}
    # a clean stop is seen at once
    a.report()
    a.stop()
    assert "stopped" in sg.dead_compute_hosts(db, config)["h2"]
    # another process may take the hosts now; the one taken over is handed back as lost
    db.conn.execute("UPDATE services SET pid=-1")  # not this test's own pid: another process
    b = sg.ServiceRecord(db, config, "compute", "compute-2")
    assert b.register(["h1"], HOSTS[:1]) == ["h1"]
    assert dbm.row(db, "SELECT service_host FROM host_mappings WHERE host='h1'")["service_host"] == "compute-2"


def test_two_processes_under_one_service_name_are_refused(db):
    config = Config(service_down_time=5)
    sg.ServiceRecord(db, config, "compute", "compute-1").register([], [])
    # as if another live process of this machine registered it (pid 1 is always there)
    db.conn.execute("UPDATE services SET pid=1")
    with pytest.raises(sg.HostOwned, match="service compute 'compute-1' is already running"):
        sg.ServiceRecord(db, config, "compute", "compute-1").register([], [])


def test_the_bus_knows_the_hosts_other_processes_serve(db):
    from backend.messaging.amqp import AMQPBus
    config = Config(service_down_time=5)
    sg.ServiceRecord(db, config, "compute", "compute-1").register(["h1"], HOSTS[:1])
    bus = AMQPBus("rabbit://guest:guest@127.0.0.1:1/")  # not connected: has_topic asks no broker
    assert not bus.has_topic("compute.h1")  # served nowhere this bus knows of
    bus.directory = lambda topic: sg.serves_topic(db, topic)
    assert bus.has_topic("compute.h1") and not bus.has_topic("compute.h2")
    assert not bus.has_topic("conductor")


def test_the_tables_come_from_a_migration_on_both_engines(db):
    """services and host_mappings are there once the database is open (revision 0008), before
    any process registers."""
    assert dbm.current_revision(db) == dbm.HEAD
    assert dbm.row(db, "SELECT count(*) n FROM services")["n"] == 0
    assert dbm.row(db, "SELECT count(*) n FROM host_mappings")["n"] == 0
    assert sg.dead_compute_hosts(db, Config()) == {} and sg.services(db) == []


def test_hundreds_of_hosts_are_claimed_in_parts_with_the_same_rules(db):
    """A process of 600 hosts (more than one IN list of 500): all mapped and configured; a
    second process asking for them is refused naming the first live owner, and nothing is
    written; once the first stopped and the conductor took some over, they are handed back."""
    config = Config(service_down_time=5)
    many = parse_hosts("hosts:\n" + "".join(f"  - {{name: m{i:03d}, address: 127.0.0.1, driver: fake}}\n"
                                            for i in range(600)), "test")
    names = [h.name for h in many]
    a = sg.ServiceRecord(db, config, "compute", "compute-1")
    assert a.register(names, many) == []
    assert dbm.row(db, "SELECT count(*) n FROM host_mappings WHERE service_host='compute-1'")["n"] == 600
    assert dbm.row(db, "SELECT count(*) n FROM compute_nodes WHERE configured=1 AND host LIKE 'm%'")["n"] == 600
    before = dbm.rows(db, "SELECT * FROM services"), dbm.rows(db, "SELECT * FROM host_mappings")
    b = sg.ServiceRecord(db, config, "compute", "compute-2")
    with pytest.raises(sg.HostOwned, match=r"host m550 is owned by compute service 'compute-1'"):
        b.register(["x1", "m550", "m551"], [])
    assert (dbm.rows(db, "SELECT * FROM services"), dbm.rows(db, "SELECT * FROM host_mappings")) == before
    a.stop()
    sg.mark_lost(db, "m001")
    sg.mark_lost(db, "m599")
    db.conn.execute("UPDATE compute_nodes SET last_heartbeat=1.0 WHERE host='m599'")
    assert sorted(b.register(names[::-1], many[:2] + many[-1:])) == ["m001", "m599"]
    assert dbm.row(db, "SELECT count(*) n FROM host_mappings WHERE service_host='compute-2' AND"
                       " lost_at IS NULL")["n"] == 600
    assert dbm.row(db, "SELECT last_heartbeat FROM compute_nodes WHERE host='m599'")["last_heartbeat"] is None
