"""The unmodified `openstack` CLI: `server create --user-data FILE` reaches the hypervisor
(the fake driver's console log says how many bytes arrived and their sha256)."""
from __future__ import annotations

import hashlib
import json


def osc(server, *argv, check=True):
    return server.run("openstack", *argv, check=check)


def test_openstack_cli_user_data(server, image_file, tmp_path):
    script = b"#!/bin/sh\necho hello-$(hostname)\n"
    f = tmp_path / "ud.sh"
    f.write_bytes(script)
    osc(server, "image", "create", "--file", str(image_file), "--disk-format", "raw",
        "--container-format", "bare", "ud-img")
    s = json.loads(osc(server, "server", "create", "--image", "ud-img", "--flavor", "m1.nano",
                       "--network", "private", "--user-data", str(f), "--wait", "ud-vm",
                       "-f", "json").stdout)
    assert s["status"] == "ACTIVE"
    log = osc(server, "console", "log", "show", "ud-vm").stdout
    assert f"user_data: {len(script)} bytes sha256 {hashlib.sha256(script).hexdigest()}" in log
    osc(server, "server", "delete", "--wait", "ud-vm")
    osc(server, "image", "delete", "ud-img")
