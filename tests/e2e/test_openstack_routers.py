"""The unmodified `openstack` CLI against `pocketstack serve` for routers and floating IPs:
network create --external, router create, router set --external-gateway, router add subnet,
floating ip create, server add floating ip (openstackclient sends neutron's PUT on the
floating IP), server show listing it, server remove floating ip, and the clean-up in reverse."""
from __future__ import annotations

import json


def osc(server, *argv, check=True):
    return server.run("openstack", *argv, check=check)


def osc_json(server, *argv):
    return json.loads(osc(server, *argv, "-f", "json").stdout)


def test_router_and_floating_ip_with_the_openstack_cli(server, image_file):
    ext = osc_json(server, "network", "create", "--external", "public")
    assert ext["router:external"] in (True, "External")
    osc(server, "subnet", "create", "--network", "public", "--subnet-range", "172.24.4.0/24", "public-subnet")
    osc(server, "network", "create", "lan")
    osc(server, "subnet", "create", "--network", "lan", "--subnet-range", "10.70.0.0/24", "lan-subnet")
    r = osc_json(server, "router", "create", "edge")
    assert r["name"] == "edge" and r["status"] == "ACTIVE"
    osc(server, "router", "set", "--external-gateway", "public", "edge")
    osc(server, "router", "add", "subnet", "edge", "lan-subnet")
    shown = osc_json(server, "router", "show", "edge")
    gw = shown["external_gateway_info"]
    gw = json.loads(gw) if isinstance(gw, str) else gw
    assert gw["network_id"] == ext["id"] and gw["external_fixed_ips"][0]["ip_address"].startswith("172.24.4.")
    ports = osc_json(server, "port", "list", "--router", "edge", "--long")
    assert sorted(p["Device Owner"] for p in ports) == ["network:router_gateway", "network:router_interface"]

    osc(server, "image", "create", "--file", str(image_file), "--disk-format", "raw", "--container-format", "bare",
        "fip-img")
    s = osc_json(server, "server", "create", "--image", "fip-img", "--flavor", "m1.nano", "--network", "lan",
                 "--wait", "fip-vm")
    fip = osc_json(server, "floating", "ip", "create", "public")
    addr = fip["floating_ip_address"]
    assert addr.startswith("172.24.4.") and fip["status"] == "DOWN"
    osc(server, "server", "add", "floating", "ip", "fip-vm", addr)
    got = osc_json(server, "floating", "ip", "show", addr)
    assert got["port_id"] and got["fixed_ip_address"].startswith("10.70.0.") and got["status"] == "ACTIVE"
    assert addr in json.dumps(osc_json(server, "server", "show", "fip-vm")["addresses"])
    # the CLI's list shows the association
    rows = osc_json(server, "floating", "ip", "list")
    assert [(r["Floating IP Address"], r["Fixed IP Address"]) for r in rows] == [(addr, got["fixed_ip_address"])]

    osc(server, "server", "remove", "floating", "ip", "fip-vm", addr)
    assert osc_json(server, "floating", "ip", "show", addr)["port_id"] is None
    # a router with an interface cannot go: neutron's RouterInUse, said by the CLI
    p = osc(server, "router", "delete", "edge", check=False)
    assert p.returncode != 0 and "still has ports" in p.stderr
    osc(server, "floating", "ip", "delete", addr)
    osc(server, "server", "delete", "--wait", s["id"])
    osc(server, "router", "remove", "subnet", "edge", "lan-subnet")
    osc(server, "router", "unset", "--external-gateway", "edge")
    osc(server, "router", "delete", "edge")
    assert osc_json(server, "router", "list") == []
    osc(server, "network", "delete", "lan")
    osc(server, "network", "delete", "public")
