"""The mapping of each app action to its `openstack` command line and REST request, the
masking of secrets, and the in-process equivalents against the remote adapter's real requests."""
from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest
from tui_real import HOSTS

from backend.api import create_app
from backend.core.config import Config
from backend.facade import Cloud
from tui.adapter import Adapter
from tui.remote import RemoteAdapter
from tui.whathappened import Happening, Journal, Step, commands_for, mask

SRV = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
def journal() -> Journal:
    j = Journal()
    j.names.learn("list_images", [{"id": "img-1", "name": "tiny"}, {"id": "img-2", "name": "x[/]"}])
    j.names.learn("list_flavors", [{"id": "1", "name": "m1.tiny"}])
    j.names.learn("list_networks", [{"id": "net-1", "name": "private"}])
    j.names.learn("list_volumes", [{"id": "vol-1", "name": "data"}, {"id": "vol-2", "name": ""}])
    j.names.learn("list_servers", [{"id": SRV, "name": "demo"}, {"id": "s-2", "name": "my vm"},
                                   {"id": "s-3", "name": "twin"}, {"id": "s-4", "name": "twin"},
                                   {"id": "s-5", "name": "--help"}, {"id": "s-6", "name": "bell\a"}])
    return j


def cmd(j: Journal, method: str, *args, **kw) -> list[str]:
    return commands_for([Step(method, args, kw)], j, Happening("", True, "in-process", j))


CASES = [
    (("create_server", "demo", "img-1", "1"), {},
     "openstack server create --image tiny --flavor m1.tiny demo"),
    (("create_server", "demo", "img-1", "1"), {"networks": [{"uuid": "net-1"}]},
     "openstack server create --image tiny --flavor m1.tiny --network private demo"),
    (("create_server", "web 1", "img-2", "1"),
     {"networks": "auto", "boot_volume_size": 2, "availability_zone": "nova", "min_count": 3, "max_count": 3},
     "openstack server create --image 'x[/]' --flavor m1.tiny --boot-from-volume 2 "
     "--availability-zone nova --min 3 --max 3 'web 1'"),
    (("create_server", "demo", "img-9", "7"), {"networks": "none"},
     "openstack server create --image img-9 --flavor 7 --no-network demo"),
    (("delete_server", SRV), {}, "openstack server delete demo"),
    (("stop_server", "s-2"), {}, "openstack server stop 'my vm'"),
    (("start_server", "s-3"), {}, "openstack server start s-3"),        # a shared name: the id
    (("reboot_server", "s-5"), {}, "openstack server reboot s-5"),     # would read as an option
    (("reboot_server", "s-6"), {"hard": True}, "openstack server reboot --hard s-6"),  # control char
    (("attach_volume", SRV, "vol-1"), {}, "openstack server add volume demo data"),
    (("detach_volume", SRV, "vol-2"), {}, "openstack server remove volume demo vol-2"),
    (("create_volume", 1), {"name": "data 2"}, "openstack volume create --size 1 'data 2'"),
    (("create_volume", 2), {}, "openstack volume create --size 2"),
    (("delete_volume", "vol-1"), {}, "openstack volume delete data"),
    (("delete_image", "img-2"), {}, "openstack image delete 'x[/]'"),
    (("create_flavor", "m1.custom", 1, 256, 1), {}, "openstack flavor create --vcpus 1 --ram 256 --disk 1 m1.custom"),
    (("delete_flavor", "1"), {}, "openstack flavor delete m1.tiny"),
    (("create_network", "my net"), {}, "openstack network create 'my net'"),
    (("create_subnet", "net-1", "10.1.0.0/24"), {"name": "s1"},
     "openstack subnet create --network private --subnet-range 10.1.0.0/24 s1"),
    (("delete_network", "net-1"), {}, "openstack network delete private"),
]


@pytest.mark.parametrize("args,kw,want", CASES, ids=[c[2][10:40] for c in CASES])
def test_command_line_of_each_action(journal, args, kw, want):
    assert cmd(journal, *args, **kw) == [want]


def test_image_upload_is_one_image_create_with_file(journal):
    h = Happening("", True, "in-process", journal)
    h.steps = [Step("create_image", ("my img",), {"disk_format": "qcow2", "visibility": "public"}, "i-1"),
               Step("upload_image", ("i-1", "/tmp/a b.qcow2"))]
    assert h.commands == ["openstack image create --file '/tmp/a b.qcow2' --disk-format qcow2 "
                          "--container-format bare --public 'my img'"]


def test_login_and_scope_are_one_token_issue(journal):
    journal.auth_url = "http://127.0.0.1:8774/identity/v3"
    h = Happening("log in", True, "in-process", journal, user="alice", project="demo project")
    h.steps = [Step("login", ("alice",)), Step("auth_projects"), Step("scope", ("p-1",))]
    assert h.commands == ["openstack --os-auth-url http://127.0.0.1:8774/identity/v3 --os-username alice "
                          "--os-user-domain-name Default --os-project-name 'demo project' "
                          "--os-project-domain-name Default token issue"]
    assert "OS_PASSWORD" in h.note


