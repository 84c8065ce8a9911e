"""Unmodified openstacksdk against `pocketstack serve`: token, image from a file, server
create + wait, list, show, instance actions, stop, start, console, delete + wait."""
from __future__ import annotations

import hashlib

import openstack
import pytest

from e2ehelp import PASSWORD

# the SDK's own deprecation chatter, not ours
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]


@pytest.fixture(scope="module")
def conn(server):
    c = openstack.connect(auth_url=server.auth_url, username="admin", password=PASSWORD,
                          project_name="admin", user_domain_name="Default",
                          project_domain_name="Default", region_name="RegionOne")
    yield c
    c.close()


def test_sdk_token_and_catalog(conn, server):
    token = conn.authorize()
    assert token and PASSWORD not in token
    ep = conn.session.get_endpoint(service_type="compute", interface="public")
    assert ep.startswith(server.url)


def test_sdk_full_server_life(conn, image_file):
    img = conn.image.create_image(name="sdk-img", filename=str(image_file), disk_format="raw",
                                  container_format="bare", wait=True)
    img = conn.image.get_image(img.id)
    assert img.status == "active" and img.size == image_file.stat().st_size
    assert img.checksum == hashlib.md5(image_file.read_bytes()).hexdigest()
    assert conn.image.find_image("sdk-img").id == img.id

    flavor = conn.compute.find_flavor("m1.nano")
    net = conn.network.find_network("private")
    assert flavor is not None and net is not None
    s = conn.compute.create_server(name="sdk-vm", image_id=img.id, flavor_id=flavor.id,
                                   networks=[{"uuid": net.id}])
    s = conn.compute.wait_for_server(s, status="ACTIVE", wait=30, interval=0.2)
    assert s.status == "ACTIVE" and s.addresses["private"][0]["addr"].startswith("10.0.0.")
    assert s.id in [x.id for x in conn.compute.servers()]
    got = conn.compute.get_server(s.id)
    assert got.name == "sdk-vm" and got.vm_state == "active" and got.power_state == 1
    assert conn.compute.find_server("sdk-vm").id == s.id

    actions = list(conn.compute.server_actions(s))
    assert [a.action for a in actions] == ["create"]

    conn.compute.stop_server(s)
    conn.compute.wait_for_server(s, status="SHUTOFF", wait=30, interval=0.2)
    conn.compute.start_server(s)
    conn.compute.wait_for_server(s, status="ACTIVE", wait=30, interval=0.2)
    out = conn.compute.get_server_console_output(s)
    assert "output" in out
    assert {"create", "stop", "start"} <= {a.action for a in conn.compute.server_actions(s)}

    conn.compute.delete_server(s)
    conn.compute.wait_for_delete(s, wait=30, interval=0.2)
    assert conn.compute.find_server("sdk-vm") is None
    conn.image.delete_image(img)


def test_sdk_volume_and_network(conn):
    net = conn.network.create_network(name="sdk-net")
    sub = conn.network.create_subnet(network_id=net.id, cidr="192.168.77.0/24", ip_version=4,
                                     name="sdk-sub")
    assert sub.gateway_ip == "192.168.77.1"
    port = conn.network.create_port(network_id=net.id)
    assert port.mac_address.startswith("fa:16:3e")
    conn.network.delete_port(port)
    conn.network.delete_subnet(sub)
    conn.network.delete_network(net)
    vol = conn.block_storage.create_volume(size=1, name="sdk-vol")
    vol = conn.block_storage.wait_for_status(vol, status="available", wait=30, interval=0.2)
    assert vol.size == 1
    assert vol.id in [v.id for v in conn.block_storage.volumes()]
    conn.block_storage.delete_volume(vol)
    conn.block_storage.wait_for_delete(vol, wait=30, interval=0.2)
