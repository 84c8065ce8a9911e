"""The unmodified `openstack` CLI and openstacksdk at compute microversion 2.52 against
`pocketstack serve`: server create with tags and a description, list filtered by tags, the
tags subcommands, and a create with "tags": [] (what Ansible's openstack.cloud.server sends)."""
from __future__ import annotations

import json

import openstack
import pytest

from e2ehelp import PASSWORD

# the SDK's own deprecation chatter, not ours
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]
MV = ("--os-compute-api-version", "2.52")


def osc(server, *argv, check=True):
    return server.run("openstack", *MV, *argv, check=check)


def osc_json(server, *argv):
    return json.loads(osc(server, *argv, "-f", "json").stdout)


@pytest.fixture(scope="module")
def image(server, image_file):
    osc(server, "image", "create", "--file", str(image_file), "--disk-format", "raw",
        "--container-format", "bare", "mv-img")
    return "mv-img"


def test_cli_create_with_tags_and_list_by_tag(server, image):
    s = osc_json(server, "server", "create", "--image", image, "--flavor", "m1.nano",
                 "--network", "private", "--tag", "a", "--tag", "web", "--description", "front end",
                 "--wait", "mv-tagged")
    assert s["status"] == "ACTIVE"
    osc(server, "server", "create", "--image", image, "--flavor", "m1.nano", "--network", "private",
        "--wait", "mv-plain")
    shown = osc_json(server, "server", "show", "mv-tagged")
    assert sorted(shown["tags"]) == ["a", "web"] and shown["description"] == "front end"
    assert shown["flavor"]["original_name"] == "m1.nano"     # 2.47: the flavor embedded

    assert [r["Name"] for r in osc_json(server, "server", "list", "--tags", "a")] == ["mv-tagged"]
    names = {r["Name"] for r in osc_json(server, "server", "list", "--not-tags", "a")}
    assert "mv-plain" in names and "mv-tagged" not in names
    assert osc_json(server, "server", "list", "--tags", "nope") == []

    osc(server, "server", "set", "--tag", "b", "mv-plain")
    assert osc_json(server, "server", "show", "mv-plain")["tags"] == ["b"]
    osc(server, "server", "unset", "--tag", "b", "mv-plain")
    assert osc_json(server, "server", "show", "mv-plain")["tags"] == []


def test_cli_refuses_a_microversion_beyond_the_cloud(server):
    p = server.run("openstack", "--os-compute-api-version", "2.53", "server", "list", check=False)
    assert p.returncode != 0 and "2.52" in (p.stdout + p.stderr)


@pytest.fixture(scope="module")
def conn(server):
    c = openstack.connect(auth_url=server.auth_url, username="admin", password=PASSWORD,
                          project_name="admin", user_domain_name="Default",
                          project_domain_name="Default", region_name="RegionOne")
    yield c
    c.close()


def test_create_with_empty_tags_at_252_as_ansible_sends_it(conn, server, image):
    img = conn.image.find_image(image)
    net = conn.network.find_network("private")
    body = {"server": {"name": "mv-ansible", "imageRef": img.id, "flavorRef": "1",
                       "networks": [{"uuid": net.id}], "tags": [], "metadata": {}}}
    r = conn.compute.post("/servers", json=body, microversion="2.52")
    assert r.status_code == 202, r.text
    assert r.headers["OpenStack-API-Version"] == "compute 2.52"
    assert r.json()["server"]["adminPass"]
    made = conn.compute.wait_for_server(conn.compute.get_server(r.json()["server"]["id"]), wait=60)
    assert made.status == "ACTIVE" and made.tags == []


def test_sdk_negotiates_the_highest_common_microversion(conn, server, image):
    # openstacksdk's Server resource asks for the highest version both sides know: ours, 2.52
    img = conn.image.find_image(image)
    net = conn.network.find_network("private")
    s = conn.compute.create_server(name="mv-sdk", image_id=img.id, flavor_id="1",
                                   networks=[{"uuid": net.id}], tags=["sdk"])
    assert s.admin_password  # the create answers it ...
    s = conn.compute.wait_for_server(s, wait=60)
    again = conn.compute.get_server(s.id)
    assert again.tags == ["sdk"] and again.admin_password is None   # ... and nothing shows it again
    assert [x.name for x in conn.compute.servers(tags="sdk")] == ["mv-sdk"]
