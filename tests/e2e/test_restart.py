"""A real cloud killed with SIGKILL while builds are held in one stage (scheduling, networking,
block_device_mapping, spawning), started again: every interrupted build resumes and ends
ACTIVE, none is lost, nothing leaks (claims, ports, volumes), and the database is intact. In
both modes: `pocketstack serve`, and a cluster whose every process is killed at once (the
machine's power cut), then `cluster down` (its broker) and `cluster up`. And a second serve on
the same state directory is refused."""
from __future__ import annotations

import os
import sqlite3
import subprocess

import httpx
import pytest

import e2ehelp
from e2ehelp import BIN, MODES, PASSWORD, free_port, poll, start_serve, wait_up

N = 6
HOST = ("  - {{name: slow-{i}, address: 127.0.0.1, driver: fake, vcpus: 8, memory_mb: 8192, disk_gb: 80,"
        " fake: {fake}}}\n")
# What holds a build in each stage: an hour's wait once the stage's work is done, so the
# kill lands there however slowly the polling runs.
HOLD = {"scheduling": "{stage_latency: {scheduling: 3600}}",
        "networking": "{stage_latency: {networking: 3600}}",
        "block_device_mapping": "{stage_latency: {block_device_mapping: 3600}}",
        "spawning": "{spawn_latency: 3600}"}


def hosts_yaml(fake: str) -> str:
    return "hosts:\n" + "".join(HOST.format(i=i, fake=fake) for i in (1, 2))


