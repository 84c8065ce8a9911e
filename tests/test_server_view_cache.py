"""The cached server views: a change to one part of a view (its ports, fault, security groups,
volumes) re-reads that part only, and every view still shows every change at once."""
from __future__ import annotations

from cloudhelp import wait_for


class Recording:
    """The store's connection, recording each statement's text."""

    def __init__(self, conn):
        self._conn, self.sql = conn, []

    def execute(self, sql, *a):
        self.sql.append(" ".join(sql.split()))
        return self._conn.execute(sql, *a)

    def dicts(self, sql, *a):
        self.sql.append(" ".join(sql.split()))
        return self._conn.dicts(sql, *a)

    def __getattr__(self, name):
        return getattr(self._conn, name)


async def test_a_port_change_rereads_only_the_addresses(cloud, admin, image):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    before = (await cloud.list_servers(admin))[0]
    assert len(before["addresses"]["private"]) == 1 and before["security_groups"] == ["default"]
    extra = await cloud.create_port(admin, "private")
    db = cloud.rt.db
    db.conn.execute("UPDATE ports SET device_id=? WHERE id=?", (s["id"], extra["id"]))
    rec = db.conn = Recording(db.conn)
    try:
        after = cloud.rt.store.views_for([s["id"]])[0]
    finally:
        db.conn = rec._conn
    assert [a["addr"] for a in after["addresses"]["private"]] == [
        before["addresses"]["private"][0]["addr"], extra["fixed_ips"][0]["ip_address"]]
    # the parts the port did not touch are the ones read before
    assert (after["image"], after["security_groups"], after["volumes_attached"], after["fault"]) == (
        before["image"], before["security_groups"], [], None)
    if db.engine == "sqlite":  # PostgreSQL's notifications drop the whole view
        parts = [q for q in rec.sql if "FROM ports" in q or "FROM images" in q or "instance_faults" in q
                 or "instance_security_groups" in q or "FROM volumes" in q]
        assert len(parts) == 1 and "FROM ports" in parts[0], rec.sql


async def test_each_part_follows_its_own_change(cloud, admin, image):
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    store, conn = cloud.rt.store, cloud.rt.db.conn
    assert store.views_for([s["id"]])[0]["fault"] is None
    # a fault shows once the instance is in error, the addresses stay as read
    store.set_error(s["id"], "disk on fire", host=s.get("host"))
    v = store.views_for([s["id"]])[0]
    assert v["status"] == "ERROR" and v["fault"]["message"] == "disk on fire"
    assert len(v["addresses"]["private"]) == 1
    # the security groups the server asked for, after a direct change to its rows
    conn.execute("DELETE FROM instance_security_groups WHERE instance_uuid=?", (s["id"],))
    v = store.views_for([s["id"]])[0]
    assert v["security_groups"] == [] and v["fault"]["message"] == "disk on fire"
    # a volume attached shows; the image name follows a rename
    vol = await cloud.create_volume(admin, 1)
    conn.execute("UPDATE volumes SET attached_to=?, status='in-use' WHERE id=?", (s["id"], vol["id"]))
    assert store.views_for([s["id"]])[0]["volumes_attached"] == [{"id": vol["id"]}]
    await cloud.update_image(admin, image, {"name": "renamed"})
    v = store.views_for([s["id"]])[0]
    assert v["image"]["name"] == "renamed" and v["volumes_attached"] == [{"id": vol["id"]}]
