"""The `pocketstack` CLI against a real `pocketstack serve`, plus what serve itself promises:
one backend per state directory, a hint when no server answers, a clean SIGTERM stop."""
from __future__ import annotations

import json
import signal

import pytest

from e2ehelp import free_port, start_serve, wait_up


def ps(server, *argv, check=True):
    return server.run("pocketstack", *argv, check=check)


def ps_json(server, *argv):
    return json.loads(ps(server, *argv, "-f", "json").stdout)


def test_pocketstack_cli_server_life(server, image_file):
    tok = ps_json(server, "token", "issue")
    assert tok["id"] and tok["project_id"]
    img = ps_json(server, "image", "create", "ps-img", "--file", str(image_file),
                  "--property", "architecture=x86_64")
    assert img["status"] == "active" and img["architecture"] == "x86_64"
    assert "ps-img" in [i["Name"] for i in ps_json(server, "image", "list")]

    s = ps_json(server, "server", "create", "--image", "ps-img", "--flavor", "m1.nano",
                "--network", "private", "--wait", "ps-vm")
    assert s["status"] == "ACTIVE" and s["networks"].startswith("private=10.0.0.")
    row = next(r for r in ps_json(server, "server", "list") if r["Name"] == "ps-vm")
    assert row["Status"] == "ACTIVE" and row["Flavor"].startswith("m1.nano")
    assert ps_json(server, "server", "show", "ps-vm")["id"] == s["id"]
    assert [e["Action"] for e in ps_json(server, "server", "event", "list", "ps-vm")] == ["create"]
    long = ps_json(server, "server", "event", "list", "ps-vm", "--long")
    assert "compute_spawn" in [e["Event"] for e in long]
    decisions = ps_json(server, "server", "explain", "ps-vm")
    assert decisions[0]["selected"] in ("fake-1", "fake-2")
    text = ps(server, "server", "explain", "ps-vm").stdout
    assert "selected" in text and "attempt 1" in text

    ps(server, "server", "stop", "--wait", "ps-vm")
    assert ps_json(server, "server", "show", "ps-vm")["status"] == "SHUTOFF"
    ps(server, "server", "start", "--wait", "ps-vm")
    ps(server, "server", "reboot", "--hard", "--wait", "ps-vm")
    assert ps_json(server, "server", "show", "ps-vm")["status"] == "ACTIVE"
    assert ps(server, "server", "console", "log", "ps-vm", "--lines", "5").returncode == 0
    ps(server, "server", "delete", "--wait", "ps-vm")
    assert "ps-vm" not in [r["Name"] for r in ps_json(server, "server", "list")]
    ps(server, "image", "delete", "ps-img")


def test_pocketstack_cli_resources(server):
    hyps = ps_json(server, "hypervisor", "list")
    assert {h["Hypervisor Hostname"] for h in hyps} == {"fake-1", "fake-2"}
    # pocketstack's keys (os-pocketstack-hypervisors), which nova's strict view leaves out
    assert {h["Driver"] for h in hyps} == {"fake"} and all(h["Zone"] for h in hyps)
    assert ps_json(server, "hypervisor", "show", "fake-1")["state"] == "up"
    assert "m1.nano" in [f["Name"] for f in ps_json(server, "flavor", "list")]
    assert ps_json(server, "flavor", "show", "m1.nano")["ram"] == 128
    ps(server, "flavor", "create", "ps.tiny", "--vcpus", "1", "--ram", "64", "--disk", "1")
    ps(server, "flavor", "delete", "ps.tiny")
    net = ps_json(server, "network", "create", "ps-net")
    sub = ps_json(server, "subnet", "create", "ps-sub", "--network", "ps-net",
                  "--subnet-range", "192.168.88.0/24")
    assert sub["network_id"] == net["id"] and sub["gateway_ip"] == "192.168.88.1"
    assert "ps-net" in [n["Name"] for n in ps_json(server, "network", "list")]
    vol = ps_json(server, "volume", "create", "ps-vol", "--size", "1")
    assert vol["size"] == 1
    assert "ps-vol" in [v["Name"] for v in ps_json(server, "volume", "list")]
    ps(server, "volume", "delete", "ps-vol")
    ps(server, "project", "create", "ps-proj")
    ps(server, "user", "create", "ps-user", "--password", "pw-2", "--project", "ps-proj")
    ps(server, "role", "add", "member", "--project", "ps-proj", "--user", "ps-user")
    env = dict(server.env, OS_USERNAME="ps-user", OS_PASSWORD="pw-2", OS_PROJECT_NAME="ps-proj")
    import subprocess
    from e2ehelp import BIN
    p = subprocess.run([str(BIN / "pocketstack"), "server", "list", "-f", "json"], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout) == []