def token(url):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    r = httpx.post(f"{url}/identity/v3/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def servers(url, tok):
    r = httpx.get(f"{url}/compute/v2.1/servers/detail", headers={"X-Auth-Token": tok}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["servers"]


def state_of(url, tok):
    return sorted((s["status"], s["OS-EXT-STS:task_state"]) for s in servers(url, tok))


def all_active(url, tok):
    got = servers(url, tok)
    assert not [s for s in got if s["status"] == "ERROR"], [(s["status"], s.get("fault")) for s in got]
    return got if [(s["status"], s["OS-EXT-STS:task_state"]) for s in got] == [("ACTIVE", None)] * N else None


@pytest.fixture
def cloud(tmp_path):
    home, hosts = tmp_path / "home", tmp_path / "hosts.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(home), "HOME": str(tmp_path)})
    subprocess.run([str(BIN / "pocketstack"), "init"], env=dict(env, OS_PASSWORD=PASSWORD), check=True,
                   capture_output=True)
    procs = []  # serve processes and e2ehelp.Server (either mode) to stop at the end
    yield home, hosts, env, procs
    for p in procs:
        if isinstance(p, e2ehelp.Server):
            e2ehelp.kill(p)
        elif p.poll() is None:
            p.kill()
            p.wait()


def upload_image(url, h):
    img = httpx.post(f"{url}/image/v2/images", headers=h, timeout=30, json={
        "name": "img", "disk_format": "raw", "container_format": "bare"}).json()
    r = httpx.put(f"{url}/image/v2/images/{img['id']}/file", content=b"\0" * 1024, timeout=30,
                  headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    return img["id"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stage", list(HOLD))
def test_sigkill_in_a_build_stage_then_restart_resumes_every_build(cloud, stage, mode):
    home, hosts, env, procs = cloud
    hosts.write_text(hosts_yaml(HOLD[stage]))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    running = e2ehelp.start(mode, home, hosts, port, env)
    procs.append(running)
    tok = token(url)
    h = {"X-Auth-Token": tok}
    image = upload_image(url, h)
    ids = []
    for i in range(N):
        server = {"name": f"vm{i}", "imageRef": image, "flavorRef": "1", "networks": "auto"}
        if stage == "block_device_mapping":  # boot from volume: the stage makes a volume
            server.update(imageRef="", block_device_mapping_v2=[{
                "boot_index": 0, "uuid": image, "source_type": "image", "destination_type": "volume",
                "volume_size": 1, "delete_on_termination": True}])
        r = httpx.post(f"{url}/compute/v2.1/servers", headers=h, timeout=30, json={"server": server})
        assert r.status_code == 202, r.text
        ids.append(r.json()["server"]["id"])
    poll(f"every build in {stage}", lambda: state_of(url, tok) == [("BUILD", stage)] * N, 30)
    e2ehelp.kill(running)

    con = sqlite3.connect(home / "pocketstack.db")
    # the kill landed in the stage, with that stage's resources made and not yet released
    assert con.execute("SELECT DISTINCT vm_state, task_state FROM instances").fetchall() == [("building", stage)]
    assert con.execute("SELECT count(*) FROM claims").fetchone()[0] == N
    if stage != "scheduling":
        assert con.execute("SELECT count(*) FROM ports").fetchone()[0] == N
    if stage == "block_device_mapping":
        assert con.execute("SELECT count(*) FROM volumes").fetchone()[0] == N
    con.close()

    hosts.write_text(hosts_yaml("{}"))  # the hosts answer at once now
    running = e2ehelp.start(mode, home, hosts, port, env)
    procs.append(running)
    tok = token(url)
    got = poll("every build ACTIVE after the restart", lambda: all_active(url, tok), 60,
               lambda: (state_of(url, tok), running.logs()[-6000:]))
    assert sorted(s["id"] for s in got) == sorted(ids)
    for s in got:  # the guest is on its hypervisor: it answers with its console
        r = httpx.post(f"{url}/compute/v2.1/servers/{s['id']}/action", headers={"X-Auth-Token": tok},
                       json={"os-getConsoleOutput": {}}, timeout=30)
        assert r.status_code == 200 and "pocketstack guest booted" in r.json()["output"], r.text
    e2ehelp.stop(running)  # serve exits 0; a cluster leaves nothing running

    con = sqlite3.connect(home / "pocketstack.db")
    q = lambda sql, *args: con.execute(sql, args).fetchall()  # noqa: E731
    assert q("PRAGMA integrity_check") == [("ok",)]
    # exactly one claim, one port and (booted from volume) one volume per instance: the
    # partial ones of the killed builds were released before the builds resumed
    assert sorted(u for (u,) in q("SELECT instance_uuid FROM claims")) == sorted(ids)
    assert sorted(u for (u,) in q("SELECT device_id FROM ports")) == sorted(ids)
    assert q("SELECT sum(running_vms), sum(vcpus_used) FROM compute_nodes") == [(N, N)]
    vols = q("SELECT attached_to, status FROM volumes")
    if stage == "block_device_mapping":
        assert sorted(vols) == sorted((u, "in-use") for u in ids)
    else:
        assert vols == []
    # the interrupted step is on record, and the resumed build finished the same create
    for u in ids:
        events = q("SELECT e.event, e.result, e.details FROM instance_action_events e JOIN instance_actions a"
                   " ON a.id=e.action_id WHERE a.instance_uuid=? AND a.action='create' ORDER BY e.id", u)
        assert any(r == "Error" and "interrupted by a restart" in d for _, r, d in events), events
        assert ("compute__do_build_and_run_instance", "Success", None) in events, events
        assert q("SELECT count(*) FROM instance_actions WHERE instance_uuid=?", u) == [(1,)]
    con.close()


# embedded only: the lock names the serve that holds it (a cluster's refusal: test_pocketstack_cli.py)
def test_a_second_serve_on_the_same_state_directory_is_refused(cloud):
    home, hosts, env, procs = cloud
    hosts.write_text(hosts_yaml("{}"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_serve(home, hosts, port, env)
    procs.append(proc)
    wait_up(url, proc)
    p2 = subprocess.run([str(BIN / "pocketstack"), "serve", "--port", str(free_port()), "--hosts",
                         str(hosts)], env=env, capture_output=True, text=True, timeout=60)
    assert p2.returncode != 0
    assert "already running" in p2.stderr and f"pid {proc.pid}" in p2.stderr and url in p2.stderr
    assert proc.poll() is None  # the running one is untouched
