"""The services as separate processes (`pocketstack cluster up`, 2 compute processes) over a
RabbitMQ node of our own, on the fake driver: creates over REST go ACTIVE, the seed's queues
exist, live events cross processes, a host is owned by one live compute process, a SIGKILLed
compute process's hosts go down and its builds end elsewhere, no broker is a 503."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from backend.cli import cluster as cl
from clusterhelp import Stream, until

C = "/compute/v2.1"


def h(tok):
    return {"X-Auth-Token": tok}


def image_id(cl_, tok) -> str:
    r = httpx.get(f"{cl_.url}/image/v2/images", headers=h(tok))
    imgs = [i for i in r.json()["images"] if i["name"] == "cluster-img"]
    if imgs:
        return imgs[0]["id"]
    r = httpx.post(f"{cl_.url}/image/v2/images", headers=h(tok), json={
        "name": "cluster-img", "disk_format": "raw", "container_format": "bare", "visibility": "public"})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    r = httpx.put(f"{cl_.url}/image/v2/images/{iid}/file", headers=dict(h(tok), **{
        "Content-Type": "application/octet-stream"}), content=b"\0" * 4096)
    assert r.status_code == 204, r.text
    return iid


def create(cl_, tok, name, zone="nova", count=1) -> list[str]:
    body = {"server": {"name": name, "imageRef": image_id(cl_, tok), "flavorRef": "1",
                       "min_count": count, "max_count": count}}
    if zone:
        body["server"]["availability_zone"] = zone
    if count > 1:
        body["server"]["return_reservation_id"] = True
    r = httpx.post(f"{cl_.url}{C}/servers", headers=h(tok), json=body)
    assert r.status_code == 202, r.text
    if count == 1:
        return [r.json()["server"]["id"]]
    r = httpx.get(f"{cl_.url}{C}/servers/detail", headers=h(tok),
                  params={"reservation_id": r.json()["reservation_id"]})
    return [s["id"] for s in r.json()["servers"]]


def show(cl_, tok, sid) -> dict:
    r = httpx.get(f"{cl_.url}{C}/servers/{sid}", headers=h(tok))
    assert r.status_code == 200, r.text
    return r.json()["server"]




def wait_status(cl_, tok, sid, status, timeout=30.0) -> dict:
    last = {}

    def done():
        last.update(show(cl_, tok, sid))
        return last["status"] == status and last["OS-EXT-STS:task_state"] is None and dict(last)
    try:
        return until(done, f"{sid} {status}", timeout)
    except AssertionError:
        raise AssertionError(f"server {sid} is {last.get('status')}/{last.get('OS-EXT-STS:task_state')}, "
                             f"expected {status}") from None


def db(cl_):
    return sqlite3.connect(str(cl_.config.db_path), timeout=10)


def leftovers(cl_, sid) -> dict:
    con = db(cl_)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t} WHERE {c}=?", (sid,)).fetchone()[0]
                for t, c in (("ports", "device_id"), ("claims", "instance_uuid"), ("volumes", "attached_to"))}
    finally:
        con.close()


def test_a_create_over_rest_goes_active_with_every_service_in_its_own_process(cluster):
    tok = cluster.token()
    pids = {p["role"] for p in cluster.state["processes"]}
    assert pids == {"api", "conductor", "scheduler", "compute"}
    assert len({p["pid"] for p in cluster.state["processes"]}) == 5
    stream = Stream(cluster, tok)
    try:
        sid = create(cluster, tok, "vm-a")[0]
        s = wait_status(cluster, tok, sid, "ACTIVE")
        assert s["OS-EXT-SRV-ATTR:host"] in ("fake-3", "fake-4")
        assert leftovers(cluster, sid) == {"ports": 1, "claims": 1, "volumes": 0}
        # the live stream of the api process carries what the conductor saved and what the
        # compute process traced
        seen = until(lambda: [e for k, e in stream.events if k == "instance" and e["server"]["id"] == sid
                              and e["server"]["status"] == "ACTIVE"], "the ACTIVE event on the stream", 10)
        assert seen
        traced = {e["trace"]["service"] for k, e in stream.events
                  if k == "trace" and e["trace"].get("instance_uuid") == sid}
        assert {"compute", "hypervisor", "conductor", "scheduler"} <= traced, traced
    finally:
        stream.close()


def test_the_seed_queues_are_in_rabbitmq(cluster):
    st = cl.status(cluster.config)
    assert {"conductor", "scheduler", "network", "volume", "image",
            "compute.fake-1", "compute.fake-2", "compute.fake-3", "compute.fake-4"} <= set(st["queues"])
    assert [(p["name"], p["state"]) for p in st["processes"]] == [
        ("conductor", "up"), ("scheduler", "up"), ("api", "up"), ("compute-1", "up"), ("compute-2", "up")]


def test_the_flow_in_cluster_mode(cluster):
    """tests/test_flow.py's core assertions, over REST against the cluster."""
    tok = cluster.token()
    stream = Stream(cluster, tok)
    try:
        sid = create(cluster, tok, "vm-flow")[0]
        s = wait_status(cluster, tok, sid, "ACTIVE")
        until(lambda: any(k == "instance" and e["server"]["id"] == sid and e["server"]["status"] == "ACTIVE"
                          for k, e in stream.events), "the ACTIVE event", 10)
        seen = [(e["server"]["vm_state"], e["server"]["task_state"])
                for k, e in stream.events if k == "instance" and e["server"]["id"] == sid]
    finally:
        stream.close()
    dedup = [x for i, x in enumerate(seen) if i == 0 or seen[i - 1] != x]
    assert dedup == [("building", "scheduling"), ("building", None), ("building", "networking"),
                     ("building", "block_device_mapping"), ("building", "spawning"), ("active", None)]
    r = httpx.get(f"{cluster.url}{C}/servers/{sid}/os-instance-actions", headers=h(tok)).json()
    acts = r["instanceActions"]
    assert [a["action"] for a in acts] == ["create"]
    act = httpx.get(f"{cluster.url}{C}/servers/{sid}/os-instance-actions/{acts[0]['request_id']}",
                    headers=h(tok)).json()["instanceAction"]
    names = [e["event"] for e in act["events"]]
    assert names == ["conductor_schedule_and_build_instances", "compute__do_build_and_run_instance",
                     "compute_claim_resources", "compute_allocate_network", "compute_fetch_image",
                     "compute_block_device_mapping", "compute_spawn"]
    assert all(e["result"] == "Success" for e in act["events"])
    want = {"identity", "compute-api", "queue", "conductor", "scheduler", "compute", "network", "image",
            "volume", "hypervisor"}
    got: set = set()

    def traced():  # each process writes its trace rows within its flush interval
        got.update(t["service"] for t in httpx.get(f"{cluster.url}{C}/servers/{sid}/os-pocketstack-trace",
                                                   headers=h(tok)).json()["trace"])
        return want <= got
    try:
        until(traced, "the trace of every service", 10)
    except AssertionError:
        raise AssertionError(f"trace services {sorted(got)}, missing {sorted(want - got)}") from None
    assert s["addresses"]["private"][0]["OS-EXT-IPS-MAC:mac_addr"].startswith("fa:16:3e:")


