"""The command lines "what just happened" shows really work: the app's remote adapter logs in
and lists against a real `pocketstack serve`, the panel's mapping writes each action's
`openstack` command, and the unmodified openstack CLI runs it; the effect is then checked."""
from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import time

from e2ehelp import BIN, PASSWORD

from tui.remote import RemoteAdapter
from tui.whathappened import Happening, Step, commands_for


def run(server, line: str, env: dict | None = None) -> subprocess.CompletedProcess:
    argv = shlex.split(line)
    assert argv[0] == "openstack"
    p = subprocess.run([str(BIN / "openstack"), *argv[1:]], env=env or server.env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{line}\n{p.stdout}\n{p.stderr}"
    return p


def show(server, *argv) -> dict:
    return json.loads(run(server, shlex.join(["openstack", *argv, "-f", "json"])).stdout)


def wait_status(server, name: str, status: str, timeout: float = 30) -> dict:
    end = time.monotonic() + timeout
    while True:
        s = show(server, "server", "show", name)
        if s["status"] == status and not s.get("OS-EXT-STS:task_state"):
            return s
        assert time.monotonic() < end, f"{name} is {s['status']}, not {status}"
        time.sleep(0.2)


def test_the_panels_command_lines_work(server, image_file, tmp_path):
    adapter = RemoteAdapter(server.url)

    async def session():
        await adapter.login("admin", PASSWORD)
        await adapter.scope((await adapter.projects())[0]["id"])
        for what in ("list_images", "list_flavors", "list_networks", "list_servers", "list_volumes"):
            await adapter.call(what)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(session())
    j = adapter.journal

    def line(method: str, *args, **kw) -> str:
        return commands_for([Step(method, args, kw)], j, Happening("", False, server.url, j))[0]

    def relist(what: str) -> None:
        loop.run_until_complete(adapter.call(what))

    try:
        # log in: the scoped token issue, password from OS_PASSWORD as openstack reads it
        login = j.history[0].commands[0]
        env = {k: v for k, v in server.env.items() if not k.startswith("OS_")}
        env["OS_PASSWORD"] = PASSWORD
        tok = json.loads(run(server, login + " -f json", env).stdout)
        assert tok["project_id"] == adapter.project_id and tok["user_id"] == adapter.token["user"]["id"]

        # an image from a file whose name needs quoting
        disk = tmp_path / "wh disk.raw"
        disk.write_bytes(image_file.read_bytes())
        h = Happening("", False, server.url, j)
        h.steps = [Step("create_image", ("wh img",), {"disk_format": "raw"}, result_id="x"),
                   Step("upload_image", ("x", disk))]
        (img_line,) = commands_for(h.steps, j, h)
        assert "--file " + shlex.quote(str(disk)) in img_line
        run(server, img_line)
        img = show(server, "image", "show", "wh img")
        assert img["status"] == "active" and img["size"] == disk.stat().st_size
        relist("list_images")

        net = next(n for n in loop.run_until_complete(adapter.call("list_networks")) if n["name"] == "private")
        create = line("create_server", "wh vm 1", img["id"], "1", networks=[{"uuid": net["id"]}],
                      availability_zone="nova")
        assert create == ("openstack server create --image 'wh img' --flavor m1.nano --network private "
                          "--availability-zone nova 'wh vm 1'")
        run(server, create)
        s = wait_status(server, "wh vm 1", "ACTIVE")
        # from microversion 2.47 the flavor is embedded (a dict naming original_name)
        flavor = s["flavor"]["original_name"] if isinstance(s["flavor"], dict) else s["flavor"]
        assert flavor.startswith("m1.nano") and "private" in s["addresses"]
        relist("list_servers")
        sid = s["id"]
        for method, kw, status, action in (("stop_server", {}, "SHUTOFF", "stop"),
                                          ("start_server", {}, "ACTIVE", "start"),
                                          ("reboot_server", {"hard": True}, "ACTIVE", "reboot")):
            cmd = line(method, sid, **kw)
            assert "'wh vm 1'" in cmd
            run(server, cmd)
            wait_status(server, "wh vm 1", status)
            events = show(server, "server", "event", "list", "wh vm 1")
            assert events[0]["Action"] == action
        # a volume attached and detached with the panel's server add/remove volume
        run(server, line("create_volume", 1, name="wh data"))
        relist("list_volumes")
        vid = show(server, "volume", "show", "wh data")["id"]
        run(server, line("attach_volume", sid, vid))
        vol = show(server, "volume", "show", "wh data")
        assert vol["status"] == "in-use" and vol["attachments"][0]["server_id"] == sid
        run(server, line("detach_volume", sid, vid))
        assert show(server, "volume", "show", "wh data")["status"] == "available"
        assert [e["Action"] for e in show(server, "server", "event", "list", "wh vm 1")][:2] == \
            ["detach_volume", "attach_volume"]
        run(server, line("delete_server", sid))
        end = time.monotonic() + 30
        while "wh vm 1" in [r["Name"] for r in show(server, "server", "list")]:
            assert time.monotonic() < end, "not deleted"
            time.sleep(0.2)

        run(server, line("create_volume", 1, name="wh vol"))
        assert show(server, "volume", "show", "wh vol")["size"] == 1
        relist("list_volumes")
        vid = next(v["id"] for v in loop.run_until_complete(adapter.call("list_volumes")) if v["name"] == "wh vol")
        run(server, line("delete_volume", vid))
        assert "wh vol" not in [v["Name"] for v in show(server, "volume", "list")]

        run(server, line("create_flavor", "wh.flavor", 1, 192, 1))
        f = show(server, "flavor", "show", "wh.flavor")
        assert (f["vcpus"], f["ram"], f["disk"]) == (1, 192, 1)

        run(server, line("create_network", "wh net"))
        relist("list_networks")
        nid = show(server, "network", "show", "wh net")["id"]
        run(server, line("create_subnet", nid, "10.9.0.0/24", name="wh net-subnet"))
        assert show(server, "subnet", "show", "wh net-subnet")["cidr"] == "10.9.0.0/24"
    finally:
        loop.run_until_complete(adapter.close())
        loop.close()
