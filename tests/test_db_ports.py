"""A database from before ports could lack an address: its ports table is rebuilt with
subnet_id and ip_address nullable, every row kept."""
from __future__ import annotations

import sqlite3

from backend.core import db as dbm

OLD_PORTS = """CREATE TABLE ports (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
  network_id TEXT NOT NULL, subnet_id TEXT NOT NULL, project_id TEXT NOT NULL,
  mac_address TEXT NOT NULL UNIQUE, ip_address TEXT NOT NULL, device_id TEXT NOT NULL DEFAULT '',
  device_owner TEXT NOT NULL DEFAULT '', binding_host TEXT, created_for TEXT,
  status TEXT NOT NULL DEFAULT 'DOWN', created_at TEXT NOT NULL, UNIQUE(subnet_id, ip_address))"""


def test_old_ports_table_is_relaxed_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    c = sqlite3.connect(path)
    c.execute(OLD_PORTS)
    c.execute("INSERT INTO ports (id, network_id, subnet_id, project_id, mac_address, ip_address,"
              " device_id, created_at) VALUES ('p1', 'n1', 's1', 'pr', 'fa:16:3e:00:00:01', '10.0.0.5',"
              " 'i1', 't')")
    c.commit()
    c.close()
    db = dbm.open_db(path)
    notnull = {r[1]: r[3] for r in db.conn.execute("PRAGMA table_info(ports)")}
    assert notnull["subnet_id"] == 0 and notnull["ip_address"] == 0
    assert dbm.row(db, "SELECT ip_address, device_id FROM ports WHERE id='p1'") == {
        "ip_address": "10.0.0.5", "device_id": "i1"}
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert {r[1] for r in db.conn.execute("PRAGMA index_list(ports)")} >= {"ports_device"}
    db.conn.close()
    again = dbm.open_db(path)  # a second open changes nothing
    assert dbm.row(again, "SELECT count(*) c FROM ports")["c"] == 1