def test_pocketstack_cli_failures_are_one_line(server):
    for argv in (("server", "show", "nope"), ("server", "create", "--image", "nope",
                                               "--flavor", "m1.nano", "x"),
                 ("volume", "create", "v", "--size", "0"), ("server", "bogus")):
        p = ps(server, *argv, check=False)
        assert p.returncode != 0, argv
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pocketstack: error:"), p.stderr
    p = server.run("pocketstack", "server", "list", check=False)
    assert p.returncode == 0
    env = dict(server.env, OS_PASSWORD="hunter2-xyz")
    import subprocess
    from e2ehelp import BIN
    p = subprocess.run([str(BIN / "pocketstack"), "server", "list"], env=env, capture_output=True,
                       text=True)
    assert p.returncode == 1 and "login as 'admin'" in p.stderr and "hunter2-xyz" not in p.stderr


@pytest.mark.embedded_only("it talks to no server: the mode cannot matter")
def test_no_server_answers_hint(server):
    import subprocess
    from e2ehelp import BIN
    port = free_port()
    env = dict(server.env, OS_AUTH_URL=f"http://127.0.0.1:{port}/identity/v3")
    p = subprocess.run([str(BIN / "pocketstack"), "server", "list"], env=env, capture_output=True,
                       text=True)
    assert p.returncode == 1
    assert "no pocketstack server answers" in p.stderr and "pocketstack serve" in p.stderr


def test_second_serve_on_same_state_dir_is_refused(server):
    proc = start_serve(server.home, server.hosts, free_port(), server.env)
    proc.wait(timeout=30)
    err = proc.log_path.read_text()
    assert proc.returncode != 0 and len(err.strip().splitlines()) == 1
    if server.mode == "embedded":  # the lock names the serve that holds it
        assert "already running" in err and server.url in err
    else:  # the cluster's processes share the directory: the refusal says how to stop them
        assert "or cluster is already running" in err and "pocketstack cluster down" in err


@pytest.mark.embedded_only("a serve of its own on a second state directory (a cluster's restart: test_restart.py)")
def test_sigterm_stops_cleanly_and_restart_keeps_state(tmp_path, server):
    """A second cloud on its own state dir: SIGTERM ends serve with 0, the lock is released
    and the next serve sees the same data."""
    import os
    import subprocess
    from e2ehelp import BIN, HOSTS, PASSWORD
    home, hosts = tmp_path / "home", tmp_path / "hosts.yaml"
    hosts.write_text(HOSTS)
    port = free_port()
    env = dict(server.env, POCKETSTACK_HOME=str(home), OS_AUTH_URL=f"http://127.0.0.1:{port}/identity/v3")
    subprocess.run([str(BIN / "pocketstack"), "init"], env=env, check=True,  # OS_PASSWORD in env
                   capture_output=True)
    url = f"http://127.0.0.1:{port}"
    for round_ in range(2):
        proc = start_serve(home, hosts, port, env)
        wait_up(url, proc)
        if round_ == 0:
            p = subprocess.run([str(BIN / "pocketstack"), "network", "create", "kept"], env=env,
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
        else:
            p = subprocess.run([str(BIN / "pocketstack"), "network", "list", "-f", "json"], env=env,
                               capture_output=True, text=True)
            assert "kept" in [n["Name"] for n in json.loads(p.stdout)]
        proc.send_signal(signal.SIGTERM if round_ == 0 else signal.SIGINT)
        proc.wait(30)
        assert proc.returncode == 0, proc.log_path.read_text()
    assert os.path.exists(home)


def test_pocketstack_cli_multi_create_and_boot_from_volume(server, image_file):
    ps(server, "image", "create", "multi-img", "--file", str(image_file))
    rows = ps_json(server, "server", "create", "--image", "multi-img", "--flavor", "m1.nano",
                   "--min", "2", "--max", "2", "--wait", "many")
    assert len(rows) == 2 and {r["Status"] for r in rows} == {"ACTIVE"}
    s = ps_json(server, "server", "create", "--image", "multi-img", "--flavor", "m1.nano",
                "--boot-volume-size", "1", "--wait", "ps-bfv")
    assert s["status"] == "ACTIVE" and s["volumes_attached"]
    ps(server, "server", "delete", "--wait", *[r["ID"] for r in rows], "ps-bfv")
    ps(server, "image", "delete", "multi-img")


def test_server_logs_hold_no_password_or_token(server):
    from e2ehelp import PASSWORD
    tok = ps_json(server, "token", "issue")["id"]
    ps(server, "server", "show", "nope", check=False)  # an error path too
    logs = server.logs()
    assert PASSWORD not in logs and tok not in logs
    assert "serving on" in logs
