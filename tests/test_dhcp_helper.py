"""The privileged helper's DHCP commands, run as on the network node (`python3 -I <dir>`, from
a copy outside the project), with a real dnsmasq and busybox's udhcpc as the client in a
namespace of its own on a throwaway bridge: the client gets its fixed IP, router and MTU by
MAC, a MAC taken out of the hosts file gets nothing, teardown leaves nothing; bad input exits 2
and makes nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "backend" / "privileged"
STATE = Path("/var/lib/pocketstack/dhcp")
NID = "0f0e0d0c-0000-4000-8000-00000000d4c9"
PORT = "9a932351-9235-406a-98a3-ef68f683b880"


@pytest.fixture(scope="module")
def helper(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the DHCP helper tests need root (namespaces, dnsmasq)")
    for tool in ("dnsmasq", "busybox", "ip"):
        assert shutil.which(tool), f"{tool} missing: run scripts/setup.sh"
    d = tmp_path_factory.mktemp("helper") / "privileged"
    shutil.copytree(SRC, d, ignore=shutil.ignore_patterns("__pycache__"))
    return d


def run(helper, *args):
    return subprocess.run(["/usr/bin/python3", "-I", str(helper), *args], capture_output=True,
                          text=True, timeout=60)


def sh(*argv, check=True):
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def root_links() -> list[str]:
    return sorted(x["ifname"] for x in json.loads(sh("ip", "-j", "link", "show").stdout))


def netns() -> list[str]:
    return sorted(line.split()[0] for line in sh("ip", "netns", "list").stdout.splitlines())


def dnsmasq_alive(nid: str) -> list[int]:
    """dnsmasq processes (not zombies) serving nid."""
    out = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and (p / "comm").read_text().strip() == "dnsmasq" \
                    and nid.encode() in (p / "cmdline").read_bytes() \
                    and (p / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                out.append(int(p.name))
        except OSError:
            pass
    return out


@pytest.fixture
def bridge():
    name = f"brq{uuid.uuid4().hex[:8]}"
    sh("ip", "link", "add", name, "type", "bridge")
    sh("ip", "link", "set", name, "up")
    yield name
    sh("ip", "link", "del", name, check=False)


@pytest.fixture
def client(bridge):
    """A namespace with one veth on the bridge: (namespace, set_mac, dhcp())."""
    ns, outer = f"pst-c{uuid.uuid4().hex[:6]}", f"tap{uuid.uuid4().hex[:8]}"
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh("ip", "link", "set", outer, "master", bridge, "up")
    script = Path(f"/tmp/{ns}.sh")
    out = Path(f"/tmp/{ns}.lease")
    script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && echo "$ip $router $subnet $mtu $hostname" > {out}\n'
                      "exit 0\n")
    script.chmod(0o755)

    def dhcp(mac: str) -> str | None:
        out.unlink(missing_ok=True)
        sh("ip", "-n", ns, "link", "set", "eth0", "down")
        sh("ip", "-n", ns, "link", "set", "eth0", "address", mac, "up")
        sh("ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "eth0", "-f", "-n", "-q", "-t", "3",
           "-T", "1", "-s", str(script), check=False)
        return out.read_text().strip() if out.exists() else None
    yield dhcp
    sh("ip", "netns", "del", ns, check=False)
    sh("ip", "link", "del", outer, check=False)
    script.unlink(missing_ok=True)
    out.unlink(missing_ok=True)


def sync(helper, bridge, *hosts, address="10.77.0.2/24", gateway="10.77.0.1"):
    return run(helper, "dhcp-sync", NID, PORT, bridge, "fa:16:3e:00:00:02", address, gateway, "600",
               *hosts)


def test_dhcp_server_answers_by_mac_and_goes_without_a_trace(helper, bridge, client):
    a, b = "fa:16:3e:00:00:05", "fa:16:3e:00:00:06"
    p = sync(helper, bridge, f"{a},10.77.0.5,host-10-77-0-5", f"{b},10.77.0.6,host-10-77-0-6")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["dnsmasq"] == "started"
    try:
        assert f"qdhcp-{NID}" in netns() and len(dnsmasq_alive(NID)) == 1
        assert client(a) == "10.77.0.5 10.77.0.1 255.255.255.0 1450 host-10-77-0-5"
        leases = json.loads(run(helper, "dhcp-leases", NID).stdout)
        assert [(x["mac"], x["ip"]) for x in leases] == [(a, "10.77.0.5")]

        # b's port went: dnsmasq re-reads the hosts file (same process), b gets nothing
        pid = dnsmasq_alive(NID)
        p = sync(helper, bridge, f"{a},10.77.0.5,host-10-77-0-5")
        assert p.returncode == 0 and json.loads(p.stdout)["dnsmasq"] == "reloaded", p.stderr
        assert dnsmasq_alive(NID) == pid
        assert client(b) is None
        assert client(a).startswith("10.77.0.5 ")
    finally:
        p = run(helper, "dhcp-teardown", NID)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"dnsmasq_stopped": True, "namespace_removed": True}
    assert dnsmasq_alive(NID) == [] and f"qdhcp-{NID}" not in netns()
    assert not (STATE / NID).exists()
    assert not [x for x in root_links() if x == "tap" + PORT[:11]]  # the veth went with the namespace
    p = run(helper, "dhcp-teardown", NID)  # again: harmless
    assert p.returncode == 0 and json.loads(p.stdout) == {"dnsmasq_stopped": False, "namespace_removed": False}


def test_new_address_restarts_dnsmasq(helper, bridge, client):
    a = "fa:16:3e:00:00:07"
    try:
        assert sync(helper, bridge, f"{a},10.77.0.7,host-10-77-0-7").returncode == 0
        p = sync(helper, bridge, f"{a},10.77.0.7,host-10-77-0-7", address="10.77.0.3/24")
        assert p.returncode == 0 and json.loads(p.stdout)["dnsmasq"] == "started", p.stderr
        assert len(dnsmasq_alive(NID)) == 1
        addrs = sh("ip", "-n", f"qdhcp-{NID}", "-j", "addr", "show", "dev", "ns-" + PORT[:11]).stdout
        assert [i["local"] for i in json.loads(addrs)[0]["addr_info"] if i["family"] == "inet"] == ["10.77.0.3"]
        assert client(a).startswith("10.77.0.7 ")
    finally:
        run(helper, "dhcp-teardown", NID)


OK_HOST = "fa:16:3e:00:00:05,10.77.0.5,host-10-77-0-5"
BAD = [
    (["dhcp-sync", "../../etc", PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600"], "bad network id"),
    (["dhcp-sync", NID.upper(), PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600"], "bad network id"),
    (["dhcp-sync", NID, "p;touch MARK", "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600"], "bad port id"),
    (["dhcp-sync", NID, PORT, "eth0", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600"], "must start with one of brq"),
    (["dhcp-sync", NID, PORT, "brqx", "FA:16:3E:00:00:02", "10.77.0.2/24", "-", "600"], "bad MAC"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.300/24", "-", "600"], "bad IPv4 CIDR"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "10.78.0.1", "600"], "not in"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "0"], "bad lease time"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "1e3"], "bad lease time"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600",
      "fa:16:3e:00:00:05,10.77.0.5"], "must be MAC,IP,NAME"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600",
      "fa:16:3e:00:00:05,10.77.0.5,a;touch MARK"], "bad host name"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600",
      "fa:16:3e:00:00:05,10.77.0.5,x\nfa:16:3e:00:00:09,10.77.0.9,y"], "must be MAC,IP,NAME"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600",
      "fa:16:3e:00:00:05,10.77.0.5,x\n"], "bad host name"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600",
      "fa:16:3e:00:00:05\n,10.77.0.5,x"], "bad MAC"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02\n", "10.77.0.2/24", "-", "600"], "bad MAC"),
    (["dhcp-sync", NID + "\n", PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600"], "bad network id"),
    (["dhcp-sync", NID, PORT, "brqx\n", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600"], "bad interface name"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600",
      "fa:16:3e:00:00:05,10.99.0.5,far"], "is not in 10.77.0.0/24"),
    (["dhcp-sync", NID, PORT, "brqx", "fa:16:3e:00:00:02", "10.77.0.2/24", "-", "600",
      OK_HOST, "fa:16:3e:00:00:05,10.77.0.6,twice"], "given twice"),
    (["dhcp-sync", NID, PORT, "brqx"], "expected dhcp-sync"),
    (["dhcp-teardown", "../x"], "bad network id"),
    (["dhcp-teardown", NID, "extra"], "expected dhcp-teardown"),
    (["dhcp-leases"], "expected dhcp-leases"),
]


@pytest.mark.parametrize("args,why", BAD, ids=[" ".join(a)[:50] for a, _ in BAD])
def test_bad_input_exits_2_and_makes_nothing(helper, args, why, tmp_path):
    before = (root_links(), netns(), sorted(os.listdir(STATE)) if STATE.exists() else None)
    mark = tmp_path / "ran"
    p = run(helper, *[a.replace("MARK", str(mark)) for a in args])
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert why in p.stderr
    assert (root_links(), netns(), sorted(os.listdir(STATE)) if STATE.exists() else None) == before
    assert not mark.exists() and dnsmasq_alive(NID) == []


def test_sync_without_the_bridge_fails_and_makes_nothing(helper):
    before = (root_links(), netns())
    p = sync(helper, "brqnosuch0")
    assert p.returncode == 1 and "no bridge brqnosuch0" in p.stderr
    assert (root_links(), netns()) == before and not (STATE / NID).exists()


def test_leases_of_a_network_without_dhcp_is_empty(helper):
    p = run(helper, "dhcp-leases", NID)
    assert p.returncode == 0 and json.loads(p.stdout) == []
