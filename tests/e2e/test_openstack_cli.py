"""The unmodified `openstack` CLI against `pocketstack serve`: token issue, image create from
a file, server create --wait, list, show, event list, stop, start, console log, delete --wait."""
from __future__ import annotations

import json
import time


def osc(server, *argv, check=True):
    return server.run("openstack", *argv, check=check)


def osc_json(server, *argv):
    return json.loads(osc(server, *argv, "-f", "json").stdout)


def wait_status(server, name, status, timeout=30):
    end = time.monotonic() + timeout
    while True:
        s = osc_json(server, "server", "show", name)
        if s["status"] == status and not s.get("OS-EXT-STS:task_state"):
            return s
        assert time.monotonic() < end, f"{name} is {s['status']}"
        time.sleep(0.3)


def test_openstack_cli_server_life(server, image_file):
    tok = osc_json(server, "token", "issue")
    assert tok["id"] and tok["project_id"] and tok["expires"]

    img = osc_json(server, "image", "create", "--file", str(image_file), "--disk-format", "raw",
                   "--container-format", "bare", "osc-img")
    assert img["status"] == "active" and img["size"] == image_file.stat().st_size

    s = osc_json(server, "server", "create", "--image", "osc-img", "--flavor", "m1.nano",
                 "--network", "private", "--wait", "osc-vm")
    assert s["status"] == "ACTIVE" and s["name"] == "osc-vm"
    assert s["addresses"]["private"][0].startswith("10.0.0.")

    rows = osc_json(server, "server", "list")
    row = next(r for r in rows if r["Name"] == "osc-vm")
    assert row["Status"] == "ACTIVE" and row["Image"] == "osc-img" and row["Flavor"] == "m1.nano"

    shown = osc_json(server, "server", "show", "osc-vm")
    assert shown["id"] == s["id"] and shown["OS-EXT-STS:vm_state"] == "active"
    assert shown["OS-EXT-SRV-ATTR:host"] in ("fake-1", "fake-2")

    events = osc_json(server, "server", "event", "list", "osc-vm")
    assert [e["Action"] for e in events] == ["create"]
    req = events[0]["Request ID"]
    ev = osc_json(server, "server", "event", "show", "osc-vm", req)
    assert ev["action"] == "create" and ev["events"]

    osc(server, "server", "stop", "osc-vm")
    assert wait_status(server, "osc-vm", "SHUTOFF")["OS-EXT-STS:power_state"] in ("Shutdown", 4)
    osc(server, "server", "start", "osc-vm")
    wait_status(server, "osc-vm", "ACTIVE")
    log = osc(server, "console", "log", "show", "osc-vm")
    assert log.returncode == 0

    osc(server, "server", "delete", "--wait", "osc-vm")
    assert "osc-vm" not in [r["Name"] for r in osc_json(server, "server", "list")]
    osc(server, "image", "delete", "osc-img")


def test_openstack_cli_lists_and_admin(server):
    assert {"m1.nano", "m1.small"} <= {f["Name"] for f in osc_json(server, "flavor", "list")}
    assert "private" in [n["Name"] for n in osc_json(server, "network", "list")]
    hyp = osc_json(server, "hypervisor", "list")
    assert {h["Hypervisor Hostname"] for h in hyp} == {"fake-1", "fake-2"}
    osc(server, "project", "create", "osc-proj")
    osc(server, "user", "create", "--password", "pw-1", "--project", "osc-proj", "osc-user")
    osc(server, "role", "add", "--project", "osc-proj", "--user", "osc-user", "member")
    ra = osc_json(server, "role", "assignment", "list", "--user", "osc-user", "--names")
    assert any(a["Role"] == "member" for a in ra)


def test_openstack_cli_error_is_clear(server):
    p = osc(server, "server", "show", "no-such-server", check=False)
    assert p.returncode != 0 and "no-such-server" in p.stderr


def test_openstack_cli_volumes_boot_from_volume_and_limits(server, image_file):
    osc(server, "image", "create", "--file", str(image_file), "--disk-format", "raw", "bfv-img")
    vol = osc_json(server, "volume", "create", "--size", "1", "osc-vol")
    assert vol["size"] == 1 and vol["name"] == "osc-vol"
    assert "osc-vol" in [v["Name"] for v in osc_json(server, "volume", "list")]
    s = osc_json(server, "server", "create", "--image", "bfv-img", "--flavor", "m1.nano",
                 "--boot-from-volume", "2", "--wait", "osc-bfv")
    assert s["status"] == "ACTIVE" and s["volumes_attached"]
    row = next(r for r in osc_json(server, "server", "list") if r["Name"] == "osc-bfv")
    assert row["Image"] == "N/A (booted from volume)"
    lim = osc_json(server, "limits", "show", "--absolute")
    assert any(x["Name"] == "instances_used" and x["Value"] >= 1 for x in lim)
    hyp = osc_json(server, "hypervisor", "show", "fake-1")
    assert hyp["state"] == "up" and hyp["vcpus"] == 8
    osc(server, "server", "delete", "--wait", "osc-bfv")
    osc(server, "volume", "delete", "osc-vol")
    osc(server, "image", "delete", "bfv-img")
