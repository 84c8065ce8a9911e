"""PostgreSQL restarted under a running cloud: the next operation connects again and no state
change is lost; a transaction the restart cut off rolls back whole."""
from __future__ import annotations

import asyncio

import tempfile
from pathlib import Path

import psycopg
import pytest

from backend.core import db as dbm
from backend.core.pgnode import PgNode
from backend.facade import Cloud
from cloudhelp import make_config, wait_for
from dbhelp import on_database


@pytest.fixture
def node():
    base = Path(tempfile.mkdtemp(prefix="pocketstack-pg-", dir="/tmp"))
    base.chmod(0o755)
    n = PgNode(base / "cluster").start()
    yield n
    n.destroy()
    base.rmdir()


def test_a_statement_after_a_restart_reconnects_and_a_cut_transaction_rolls_back(node):
    db = dbm.open_db(node.url)
    db["roles"].insert({"id": "r1", "name": "before"})
    node.restart()
    assert dbm.rows(db, "SELECT name FROM roles") == [{"name": "before"}]  # reconnected
    with pytest.raises(psycopg.OperationalError):
        with dbm.transaction(db):
            db["roles"].insert({"id": "r2", "name": "cut"})
            node.restart()
            db["roles"].insert({"id": "r3", "name": "after"})
    assert dbm.rows(db, "SELECT name FROM roles ORDER BY name") == [{"name": "before"}]
    with dbm.transaction(db):  # the next transaction runs on a new connection
        db["roles"].insert({"id": "r4", "name": "next"})
    assert dbm.row(db, "SELECT count(*) n FROM roles")["n"] == 2
    db.close()


async def test_a_cloud_keeps_working_across_a_postgresql_restart(tmp_path, node):
    cfg = on_database(make_config(tmp_path), node.url)
    Cloud.init(cfg, "secret")
    c = Cloud(cfg)
    await c.start()
    try:
        tok = (await c.login("admin", "secret", "admin"))["token"]
        img = await c.create_image(tok, "cirros", visibility="public")
        await c.upload_image(tok, img["id"], b"\0" * 4096)
        first = (await c.create_server(tok, "vm1", img["id"], "m1.nano"))[0]
        await wait_for(c, tok, first["id"], "ACTIVE")
        node.restart()
        await c.stop_server(tok, first["id"])
        await wait_for(c, tok, first["id"], "SHUTOFF")
        second = (await c.create_server(tok, "vm2", img["id"], "m1.nano"))[0]
        await wait_for(c, tok, second["id"], "ACTIVE")
        servers = {s["name"]: s["status"] for s in await c.list_servers(tok)}
        assert servers == {"vm1": "SHUTOFF", "vm2": "ACTIVE"}
    finally:
        await c.stop()
    check = dbm.open_db(node.url)  # what the database holds, seen afresh
    assert {r["name"]: r["vm_state"] for r in dbm.rows(check, "SELECT name, vm_state FROM instances")} == {
        "vm1": "stopped", "vm2": "active"}
    check.close()


async def test_builds_in_flight_across_a_postgresql_restart_all_end_active(tmp_path, node):
    """PostgreSQL goes down and comes back while 12 builds spawn: every state change after it
    lands (statements outside a transaction reconnect, a transaction begins once it is back)."""
    import datetime as dt

    from backend.virt.fake import FakeBehaviour, FakeDriver
    cfg = on_database(make_config(tmp_path, service_down_time=60, quota_instances=20, quota_cores=40), node.url)
    Cloud.init(cfg, "secret")
    c = Cloud(cfg)
    await c.start()
    try:
        tok = (await c.login("admin", "secret", "admin"))["token"]
        img = await c.create_image(tok, "cirros", visibility="public")
        await c.upload_image(tok, img["id"], b"\0" * 4096)
        for h in ("fake-1", "fake-2", "fake-3"):
            FakeDriver.behaviours[h] = FakeBehaviour(spawn_latency=1.0)
        created = [(await c.create_server(tok, f"vm{i}", img["id"], "m1.nano"))[0] for i in range(12)]
        down = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await asyncio.to_thread(node.restart)
        for s in created:
            await wait_for(c, tok, s["id"], "ACTIVE", timeout=30)
        launched = [s["launched_at"] for s in await c.list_servers(tok)]
        assert len(launched) == 12 and all(t > down for t in launched)  # each went ACTIVE after the restart began
    finally:
        await c.stop()
    check = dbm.open_db(node.url)
    assert dbm.row(check, "SELECT count(*) n FROM instances WHERE vm_state='active' AND task_state IS NULL")["n"] == 12
    assert dbm.row(check, "SELECT count(*) n FROM claims")["n"] == 12
    check.close()
