"""The cluster over PostgreSQL (`cluster up --database postgresql`): a PostgreSQL cluster of our
own under the state directory, the cloud made in it, a create over REST goes ACTIVE with every
row in PostgreSQL (none in a SQLite file); `down` stops the database and keeps it, and the next
`up` serves the same cloud."""
from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path

import httpx
import psycopg

from backend.cli import cluster as cl
from backend.core.config import Config
from clusterhelp import BASE_CONF, HOSTS, PASSWORD, free_port

C = "/compute/v2.1"


def token(url):
    r = httpx.post(f"{url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    assert r.status_code == 201, r.text
    return {"X-Auth-Token": r.headers["X-Subject-Token"]}


def test_a_cluster_over_its_own_postgresql(monkeypatch):
    from test_cluster import until  # the bounded poll of the cluster tests
    tmp = Path(tempfile.mkdtemp(prefix="pocketstack-cluster-pg-"))
    tmp.chmod(0o711)  # the postgres user goes through it to the state directory
    (tmp / "hosts.yaml").write_text(textwrap.dedent(HOSTS))
    (tmp / "base.conf").write_text(BASE_CONF)
    config = Config.load(tmp / "base.conf", home=tmp / "home", hosts_path=tmp / "hosts.yaml",
                         password_hash_rounds=4)
    monkeypatch.setenv("OS_PASSWORD", PASSWORD)
    try:
        state = cl.up(config, 2, port=free_port(), log=lambda m: None, database="postgresql")
        url, dburl = state["url"], state["database_connection"]
        assert dburl.startswith("postgresql://") and (config.home / "cluster" / "pg" / "data").is_dir()
        assert not config.db_path.exists()  # the cloud is in PostgreSQL only
        h = token(url)
        r = httpx.post(f"{url}/image/v2/images", headers=h, json={
            "name": "img", "disk_format": "raw", "container_format": "bare", "visibility": "public"})
        iid = r.json()["id"]
        assert httpx.put(f"{url}/image/v2/images/{iid}/file", content=b"\0" * 4096, headers=dict(
            h, **{"Content-Type": "application/octet-stream"})).status_code == 204
        r = httpx.post(f"{url}{C}/servers", headers=h, json={"server": {
            "name": "pg-vm", "imageRef": iid, "flavorRef": "1", "availability_zone": "nova"}})
        assert r.status_code == 202, r.text
        sid = r.json()["server"]["id"]
        until(lambda: httpx.get(f"{url}{C}/servers/{sid}", headers=h).json()["server"]["status"] == "ACTIVE",
              "ACTIVE", 30)
        with psycopg.connect(dburl) as c:
            assert c.execute("SELECT vm_state, host FROM instances WHERE uuid=%s", (sid,)).fetchone()[0] == "active"
            roles = sorted(r[0] for r in c.execute("SELECT role FROM services WHERE stopped=0"))
            assert roles == ["api", "compute", "compute", "conductor", "scheduler"]
            assert c.execute("SELECT count(*) FROM host_mappings").fetchone()[0] == 4
        assert cl.status(config)["database"] == dburl

        cl.down(config, log=lambda m: None)
        assert cl.status(config) is None and (config.home / "cluster" / "pg" / "data").is_dir()
        state = cl.up(config, 2, port=free_port(), log=lambda m: None, database="postgresql")
        assert state["database_connection"] == dburl  # the same database, on the same port
        h = token(state["url"])
        s = httpx.get(f"{state['url']}{C}/servers/{sid}", headers=h).json()["server"]
        assert (s["name"], s["status"]) == ("pg-vm", "ACTIVE")
    finally:
        cl.down(config, log=lambda m: None)
        shutil.rmtree(tmp, ignore_errors=True)