def test_names_are_frozen_when_the_action_is_done(journal):
    h = Happening("", True, "in-process", journal)
    h.steps = [Step("delete_volume", ("vol-1",))]
    h.freeze()
    journal.names.learn("list_volumes", [])   # the listing after the delete
    assert h.commands == ["openstack volume delete data"]


def test_mask_hides_every_secret_and_keeps_the_shape():
    body = {"auth": {"identity": {"methods": ["password", "token"],
                                  "password": {"user": {"name": "admin", "password": "hunter2"}},
                                  "token": {"id": "gAAAA-token"}}},
            "server": {"name": "x", "adminPass": "p4ss", "user_data": "IyEvYmluL3No"},
            "list": [{"password": "in-a-list"}], "X-Auth-Token": "t"}
    got = mask(body)
    assert got == {"auth": {"identity": {"methods": ["password", "token"],
                                         "password": {"user": {"name": "admin", "password": "***"}},
                                         "token": {"id": "***"}}},
                   "server": {"name": "x", "adminPass": "***", "user_data": "***"},
                   "list": [{"password": "***"}], "X-Auth-Token": "***"}
    assert body["server"]["adminPass"] == "p4ss"  # a copy: the request itself is untouched


class SameLoop(Adapter):
    """The facade on this very loop (LocalAdapter minus the thread hop), to compare the
    in-process equivalents with the remote adapter's requests on one cloud."""

    def __init__(self, cloud: Cloud) -> None:
        super().__init__()
        self.cloud = cloud

    async def _invoke(self, method, *args, **kwargs):
        return await getattr(self.cloud, method)(*args, **kwargs)

    def subscribe(self, callback):
        return lambda: None


async def test_in_process_equivalents_are_the_remote_requests(tmp_path):
    """Each action done once through each adapter: the in-process REST equivalent is the
    request the remote adapter really sent (method, path, status, body), ids aside."""
    (tmp_path / "hosts.yaml").write_text(HOSTS)
    cfg = Config(home=tmp_path / "home", hosts_path=tmp_path / "hosts.yaml", password_hash_rounds=4,
                 heartbeat_interval=0.2, power_sync_interval=0.2, service_down_time=1.5)
    Cloud.init(cfg, "secret")
    cloud = Cloud(cfg)
    await cloud.start()
    remote = RemoteAdapter("http://t", transport=httpx.ASGITransport(app=create_app(cloud)))
    local = SameLoop(cloud)
    try:
        tok = (await cloud.login("admin", "secret", "admin"))["token"]
        img = await cloud.create_image(tok, "tiny", visibility="public")
        await cloud.upload_image(tok, img["id"], b"\0" * 4096)
        seen: dict[str, list] = {}
        for a in (local, remote):
            await a.login("admin", "secret")
            await a.scope((await a.projects())[0]["id"])
            (s,) = await a.call("create_server", "eq", img["id"], "1", networks="auto")
            sid = s["id"]
            await until(cloud, tok, sid, "ACTIVE")
            await a.call("stop_server", sid)
            await until(cloud, tok, sid, "SHUTOFF")
            await a.call("reboot_server", sid, hard=True)
            await until(cloud, tok, sid, "ACTIVE")
            await a.call("delete_server", sid)
            v = await a.call("create_volume", 1, name="v")
            await a.call("delete_volume", v["id"])
            net = await a.call("create_network", "n")
            await a.call("create_subnet", net["id"], "10.7.0.0/24", name="n-s")
            await a.call("create_flavor", f"f-{a.in_process}", 1, 128, 1)
            ids = {sid: "{server}", v["id"]: "{volume}", net["id"]: "{network}", a.project_id: "{project}"}
            # reads aside (the remote adapter reads back what it made)
            seen[a.where] = [_norm(c, ids) for h in a.journal.history for c in h.calls if c.method != "GET"]
        assert seen["in-process"] == seen["remote http://t"]
        assert len(seen["in-process"]) == 11
    finally:
        await remote.close()
        await cloud.stop()


async def until(cloud, tok, sid, status, timeout: float = 20) -> None:
    """Poll (bounded) until the server is in status with no task."""
    end = time.monotonic() + timeout
    while True:
        s = await cloud.get_server(tok, sid)
        if s["status"] == status and not s["task_state"]:
            return
        assert time.monotonic() < end, f"{sid} is {s['status']}/{s['task_state']}, not {status}"
        await asyncio.sleep(0.02)


def _norm(c, ids: dict) -> tuple:
    path, body = c.path, json.dumps(c.body, sort_keys=True)
    for k, v in ids.items():
        path, body = path.replace(k, v), body.replace(k, v)
    body = re.sub(r'"f-(True|False)"', '"f"', body)  # the two flavors' names
    return c.method, re.sub(r"\?.*$", "", path), c.status, json.loads(body)
