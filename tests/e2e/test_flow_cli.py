"""`pocketstack server flow NAME` against `pocketstack serve`, for an instance the unmodified
`openstack` CLI created: the six steps, the token of step 1, the states, the messages."""
from __future__ import annotations

import json
import time


def run_json(server, *argv):
    return json.loads(server.run(*argv, "-f", "json").stdout)


def test_flow_of_an_openstack_cli_instance(server, image_file):
    run_json(server, "openstack", "image", "create", "--file", str(image_file), "--disk-format", "raw",
             "--container-format", "bare", "flow-img")
    s = run_json(server, "openstack", "server", "create", "--image", "flow-img", "--flavor", "m1.nano",
                 "--network", "private", "--wait", "flow-vm")
    assert s["status"] == "ACTIVE"
    end = time.monotonic() + 20
    while True:  # the build's last records follow ACTIVE by a moment
        f = run_json(server, "pocketstack", "server", "flow", "flow-vm")
        if f["steps"][5]["status"] == "done" or time.monotonic() > end:
            break
        time.sleep(0.2)
    assert f["status"] == "done" and [st["status"] for st in f["steps"]] == ["done"] * 6
    assert f["token"]["user"] == "admin" and f["token"]["validated_by"] == "nova-api"
    text = server.run("pocketstack", "server", "flow", "flow-vm", "--messages").stdout
    for line in ("1. Keystone token: done", "2. nova-api and the queue to the scheduler: done",
                 "3. Neutron (network): done", "4. storage (block device mapping): done",
                 "5. Glance (image): done", "6. boot (hypervisor): done",
                 "   token of admin on project admin with roles ", "validated by nova-api",
                 "   queues: conductor, scheduler, compute.", "building/spawning/0 -> active/None/1",
                 "call  network.allocate_for_instance"):
        assert line in text, line
    gone = server.run("pocketstack", "server", "flow", "no-such-vm", check=False)
    assert gone.returncode != 0 and "no server named or with id 'no-such-vm'" in gone.stderr
