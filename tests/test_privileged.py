"""The privileged helper, run as it runs on a host (`python3 -I <dir> <command> <args...>`,
from a copy outside the project: it must stand alone), inside a throwaway network namespace:
bad input exits 2 and makes nothing; plug and unplug are idempotent and leave nothing."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "backend" / "privileged"


@pytest.fixture(scope="module")
def helper(tmp_path_factory):
    d = tmp_path_factory.mktemp("helper") / "privileged"
    shutil.copytree(SRC, d, ignore=shutil.ignore_patterns("__pycache__"))
    return d


@pytest.fixture
def ns():
    name = f"pst-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=True)


def run(helper, ns, *args):
    return subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-I", str(helper), *args],
                          capture_output=True, text=True, timeout=60)


def listing(helper, ns) -> dict:
    p = run(helper, ns, "list")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def links(ns) -> list[str]:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return sorted(x["ifname"] for x in json.loads(out))


BAD = [
    (["no-such-command"], "unknown command"),
    (["plug-port", "brq;touch MARK", "7", "10.9.0.1", "tapa", "pocketstack"], "bad interface name"),
    (["plug-port", "brqa", "7", "10.9.0.1", "tap$(touch MARK)", "pocketstack"], "bad interface name"),
    (["plug-port", "eth0", "7", "10.9.0.1", "tapa", "pocketstack"], "must start with one of brq"),
    (["plug-port", "brqa", "7", "10.9.0.1", "brqb", "pocketstack"], "must start with one of tap"),
    (["plug-port", "brqa", "7", "10.9.0.1", "tapaaaaaaaaaaaaaaaa", "pocketstack"], "bad interface name"),
    (["plug-port", "brqa", "0", "10.9.0.1", "tapa", "pocketstack"], "bad VNI"),
    # a trailing newline would end a line of `ip -batch` input and start another command
    (["plug-port", "brqa\nlink del eth0", "7", "10.9.0.1", "tapa", "pocketstack"], "bad interface name"),
    (["plug-port", "brqa", "7", "10.9.0.1", "tapa\n", "pocketstack"], "bad interface name"),
    (["plug-port", "brqa", "7", "10.9.0.1", "tapa", "pocketstack\n"], "bad user name"),
    (["plug-port", "brqa", "\u0663", "10.9.0.1", "tapa", "pocketstack"], "bad VNI"),
    (["plug-port", "brqa", "16777216", "10.9.0.1", "tapa", "pocketstack"], "bad VNI"),
    (["plug-port", "brqa", "-1", "10.9.0.1", "tapa", "pocketstack"], "bad VNI"),
    (["plug-port", "brqa", "1e3", "10.9.0.1", "tapa", "pocketstack"], "bad VNI"),
    (["plug-port", "brqa", "7", "10.9.0.300", "tapa", "pocketstack"], "bad IPv4 address"),
    (["plug-port", "brqa", "7", "10.9.0.1", "tapa", "root;id"], "bad user name"),
    (["plug-port", "brqa", "7", "10.9.0.1", "tapa", "pocketstack", "10.9.0.2", "evil`x`"],
     "bad IPv4 address"),
    (["plug-port", "brqa", "7"], "expected plug-port"),
    (["plug-network", "brqa", "7", "10.9.0.1", "::1"], "bad IPv4 address"),
    (["set-flood", "99999999"], "bad VNI"),
    (["unplug-port", "tapa", "brqa", "7", "extra"], "expected unplug-port"),
    (["list", "now"], "expected list"),
]


@pytest.mark.parametrize("args,why", BAD, ids=[" ".join(a)[:40] for a, _ in BAD])
def test_bad_input_exits_2_and_makes_nothing(helper, ns, args, why, tmp_path):
    before = links(ns)
    mark = tmp_path / "ran"
    p = run(helper, ns, *[a.replace("MARK", str(mark)) for a in args])
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert why in p.stderr
    assert links(ns) == before
    assert not mark.exists()


def test_no_shell_and_no_backend_imports():
    for f in SRC.glob("*.py"):
        text = f.read_text()
        assert "shell=True" not in text, f
        assert "import backend" not in text and "from backend" not in text, f
        assert "os.system" not in text and "os.popen" not in text, f


def test_plug_unplug_port_is_idempotent_and_leaves_nothing(helper, ns):
    args = ["plug-port", "brqnet1", "4001", "10.9.0.1", "tapport1", "pocketstack", "10.9.0.2",
            "10.9.0.3", "10.9.0.1"]
    for _ in range(2):
        p = run(helper, ns, *args)
        assert p.returncode == 0, p.stderr
    got = listing(helper, ns)
    assert got["bridges"] == {"brqnet1": {"ports": ["vxlan-4001", "tapport1"]}}
    assert got["vxlans"]["vxlan-4001"] == {"vni": 4001, "local": "10.9.0.1", "master": "brqnet1",
                                           "flood": ["10.9.0.2", "10.9.0.3"]}
    assert got["taps"]["tapport1"] == {"master": "brqnet1", "mtu": 1450}
    # the tap belongs to the unprivileged user (qemu opens it as that user)
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", "/sys/class/net/tapport1/owner"],
                         capture_output=True, text=True)
    assert int(out.stdout) == pwd.getpwnam("pocketstack").pw_uid
    # a second port on the network, then the first goes: the bridge stays
    assert run(helper, ns, "plug-tap", "tapport2", "brqnet1", "pocketstack").returncode == 0
    p = run(helper, ns, "unplug-port", "tapport1", "brqnet1", "4001")
    assert p.returncode == 0 and json.loads(p.stdout) == {"removed": False, "ports": ["tapport2"]}
    # the flooding list is replaced, never appended to twice
    assert run(helper, ns, "set-flood", "4001", "10.9.0.3", "10.9.0.4").returncode == 0
    assert listing(helper, ns)["vxlans"]["vxlan-4001"]["flood"] == ["10.9.0.3", "10.9.0.4"]
    # the last port goes: so do the bridge and the VXLAN
    for _ in range(2):
        p = run(helper, ns, "unplug-port", "tapport2", "brqnet1", "4001")
        assert p.returncode == 0 and json.loads(p.stdout)["removed"] is True, p.stderr
    got = listing(helper, ns)
    assert (got["bridges"], got["vxlans"], got["taps"]) == ({}, {}, {})
    assert links(ns) == ["lo"]


def test_set_flood_on_an_absent_network_makes_nothing(helper, ns):
    p = run(helper, ns, "set-flood", "4002", "10.9.0.2")
    assert p.returncode == 0 and json.loads(p.stdout) == {"vxlan": None}
    assert links(ns) == ["lo"]


def test_refuses_to_take_over_what_is_not_ours(helper, ns):
    # a VXLAN of that VNI on another bridge, and a non-tap where a tap should be
    assert run(helper, ns, "plug-network", "brqneta", "4003", "10.9.0.1").returncode == 0
    p = run(helper, ns, "plug-network", "brqnetb", "4003", "10.9.0.1")
    assert p.returncode == 1 and "belongs to bridge brqneta" in p.stderr
    subprocess.run(["ip", "-n", ns, "link", "add", "tapfake", "type", "bridge"], check=True)
    p = run(helper, ns, "unplug-port", "tapfake", "brqneta", "4003")
    assert p.returncode == 1 and "not a tap" in p.stderr
    assert "tapfake" in links(ns)


def test_runs_as_the_hosts_run_it_from_its_own_directory(helper):
    """`python3 -I DIR` (no project on the path, no environment) finds the sibling modules."""
    p = subprocess.run(["/usr/bin/python3", "-I", str(helper), "list"], capture_output=True,
                       text=True, cwd="/", env={"PATH": os.environ["PATH"]})
    assert p.returncode == 0, p.stderr
    assert set(json.loads(p.stdout)) >= {"bridges", "vxlans", "taps", "netns", "dnsmasq"}


def test_concurrent_flood_updates_both_succeed(helper, ns):
    """Two updates of one flooding list at once (the network node's, say): an entry the other
    removed first is not an error, and the list ends as asked."""
    assert run(helper, ns, "plug-network", "brqnetc", "4004", "10.9.0.1", "10.9.0.2", "10.9.0.3").returncode == 0
    for round_ in range(5):
        want = ["10.9.0.4", "10.9.0.5"] if round_ % 2 == 0 else ["10.9.0.2", "10.9.0.3"]
        procs = [subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-I", str(helper), "set-flood",
                                   "4004", *want], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        assert listing(helper, ns)["vxlans"]["vxlan-4004"]["flood"] == want
