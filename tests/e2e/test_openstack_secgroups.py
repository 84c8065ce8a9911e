"""The unmodified `openstack` CLI against `pocketstack serve`: security groups and rules
(create, list, show, delete), a server created in a group, `server add/remove security
group`, and the refusals the CLI shows (a group in use, a duplicate rule)."""
from __future__ import annotations

import json


def osc(server, *argv, check=True):
    return server.run("openstack", *argv, check=check)


def oj(server, *argv):
    return json.loads(osc(server, *argv, "-f", "json").stdout)


def test_openstack_cli_security_groups(server, image_file):
    g = oj(server, "security", "group", "create", "--description", "web servers", "web")
    assert g["name"] == "web" and g["description"] == "web servers"
    names = [x["Name"] for x in oj(server, "security", "group", "list")]
    assert "web" in names and "default" in names
    rule = oj(server, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
              "--remote-ip", "10.0.0.0/8", "web")
    assert (rule["protocol"], rule["port_range_min"], rule["port_range_max"], rule["direction"]) == (
        "tcp", 22, 22, "ingress")
    assert rule["remote_ip_prefix"] == "10.0.0.0/8"
    again = osc(server, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
                "--remote-ip", "10.0.0.0/8", "web", check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    shown = oj(server, "security", "group", "show", "web")
    assert rule["id"] in [r["id"] for r in shown["rules"]]
    rules = oj(server, "security", "group", "rule", "list", "web")
    assert rule["id"] in [r["ID"] for r in rules]

    osc(server, "image", "create", "--file", str(image_file), "--disk-format", "raw",
        "--container-format", "bare", "sg-img")
    s = oj(server, "server", "create", "--image", "sg-img", "--flavor", "m1.nano", "--network", "private",
           "--security-group", "web", "--wait", "sg-vm")
    assert s["status"] == "ACTIVE"
    shown = oj(server, "server", "show", "sg-vm")
    assert "web" in json.dumps(shown["security_groups"])
    port = oj(server, "port", "list", "--server", "sg-vm")[0]
    assert oj(server, "port", "show", port["ID"])["security_group_ids"] == [g["id"]]

    osc(server, "security", "group", "create", "db")
    osc(server, "server", "add", "security", "group", "sg-vm", "db")
    assert "db" in json.dumps(oj(server, "server", "show", "sg-vm")["security_groups"])
    busy = osc(server, "security", "group", "delete", "db", check=False)
    assert busy.returncode != 0 and "in use" in busy.stderr
    osc(server, "server", "remove", "security", "group", "sg-vm", "db")
    assert "db" not in json.dumps(oj(server, "server", "show", "sg-vm")["security_groups"])
    osc(server, "security", "group", "delete", "db")

    osc(server, "server", "delete", "--wait", "sg-vm")
    osc(server, "security", "group", "rule", "delete", rule["id"])
    osc(server, "security", "group", "delete", "web")
    assert "web" not in [x["Name"] for x in oj(server, "security", "group", "list")]
    osc(server, "image", "delete", "sg-img")
