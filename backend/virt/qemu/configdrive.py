"""The config drive, as nova writes it (nova/virt/configdrive.py, nova/virt/netutils.py):
an ISO9660 volume labelled config-2 with openstack/latest/meta_data.json,
network_data.json and, when the server has one, user_data (decoded, as nova writes it).
Built on the control side with genisoimage, then copied to the host.

The JSON is written one key per line: the tiny guest's busybox init has no JSON parser and
picks values out with sed; the instance name (user input) only ever appears JSON-escaped.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import subprocess
import tempfile
from pathlib import Path


def meta_data(guest) -> dict:
    # user-chosen keys (meta, public_keys) stay after hostname: the tiny guest takes the first match
    return {"uuid": guest.uuid, "name": guest.name, "hostname": guest.hostname,
            "project_id": guest.project_id, "availability_zone": guest.availability_zone,
            "launch_index": 0, "meta": dict(guest.metadata), "public_keys": dict(guest.public_keys),
            "devices": []}


def _netmask(vif: dict) -> str | None:
    if vif.get("cidr"):
        return str(ipaddress.ip_network(vif["cidr"], strict=False).netmask)
    if vif.get("prefixlen") is not None:
        return str(ipaddress.ip_network(f"0.0.0.0/{vif['prefixlen']}").netmask)
    return None


def network_data(guest) -> dict:
    links, networks = [], []
    for i, vif in enumerate(guest.network_info):
        port = str(vif.get("port_id") or f"port{i}")
        link_id = f"tap{port[:11]}"
        links.append({"id": link_id, "vif_id": port, "type": "phy", "mtu": 1500,
                      "ethernet_mac_address": vif["mac_address"]})
        if not vif.get("fixed_ip"):
            continue
        net = {"id": f"network{i}", "type": "ipv4", "link": link_id,
               "ip_address": vif["fixed_ip"], "netmask": _netmask(vif) or "255.255.255.0",
               "routes": [], "network_id": vif.get("network_id"), "services": []}
        if vif.get("gateway"):
            net["routes"].append({"network": "0.0.0.0", "netmask": "0.0.0.0",
                                  "gateway": vif["gateway"]})
        networks.append(net)
    return {"links": links, "networks": networks, "services": []}


def user_data(guest) -> bytes | None:
    """The bytes the user gave (the API checked the base64 before it stored it)."""
    text = getattr(guest, "user_data", None)
    if not text:
        return None
    return base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)


def build(guest, out: Path) -> int:
    """Write the ISO to out; returns its size."""
    with tempfile.TemporaryDirectory(prefix="configdrive-") as tmp:
        latest = Path(tmp, "openstack", "latest")
        latest.mkdir(parents=True)
        (latest / "meta_data.json").write_text(json.dumps(meta_data(guest), indent=1))
        (latest / "network_data.json").write_text(json.dumps(network_data(guest), indent=1))
        ud = user_data(guest)
        if ud is not None:
            (latest / "user_data").write_bytes(ud)
        p = subprocess.run(["genisoimage", "-quiet", "-o", str(out), "-V", "config-2", "-r", "-J",
                            "-input-charset", "utf-8", tmp], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"genisoimage failed: {p.stderr.strip()[-300:]}")
    return out.stat().st_size
