"""The unmodified `openstack` CLI against a cluster (`cluster up --computes 2 --database
postgresql`, fake hosts): every service in its own process, every row in PostgreSQL. Create,
list, show, `server event list`, delete."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg

from clusterhelp import PASSWORD

CLUSTER_DATABASE = "postgresql"  # conftest's module cluster, over its own PostgreSQL
BIN = Path(sys.executable).parent


def osc(cluster, *argv):
    env = {"OS_AUTH_URL": f"{cluster.url}/identity/v3", "OS_USERNAME": "admin", "OS_PASSWORD": PASSWORD,
           "OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
           "OS_IDENTITY_API_VERSION": "3", "OS_INTERFACE": "public", "OS_REGION_NAME": "RegionOne",
           "HOME": str(cluster.config.home.parent), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([str(BIN / "openstack"), *argv], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"openstack {' '.join(argv)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def osc_json(cluster, *argv):
    return json.loads(osc(cluster, *argv, "-f", "json"))


def test_the_openstack_cli_against_a_cluster_over_postgresql(cluster, tmp_path):
    dburl = cluster.state["database_connection"]
    assert dburl.startswith("postgresql://") and not cluster.config.db_path.exists()
    f = tmp_path / "tiny.raw"
    f.write_bytes(b"\0" * 65536)
    img = osc_json(cluster, "image", "create", "--file", str(f), "--disk-format", "raw", "--container-format",
                   "bare", "cl-img")
    assert img["status"] == "active"

    # zone nova: fake-3 (compute-1) and fake-4 (compute-2)
    s = osc_json(cluster, "server", "create", "--image", "cl-img", "--flavor", "m1.nano", "--network", "private",
                 "--availability-zone", "nova", "--wait", "cl-vm")
    assert (s["status"], s["name"]) == ("ACTIVE", "cl-vm")
    assert s["addresses"]["private"][0].startswith("10.0.0.")

    row = next(r for r in osc_json(cluster, "server", "list") if r["Name"] == "cl-vm")
    assert (row["Status"], row["Image"], row["Flavor"]) == ("ACTIVE", "cl-img", "m1.nano")

    shown = osc_json(cluster, "server", "show", "cl-vm")
    assert shown["id"] == s["id"] and shown["OS-EXT-STS:vm_state"] == "active"
    host = shown["OS-EXT-SRV-ATTR:host"]
    assert host in ("fake-3", "fake-4")

    events = osc_json(cluster, "server", "event", "list", "cl-vm")
    assert [e["Action"] for e in events] == ["create"]
    ev = osc_json(cluster, "server", "event", "show", "cl-vm", events[0]["Request ID"])
    # the steps ran in the conductor and in the compute process that owns the host
    assert {"conductor_schedule_and_build_instances", "compute__do_build_and_run_instance"} <= \
        {e["event"] for e in ev["events"]}

    with psycopg.connect(dburl) as c:
        assert c.execute("SELECT vm_state, host FROM instances WHERE uuid=%s", (s["id"],)).fetchone() == \
            ("active", host)
        owner = c.execute("SELECT service_host FROM host_mappings WHERE host=%s", (host,)).fetchone()[0]
        pid = c.execute("SELECT pid FROM services WHERE role='compute' AND host=%s", (owner,)).fetchone()[0]
    assert pid == cluster.process(owner)["pid"]  # the build ran in that compute process

    osc(cluster, "server", "delete", "--wait", "cl-vm")
    assert "cl-vm" not in [r["Name"] for r in osc_json(cluster, "server", "list")]
    with psycopg.connect(dburl) as c:
        assert c.execute("SELECT deleted FROM instances WHERE uuid=%s", (s["id"],)).fetchone()[0] != 0
        assert c.execute("SELECT count(*) FROM claims WHERE instance_uuid=%s", (s["id"],)).fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM ports WHERE device_id=%s", (s["id"],)).fetchone()[0] == 0
