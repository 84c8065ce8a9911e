"""The privileged helper's L3 commands, run as on the network node (`python3 -I <copy>
<command> ...`, on this machine, under the real suite's lock; every name made is this
test's own and removed after it): a router namespace with a leg on a tenant bridge and one on the external bridge answers ping on
its floating IP (DNAT to a 'guest' namespace) and SNATs the guest out; without the floating
IP nothing answers; unplug leaves no namespace, leg, address or nft table. Bad arguments exit
2 and make nothing."""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "backend" / "privileged"


@pytest.fixture(scope="module")
def helper(tmp_path_factory):
    d = tmp_path_factory.mktemp("helper") / "privileged"
    shutil.copytree(SRC, d, ignore=shutil.ignore_patterns("__pycache__"))
    return d


def sh(*argv, check=True):
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture
def node():
    """This test's names on the control machine: a tenant bridge with a 'guest' namespace on
    it (10.99.0.5/24, default route via the router's 10.99.0.1), an external bridge name and a
    router namespace name; all removed afterwards whatever happened."""
    tag = uuid.uuid4().hex[:8]
    n = {"tag": tag, "guest": f"pstg-{tag}", "bridge": f"brqt{tag}", "ext": f"psx{tag}", "ns": f"qrouter-{tag}",
         "gw": (f"qg-g{tag}", f"tapg{tag}"), "leg": (f"qr-i{tag}", f"tapi{tag}"), "vm": f"tapv{tag}"}
    sh("ip", "netns", "add", n["guest"])
    sh("ip", "link", "add", n["bridge"], "type", "bridge")
    sh("ip", "link", "set", n["bridge"], "up")
    sh("ip", "link", "add", n["vm"], "type", "veth", "peer", "name", "eth0", "netns", n["guest"])
    sh("ip", "link", "set", n["vm"], "master", n["bridge"], "up")
    for cmd in (["addr", "add", "10.99.0.5/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                ["link", "set", "lo", "up"], ["route", "add", "default", "via", "10.99.0.1"]):
        sh("ip", "-n", n["guest"], *cmd)
    yield n
    sh("ip", "netns", "del", n["ns"], check=False)
    sh("ip", "netns", "del", n["guest"], check=False)
    for link in (n["bridge"], n["ext"], n["gw"][1], n["leg"][1], n["vm"]):
        sh("ip", "link", "del", link, check=False)
    sh("nft", "delete", "table", "inet", f"pocketstack_ext_{n['ext']}", check=False)


def run(helper, node, *args):
    return sh("/usr/bin/python3", "-I", str(helper), *args, check=False)


def own_links(node) -> list[str]:
    links = json.loads(sh("ip", "-j", "link", "show").stdout)
    return sorted(x["ifname"] for x in links if node["tag"] in x["ifname"])


def ping(ns, addr) -> bool:
    pre = ["ip", "netns", "exec", ns] if ns else []
    return sh(*pre, "busybox", "ping", "-c", "1", "-W", "2", addr, check=False).returncode == 0


def listing(helper, node) -> dict:
    p = run(helper, node, "list-routers")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    # only this test's (the machine may have others)
    return {"routers": {k: v for k, v in out["routers"].items() if k == node["ns"]},
            "external": {k: v for k, v in out["external"].items() if k == node["ext"]},
            "host_nft": [t for t in out["host_nft"] if t.endswith(node["ext"])]}


def sync_args(n, fips=()):
    args = ["sync-router", n["ns"],
            "--gateway", *n["gw"], n["ext"], "fa:16:3e:00:00:01", "172.31.254.10/24", "172.31.254.1",
            "--leg", *n["leg"], n["bridge"], "fa:16:3e:00:00:02", "10.99.0.1/24",
            "--snat", "10.99.0.0/24"]
    for fip, fixed in fips:
        args += ["--fip", fip, fixed]
    return args


def test_floating_ip_answers_until_removed_and_unplug_leaves_nothing(helper, node):
    ns, ext, (qg, tapg), (qr, _) = node["ns"], node["ext"], node["gw"], node["leg"]
    p = run(helper, node, "ensure-external", ext, "172.31.254.1/24")
    assert p.returncode == 0, p.stderr
    fip = [("172.31.254.20", "10.99.0.5")]
    p = run(helper, node, *sync_args(node, fip))
    assert p.returncode == 0, p.stderr
    p = run(helper, node, *sync_args(node, fip))  # idempotent
    assert p.returncode == 0, p.stderr
    got = listing(helper, node)
    assert got["routers"][ns] == {"default": ["172.31.254.1"], "nft": ["ip pocketstack_l3"], "legs": {
        qg: ["172.31.254.10/24", "172.31.254.20/32"], qr: ["10.99.0.1/24"]}}
    assert got["external"] == {ext: {"addresses": ["172.31.254.1/24"], "ports": [tapg]}}
    assert got["host_nft"] == [f"inet pocketstack_ext_{ext}"]
    assert ping(None, "172.31.254.20")           # the control machine reaches the guest (DNAT)
    assert ping(node["guest"], "172.31.254.1")   # the guest reaches out (SNAT)
    rules = sh("ip", "netns", "exec", ns, "nft", "list", "table", "ip", "pocketstack_l3").stdout
    assert "dnat to 10.99.0.5" in rules and "snat to 172.31.254.20" in rules and "snat to 172.31.254.10" in rules
    p = run(helper, node, *sync_args(node))
    assert p.returncode == 0, p.stderr
    assert listing(helper, node)["routers"][ns]["legs"][qg] == ["172.31.254.10/24"]
    assert not ping(None, "172.31.254.20")
    assert run(helper, node, "unplug-router", ns).returncode == 0
    assert run(helper, node, "unplug-router", ns).returncode == 0  # idempotent
    p = run(helper, node, "remove-external", ext)
    assert p.returncode == 0 and json.loads(p.stdout)["removed"] is True, p.stdout + p.stderr
    assert listing(helper, node) == {"routers": {}, "external": {}, "host_nft": []}
    assert ns not in sh("ip", "netns", "list").stdout
    assert own_links(node) == sorted([node["bridge"], node["vm"]])


BAD = [
    (["sync-router", "qrouter-bad"], "bad router namespace"),
    (["sync-router", "qdhcp-12345678"], "bad namespace name"),
    (["sync-router", "qrouter-12345678", "--snat", "10.0.0.0/24"], "need --gateway"),
    (["sync-router", "qrouter-12345678", "--leg", "qr-a", "tapa", "brqa", "fa:16:3e:00:00:01"], "takes 5 values"),
    (["sync-router", "qrouter-12345678", "--leg", "qr-a;reboot", "tapa", "brqa", "fa:16:3e:00:00:01", "10.0.0.1/24"],
     "bad interface name"),
    (["sync-router", "qrouter-12345678", "--leg", "eth0", "tapa", "brqa", "fa:16:3e:00:00:01", "10.0.0.1/24"],
     "must start with one of qr-"),
    (["sync-router", "qrouter-12345678", "--leg", "qr-a", "tapa", "eth0", "fa:16:3e:00:00:01", "10.0.0.1/24"],
     "must start with one of brq"),
    (["sync-router", "qrouter-12345678", "--leg", "qr-a", "tapa", "brqa", "fa:16:3e:00:00:01", "10.0.0.300/24"],
     "bad IPv4 CIDR"),
    (["sync-router", "qrouter-12345678", "--gateway", "qg-a", "tapa", "brqa", "fa:16:3e:00:00:01", "1.2.3.4/24",
      "1.2.3.1"], "must start with one of psx"),
    (["sync-router", "qrouter-12345678", "--gateway", "qg-a", "tapa", "psxa", "fa:16:3e:00:00:01", "1.2.3.4/24",
      "1.2.3.1", "--fip", "1.2.3.9", "$(id)"], "bad IPv4 address"),
    (["sync-router", "qrouter-12345678", "--snat", "10.0.0.1/24"], "bad IPv4 CIDR"),
    (["sync-router", "qrouter-12345678", "--route", "x"], "unknown option"),
    (["ensure-external", "brqa", "1.2.3.1/24"], "must start with one of psx"),
    (["ensure-external", "psxa"], "expected ensure-external"),
    (["unplug-router", "qrouter-12345678", "extra"], "expected unplug-router"),
    (["list-routers", "x"], "expected list-routers"),
]


@pytest.mark.parametrize("args,words", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_arguments_exit_2_and_make_nothing(helper, node, args, words):
    p = run(helper, node, *args)
    assert p.returncode == 2 and words in p.stderr, (p.returncode, p.stderr)
    # nothing of what the arguments name was made (the machine's other links may change meanwhile)
    names = {x["ifname"] for x in json.loads(sh("ip", "-j", "link", "show").stdout)}
    assert not names & {"qr-a", "qg-a", "tapa", "brqa", "psxa"}
    assert "qrouter-12345678" not in sh("ip", "netns", "list").stdout
    assert "pocketstack_ext_psxa" not in sh("nft", "list", "tables").stdout
