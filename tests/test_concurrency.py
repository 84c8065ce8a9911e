"""200 creates at once: no IP twice, usage never above capacity × ratio."""
from __future__ import annotations

import asyncio
import sqlite3

from backend.facade import Cloud
from cloudhelp import make_config

HOSTS = """
hosts:
""" + "".join(f"  - {{name: c{i}, address: 127.0.0.1, driver: fake, vcpus: 4, memory_mb: 2560, disk_gb: 20}}\n"
              for i in range(10))


async def test_200_creates_at_once(tmp_path):
    cfg = make_config(tmp_path, HOSTS, quota_instances=1000, quota_cores=1000, quota_ram=10 ** 7)
    Cloud.init(cfg, "secret")
    c = Cloud(cfg)
    await c.start()
    peak = {}
    try:
        tok = (await c.login("admin", "secret", "admin"))["token"]
        img = await c.create_image(tok, "i", visibility="public")
        await c.upload_image(tok, img["id"], b"x")

        def watch(e):  # usage per host after every state change, from the database itself
            if e["type"] == "instance":
                for h, v, m in c.rt.db.conn.execute("SELECT host, sum(vcpus), sum(memory_mb) FROM claims"
                                                    " GROUP BY host"):
                    pv, pm = peak.get(h, (0, 0))
                    peak[h] = (max(pv, v), max(pm, m))
        c.subscribe(watch)
        # 10 hosts × (2560 − 512 reserved) MB = 16 × 128 MB each: room for 160 of the 200
        created = await asyncio.gather(*(c.create_server(tok, f"vm{i}", img["id"], "m1.nano")
                                         for i in range(200)))
        ids = [s[0]["id"] for s in created]
        loop = asyncio.get_running_loop()
        end = loop.time() + 60
        while loop.time() < end:
            servers = await c.list_servers(tok)
            if all(s["status"] in ("ACTIVE", "ERROR") for s in servers) and len(servers) == 200:
                break
            await asyncio.sleep(0.05)
        by_status = {}
        for s in servers:
            by_status[s["status"]] = by_status.get(s["status"], 0) + 1
        assert by_status == {"ACTIVE": 160, "ERROR": 40}
        con = sqlite3.connect(cfg.db_path)
        ips = [r[0] for r in con.execute("SELECT ip_address FROM ports")]
        assert len(ips) == 160 and len(set(ips)) == 160
        macs = [r[0] for r in con.execute("SELECT mac_address FROM ports")]
        assert len(set(macs)) == 160
        assert con.execute("SELECT count(*) FROM claims").fetchone()[0] == 160
        errors = con.execute("SELECT uuid FROM instances WHERE vm_state='error'").fetchall()
        for (u,) in errors:
            assert con.execute("SELECT count(*) FROM ports WHERE device_id=?", (u,)).fetchone()[0] == 0
        con.close()
        assert len(set(ids)) == 200
        for h, (v, m) in peak.items():
            assert v <= 4 * 4.0 and m <= 2560 * 1.0 - 512, (h, v, m)
    finally:
        await c.stop()
