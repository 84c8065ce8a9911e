"""Quotas with the unmodified `openstack` CLI against `pocketstack serve`: an admin raises a
project's instances to 12 (`openstack quota set`), its member then runs 11 servers, and
`openstack quota show` and `limits show` report it; over the limit every service answers as
upstream."""
from __future__ import annotations

import json
import subprocess

from e2ehelp import BIN


def osc(server, *argv, who=None, check=True):
    env = dict(server.env)
    if who:
        env.update({"OS_USERNAME": who[0], "OS_PASSWORD": who[1], "OS_PROJECT_NAME": who[2]})
    p = subprocess.run([str(BIN / "openstack"), *argv], env=env, capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"openstack {' '.join(argv)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def osc_json(server, *argv, who=None):
    return json.loads(osc(server, *argv, "-f", "json", who=who).stdout)


def test_quota_set_instances_12_then_11_servers_and_quota_show(server, image_file):
    member = ("q-user", "q-pw-1", "q-proj")
    pid = osc_json(server, "project", "create", "q-proj")["id"]
    osc(server, "user", "create", "--password", "q-pw-1", "--project", "q-proj", "q-user")
    osc(server, "role", "add", "--project", "q-proj", "--user", "q-user", "member")
    osc(server, "image", "create", "--file", str(image_file), "--disk-format", "raw", "--public", "q-img")
    create = ("server", "create", "--image", "q-img", "--flavor", "m1.nano", "--network", "private")

    p = osc(server, *create, "--min", "11", "--max", "11", "q", who=member, check=False)
    assert p.returncode != 0
    assert "Quota exceeded for instances: Requested 11, but already used 0 of 10 instances" in p.stderr
    assert osc_json(server, "server", "list", who=member) == []

    osc(server, "quota", "set", "--instances", "12", "q-proj")
    shown = {r["Resource"]: r["Limit"] for r in osc_json(server, "quota", "show", "q-proj")}
    assert shown["instances"] == 12 and shown["cores"] == 20 and shown["ports"] == 500
    assert shown["volumes"] == 10 and shown["gigabytes"] == 1000 and shown["networks"] == 100

    osc(server, *create, "--min", "11", "--max", "11", "q", who=member)
    assert len(osc_json(server, "server", "list", who=member)) == 11
    usage = {r["Resource"]: r for r in osc_json(server, "quota", "show", "--usage", "q-proj")}
    assert usage["instances"]["Limit"] == 12 and usage["instances"]["In Use"] == 11
    assert usage["cores"]["In Use"] == 11 and usage["ram"]["In Use"] == 11 * 128
    assert usage["ports"]["In Use"] == 11
    lim = {r["Name"]: r["Value"] for r in osc_json(server, "limits", "show", "--absolute", who=member)}
    assert lim["instances"] == 12 and lim["instances_used"] == 11 and lim["server_groups"] == 10

    p = osc(server, *create, "--min", "2", "--max", "2", "q2", who=member, check=False)
    assert p.returncode != 0
    assert "Quota exceeded for instances: Requested 2, but already used 11 of 12 instances" in p.stderr
    p = osc(server, "quota", "set", "--instances", "50", "q-proj", who=member, check=False)
    assert p.returncode != 0 and "403" in p.stderr

    # neutron: 409 OverQuota on the shared network once the member's ports reach the limit
    osc(server, "quota", "set", "--ports", "11", "q-proj")
    p = osc(server, "port", "create", "--network", "private", "q-port", who=member, check=False)
    assert p.returncode != 0 and "Quota exceeded for resources: ['port']" in p.stderr
    # cinder: 413 with its message
    osc(server, "quota", "set", "--volumes", "1", "q-proj")
    osc(server, "volume", "create", "--size", "1", "q-vol", who=member)
    p = osc(server, "volume", "create", "--size", "1", "q-vol2", who=member, check=False)
    assert p.returncode != 0 and "Maximum number of volumes allowed (1) exceeded" in p.stderr
    shown = {r["Resource"]: r["Limit"] for r in osc_json(server, "quota", "show", "q-proj")}
    assert (shown["instances"], shown["ports"], shown["volumes"]) == (12, 11, 1)

    osc(server, "quota", "delete", "q-proj")
    shown = {r["Resource"]: r["Limit"] for r in osc_json(server, "quota", "show", "q-proj")}
    assert (shown["instances"], shown["ports"], shown["volumes"]) == (10, 500, 10)
    assert {r["Resource"]: r["Limit"] for r in osc_json(server, "quota", "show", pid)}["instances"] == 10