def test_a_host_is_served_by_one_live_compute_process(cluster):
    hosts_file = cluster.config.home / "cluster" / "hosts-compute-2.yaml"
    conf = cluster.config.home / "cluster" / "pocketstack.conf"
    env = dict(os.environ, POCKETSTACK_SERVICE_HOST="compute-9", POCKETSTACK_CONFIG_FILE=str(conf))
    r = subprocess.run([sys.executable, "-m", "backend.cli.main", "serve", "--role", "compute",
                        "--hosts", str(hosts_file)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "host fake-2 is owned by compute service 'compute-2'" in r.stderr, r.stderr
    assert cl.status(cluster.config)["processes"][-1]["state"] == "up"


def test_an_embedded_backend_is_refused_while_the_cluster_runs(cluster):
    import asyncio

    from backend.core.errors import AlreadyRunning
    from backend.facade import Cloud
    with pytest.raises(AlreadyRunning, match="or cluster is already running on .*cluster down"):
        asyncio.run(Cloud(cluster.config).start())


def test_sigkill_of_a_compute_process_mid_build(cluster):
    tok = cluster.token()
    sids = create(cluster, tok, "vm-kill", zone="slow", count=2)
    for sid in sids:
        until(lambda: show(cluster, tok, sid)["OS-EXT-STS:task_state"] == "spawning", "spawning", 60)
    assert {show(cluster, tok, sid)["OS-EXT-SRV-ATTR:host"] for sid in sids} == {"fake-1"}
    victim = cluster.process("compute-1")
    os.kill(victim["pid"], signal.SIGKILL)
    for sid in sids:
        s = wait_status(cluster, tok, sid, "ACTIVE", timeout=60)
        assert s["OS-EXT-SRV-ATTR:host"] == "fake-2"
        assert leftovers(cluster, sid) == {"ports": 1, "claims": 1, "volumes": 0}
    hv = {x["hypervisor_hostname"]: x for x in
          httpx.get(f"{cluster.url}{C}/os-hypervisors/detail", headers=h(tok)).json()["hypervisors"]}
    assert (hv["fake-1"]["state"], hv["fake-3"]["state"]) == ("down", "down")
    assert (hv["fake-2"]["state"], hv["fake-4"]["state"]) == ("up", "up")
    con = db(cluster)
    try:
        ports = con.execute("SELECT count(*) FROM ports WHERE device_id IN (?,?)", sids).fetchone()[0]
        claims = con.execute("SELECT host, count(*) FROM claims WHERE instance_uuid IN (?,?) GROUP BY host",
                             sids).fetchall()
    finally:
        con.close()
    assert ports == 2 and claims == [("fake-2", 2)]  # nothing left on the lost host
    st = cl.status(cluster.config)
    assert st["processes"][3]["state"] == "dead"
    assert st["queues"]["compute.fake-1"] == 2  # the two builds' casts, unacked when it died
    # the hosts can be served again: a new compute-1 takes them (the lost one is not alive)
    # and drops what was queued for them (those builds ran elsewhere)
    cluster.state = cl.respawn(cluster.config, "compute-1")
    until(lambda: {x["hypervisor_hostname"]: x["state"] for x in httpx.get(
        f"{cluster.url}{C}/os-hypervisors/detail", headers=h(tok)).json()["hypervisors"]}["fake-1"] == "up",
        "fake-1 up again", 15)
    assert cl.status(cluster.config)["queues"]["compute.fake-1"] == 0
    for sid in sids:
        s = show(cluster, tok, sid)
        assert (s["status"], s["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "fake-2")
        assert leftovers(cluster, sid) == {"ports": 1, "claims": 1, "volumes": 0}
    sid = create(cluster, tok, "vm-after", zone="nova")[0]
    assert wait_status(cluster, tok, sid, "ACTIVE")["status"] == "ACTIVE"


def test_the_serial_console_is_relayed_from_the_compute_process(cluster):
    """The api process has no compute manager: the console proxy asks the compute process that
    owns the host (over the bus) for a relay and connects to it with its ticket; keys reach the
    guest's shell and its answers come back; while attached a second attach is 409 naming the
    holder; after the detach the console is free again."""
    from websockets.sync.client import connect
    tok = cluster.token()
    sid = create(cluster, tok, "vm-console", zone="nova")[0]
    host = wait_status(cluster, tok, sid, "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    mv = dict(h(tok), **{"OpenStack-API-Version": "compute 2.6", "X-OpenStack-Nova-API-Version": "2.6"})
    body = {"remote_console": {"protocol": "serial", "type": "serial"}}
    r = httpx.post(f"{cluster.url}{C}/servers/{sid}/remote-consoles", headers=mv, json=body)
    assert r.status_code == 200, r.text
    got = b""

    def read_until(ws, text):
        nonlocal got
        end = time.monotonic() + 20
        while text not in got:
            assert time.monotonic() < end, f"{text!r} not seen; got {got[-300:]!r}"
            got += ws.recv(timeout=20)
        cut = got.index(text) + len(text)
        seen, got = got[:cut], got[cut:]
        return seen
    with connect(r.json()["remote_console"]["url"], subprotocols=["binary"], open_timeout=10) as ws:
        ws.send(b"\r")
        read_until(ws, b"/ # ")
        ws.send(b"hostname\r")
        read_until(ws, b"/ # ")
        ws.send(b"echo relayed through the compute process\r")
        read_until(ws, b"relayed through the compute process\r\n")
        again = httpx.post(f"{cluster.url}{C}/servers/{sid}/remote-consoles", headers=mv, json=body)
        assert again.status_code == 409 and "in use by user admin" in again.text, again.text
    owner = "compute-1" if host in ("fake-1", "fake-3") else "compute-2"
    assert cluster.process(owner)["pid"] != cluster.process("api")["pid"]
    # detached: free again (the relay closed the compute process's session)
    until(lambda: httpx.post(f"{cluster.url}{C}/servers/{sid}/remote-consoles", headers=mv,
                             json=body).status_code == 200, "the console free again", 15)


def test_no_broker_is_a_503_and_nothing_is_written(cluster):
    tok = cluster.token()
    iid = image_id(cluster, tok)
    con = db(cluster)
    try:
        before = con.execute("SELECT count(*) FROM instances").fetchone()[0]
    finally:
        con.close()
    node = cl._node_of(cluster.state)
    assert node._ctl("stop_app").returncode == 0
    body = {"server": {"name": "vm-nobroker", "imageRef": iid, "flavorRef": "1"}}
    r = until(lambda: (r := httpx.post(f"{cluster.url}{C}/servers", headers=h(tok), json=body)).status_code != 202
              and r, "the api process to see the broker gone", 30)
    assert r.status_code == 503, r.text
    assert "message broker at 127.0.0.1" in r.text and "unreachable" in r.text
    con = db(cluster)
    try:
        assert con.execute("SELECT count(*) FROM instances").fetchone()[0] == before
        assert con.execute("SELECT count(*) FROM instances WHERE name='vm-nobroker'").fetchone()[0] == 0
    finally:
        con.close()


def test_builds_in_flight_when_the_whole_cluster_stops_end_after_up(cluster):
    """`cluster down` while two builds spawn, then `cluster up`: the conductor finds
    no other process running, waits for the api, scheduler and compute processes and resumes
    both builds from scheduling (the first attempt's port and claim released), as the embedded
    runtime does at its start. The slow hosts are made fast meanwhile, so they end ACTIVE."""
    # the module's last test: a cluster of its own hosts, both slow ones spawning for 60 s (the
    # scheduler may prefer either after the tests before)
    hosts = cluster.config.hosts_path
    port = int(cluster.url.rsplit(":", 1)[1])
    cl.down(cluster.config, log=lambda m: None)
    hosts.write_text(hosts.read_text().replace("disk_gb: 400}", "disk_gb: 400, fake: {spawn_latency: 60}}", 1))
    assert hosts.read_text().count("spawn_latency: 60") == 2
    cluster.state = cl.up(cluster.config, 2, port=port, log=lambda m: None)
    tok = cluster.token()
    sids = create(cluster, tok, "vm-restart", zone="slow", count=2)
    for sid in sids:
        try:
            until(lambda: show(cluster, tok, sid)["OS-EXT-STS:task_state"] == "spawning", "spawning", 60)
        except AssertionError:
            s = show(cluster, tok, sid)
            raise AssertionError(f"{sid} is {s['status']}/{s['OS-EXT-STS:task_state']} on "
                                 f"{s.get('OS-EXT-SRV-ATTR:host')}: {s.get('fault')}") from None
    assert cl.down(cluster.config, log=lambda m: None)
    hosts.write_text(hosts.read_text().replace("fake: {spawn_latency: 60}", "fake: {}"))
    cluster.state = cl.up(cluster.config, 2, port=port, log=lambda m: None)
    tok = cluster.token()
    for sid in sids:
        try:
            s = wait_status(cluster, tok, sid, "ACTIVE", timeout=60)
        except AssertionError as e:  # what the conductor's start-up recovery did, and when
            logs = cl.cluster_dir(cluster.config) / "log"
            tail = "".join(f"\n--- {f.name}\n" + f.read_text(errors="replace")[-3000:]
                           for f in sorted(logs.glob("*.log")) if f.name.startswith(("conductor", "compute")))
            raise AssertionError(f"{e}{tail}") from None
        assert s["OS-EXT-SRV-ATTR:host"] in ("fake-1", "fake-2")
        assert leftovers(cluster, sid) == {"ports": 1, "claims": 1, "volumes": 0}
    con = db(cluster)
    try:
        cut = con.execute("SELECT count(*) FROM instance_action_events e JOIN instance_actions a ON"
                          " a.id=e.action_id WHERE a.instance_uuid IN (?,?) AND e.details LIKE"
                          " '%interrupted by a restart%'", sids).fetchone()[0]
    finally:
        con.close()
    assert cut >= 2  # each build's cut step says why it was resumed
