"""VIF plugging with the fake driver (in memory, as the helper's `list` shows a real host):
ports bound and ACTIVE once wired, network-vif-plugged awaited, flooding lists kept by the
network service (l2population), and nothing left behind by deletes and failed builds."""
from __future__ import annotations

import pytest

from backend.privileged.l2 import bridge_name, tap_name
from backend.virt.fake import FakeBehaviour, FakeDriver
from cloudhelp import make_config, settle, wait_for, wait_gone

HOSTS = """
hosts:
  - {name: fake-1, address: 10.0.0.1, driver: fake, availability_zone: az-1, vcpus: 4, memory_mb: 4096, disk_gb: 40}
  - {name: fake-2, address: 10.0.0.2, driver: fake, availability_zone: az-2, vcpus: 4, memory_mb: 4096, disk_gb: 40}
"""


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, HOSTS)


def driver(cloud, host) -> FakeDriver:
    return cloud.rt.computes[host].driver


def plumbing(cloud, host) -> tuple[dict, dict]:
    d = driver(cloud, host)
    return ({b: dict(v, ports=sorted(v["ports"])) for b, v in d.bridges.items()}, dict(d.taps))


async def boot(cloud, token, image, az, name="vm", networks=None):
    s = (await cloud.create_server(token, name, image, "m1.nano", availability_zone=az, networks=networks))[0]
    return await wait_for(cloud, token, s["id"], "ACTIVE")


async def test_ports_are_bound_wired_and_active(cloud, admin, image):
    s = await boot(cloud, admin, image, "az-1")
    [port] = await cloud.list_ports(admin, {"device_id": s["id"]})
    assert port["status"] == "ACTIVE"
    assert port["binding:host_id"] == "fake-1" and port["binding:vif_type"] == "bridge"
    net = await cloud.get_network(admin, port["network_id"])
    assert net["provider:network_type"] == "vxlan"
    assert 1 <= net["provider:segmentation_id"] <= 16777215
    bridges, taps = plumbing(cloud, "fake-1")
    br = bridge_name(port["network_id"])
    assert taps == {tap_name(port["id"]): br}
    assert bridges == {br: {"vni": net["provider:segmentation_id"], "peers": [], "ports": [tap_name(port["id"])]}}
    # the build reported the port up and was sent network-vif-plugged before it spawned
    names = [t.get("method") or t.get("step") for t in await cloud.get_trace(admin, s["id"])]
    assert names.index("update_device_up") < names.index("external_instance_event") < names.index("spawn")


async def test_networks_none_asks_nothing_of_the_network_service(cloud, admin, image):
    """networks "none" (nova's no_allocate): the build makes no port and sends the network
    service nothing; its allocate ports step says why."""
    s = (await cloud.create_server(admin, "bare", image, "m1.nano", networks="none"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    assert await cloud.list_ports(admin, {"device_id": s["id"]}) == []
    assert plumbing(cloud, s["host"]) == ({}, {})
    trace = await cloud.get_trace(admin, s["id"])
    assert not [t for t in trace if t["service"] == "queue" and t["topic"] == "network"]
    assert [t["detail"] for t in trace if t.get("step") == "allocate ports" and t["phase"] == "end"] == ["networks: none"]


async def test_segmentation_ids_are_unique_and_admin_only(cloud, admin):
    nets = [await cloud.create_network(admin, f"n{i}", shared=True) for i in range(5)]
    vnis = [n["provider:segmentation_id"] for n in nets]
    assert len(set(vnis)) == 5 and all(1 <= v <= 16777215 for v in vnis)
    # Neutron's policy shows the provider attributes to admins only
    await cloud.create_user(admin, "alice", "pw-alice", default_project="admin")
    await cloud.grant_role(admin, "admin", "alice", "member")
    alice = (await cloud.login("alice", "pw-alice", "admin"))["token"]
    seen = await cloud.get_network(alice, nets[0]["id"])
    assert not [k for k in seen if k.startswith("provider:")]


async def test_flooding_lists_follow_the_hosts_on_a_network(cloud, admin, image):
    a = await boot(cloud, admin, image, "az-1", "a")
    b = await boot(cloud, admin, image, "az-2", "b")
    await settle(cloud)
    [pa] = await cloud.list_ports(admin, {"device_id": a["id"]})
    br = bridge_name(pa["network_id"])
    # each host floods to the other (the one that came first was told when the second came)
    assert plumbing(cloud, "fake-1")[0][br]["peers"] == ["10.0.0.2"]
    assert plumbing(cloud, "fake-2")[0][br]["peers"] == ["10.0.0.1"]
    await cloud.delete_server(admin, b["id"])
    await wait_gone(cloud, admin, b["id"])
    await settle(cloud)
    assert plumbing(cloud, "fake-2") == ({}, {})
    assert plumbing(cloud, "fake-1")[0][br]["peers"] == []


async def test_delete_leaves_no_tap_or_bridge(cloud, admin, image):
    s1 = await boot(cloud, admin, image, "az-1", "one")
    s2 = await boot(cloud, admin, image, "az-1", "two")
    await cloud.delete_server(admin, s1["id"])
    await wait_gone(cloud, admin, s1["id"])
    bridges, taps = plumbing(cloud, "fake-1")
    assert len(taps) == 1 and len(bridges) == 1  # the bridge stays for the other port
    await cloud.delete_server(admin, s2["id"])
    await wait_gone(cloud, admin, s2["id"])
    assert plumbing(cloud, "fake-1") == ({}, {})
    assert await cloud.list_ports(admin, {"device_owner": "compute:az-1"}) == []


async def test_failed_plug_is_a_build_fault_and_leaves_nothing(cloud, admin, image):
    FakeDriver.behaviours["fake-1"] = FakeBehaviour(fail_plugs=1)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano", availability_zone="az-1"))[0]
    s = await wait_for(cloud, admin, s["id"], "ERROR")
    assert "fake plug failure on fake-1" in s["fault"]["message"] + s["fault"].get("details", "")
    await settle(cloud)
    assert plumbing(cloud, "fake-1") == ({}, {})
    assert await cloud.list_ports(admin, {"device_id": s["id"]}) == []
    assert driver(cloud, "fake-1").guests == {}


async def test_failed_spawn_after_plugging_leaves_nothing(cloud, admin, image):
    FakeDriver.behaviours["fake-1"] = FakeBehaviour(fail_always=True)
    s = (await cloud.create_server(admin, "vm", image, "m1.nano", availability_zone="az-1"))[0]
    s = await wait_for(cloud, admin, s["id"], "ERROR")
    await settle(cloud)
    assert plumbing(cloud, "fake-1") == ({}, {})
    assert await cloud.list_ports(admin, {"device_id": s["id"]}) == []


async def test_no_network_vif_plugged_is_a_build_fault(tmp_path):
    """The network service never answers with the event: vif_plugging_timeout, then a fault
    naming the port; the plugged tap is removed."""
    from backend.facade import Cloud
    config = make_config(tmp_path, HOSTS, vif_plugging_timeout=0.3)
    Cloud.init(config, "secret")
    cloud = Cloud(config)
    await cloud.start()
    try:
        token = (await cloud.login("admin", "secret", "admin"))["token"]
        img = await cloud.create_image(token, "cirros", visibility="public")
        await cloud.upload_image(token, img["id"], b"\0" * 4096)

        async def silent(ctx, instance_uuid, host, port_ids):  # wired, but no event comes back
            return None
        cloud.rt.network.update_device_up = silent
        s = (await cloud.create_server(token, "vm", img["id"], "m1.nano", availability_zone="az-1"))[0]
        s = await wait_for(cloud, token, s["id"], "ERROR")
        assert "network-vif-plugged" in s["fault"]["message"] + s["fault"].get("details", "")
        await settle(cloud)
        assert plumbing(cloud, "fake-1") == ({}, {})
    finally:
        await cloud.stop()


async def test_start_and_hard_reboot_plug_again(cloud, admin, image):
    s = await boot(cloud, admin, image, "az-1")
    d = driver(cloud, "fake-1")
    d.bridges.clear()
    d.taps.clear()  # as after a host's restart: the taps are gone
    await cloud.reboot_server(admin, s["id"], "HARD")
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    assert len(d.taps) == 1 and len(d.bridges) == 1
    d.bridges.clear()
    d.taps.clear()
    await cloud.stop_server(admin, s["id"])
    await wait_for(cloud, admin, s["id"], "SHUTOFF")
    await cloud.start_server(admin, s["id"])
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    assert len(d.taps) == 1 and len(d.bridges) == 1


def test_hosts_file_vif_and_local_ip():
    from backend.core.hosts import parse_hosts
    h = parse_hosts("hosts: [{name: h, address: example.org, vif: user}]")[0]
    assert h.vif == "user" and h.vtep is None
    h = parse_hosts("hosts: [{name: h, address: 10.1.2.3}]")[0]
    assert h.vif == "user" and h.vtep == "10.1.2.3"
    with pytest.raises(Exception, match="local_ip"):
        parse_hosts("hosts: [{name: h, address: 10.1.2.3, local_ip: 'x;y'}]")
    with pytest.raises(Exception, match="vif"):
        parse_hosts("hosts: [{name: h, address: 10.1.2.3, vif: tap}]")


def test_tap_names_reaching_qemu_are_plain():
    """The port id goes into qemu's comma-separated -netdev: anything but a plain name is
    refused before qemu or the helper see it (a ',script=' would name a program to run)."""
    from backend.virt.driver import DriverError
    from backend.virt.qemu.vif import bridged, checked_tap, netdev_args
    assert netdev_args(0, {"port_id": "0a1b2c3d-4e5f-6789"}) == [
        "-netdev", "tap,id=net0,ifname=tap0a1b2c3d-4e,script=no,downscript=no"]
    for bad in ("x,script=/bi", "p;`touch /v`", "UPPER", ""):
        with pytest.raises(DriverError, match="no valid tap name"):
            checked_tap(bad)
    assert bridged([{"vif_type": "bridge", "port_id": "a"}, {"vif_type": "other", "port_id": "b"}, {}]) == [
        {"vif_type": "bridge", "port_id": "a"}]


def test_a_bridge_host_without_the_helper_is_refused_by_name():
    """The build fault names the host and what it lacks (the helper, or the sudo rule)."""
    from backend.core.hosts import parse_hosts
    from backend.virt.driver import DriverError
    from backend.virt.qemu.driver import QemuDriver

    class Link:
        def __init__(self, rc, err):
            self.rc, self.err, self.argv = rc, err, None

        def run(self, argv, timeout=None, check=True):
            self.argv = argv
            return self.rc, "", self.err
    host = parse_hosts("hosts: [{name: far-1, address: 10.1.2.3, user: ops, vif: bridge}]")[0]
    vif = {"vif_type": "bridge", "port_id": "0a1b2c3d-4e5f", "network_id": "9f8e7d6c-5b4a",
           "segmentation_id": 7, "peers": ["10.1.2.4"]}
    for rc, err, lacks in ((1, "sudo: a password is required", "sudo rights for ops"),
                           (1, "/usr/bin/python3: can't find '__main__' module in '/usr/local/lib/pocketstack/"
                               "privileged'", "the privileged helper at /usr/local/lib/pocketstack/privileged")):
        d = QemuDriver(host, None, link=Link(rc, err))
        with pytest.raises(DriverError, match=f"host far-1 has vif 'bridge' but lacks {lacks}"):
            d._plug_sync([vif])
        assert d.link.argv[:5] == ["sudo", "-n", "/usr/bin/python3", "-I", "/usr/local/lib/pocketstack/privileged"]


async def test_an_allocation_delivered_twice_makes_its_ports_once(cloud, admin, image):
    """A call is delivered again when the process serving it dies before its ack (a cluster's
    api process SIGKILLed mid-build): the second copy of allocate_for_instance takes up the
    ports the first made, it does not give the instance a second port on the same network."""
    from backend.core.context import RequestContext
    s = await boot(cloud, admin, image, "az-1")
    [port] = await cloud.list_ports(admin, {"device_id": s["id"]})
    ctx = RequestContext.system()
    again = await cloud.rt.bus.call(ctx, "network", "allocate_for_instance", instance_uuid=s["id"],
                                    project_id=port["project_id"], host="fake-1",
                                    requested=[{"uuid": port["network_id"]}], zone="az-1", vif_type="bridge")
    assert [i["port_id"] for i in again] == [port["id"]]
    assert [p["id"] for p in await cloud.list_ports(admin, {"device_id": s["id"]})] == [port["id"]]
    # a second NIC asked on the same network is still a port of its own
    two = await cloud.rt.bus.call(ctx, "network", "allocate_for_instance", instance_uuid=s["id"],
                                  project_id=port["project_id"], host="fake-1",
                                  requested=[{"uuid": port["network_id"]}] * 2, zone="az-1", vif_type="bridge")
    assert two[0]["port_id"] == port["id"] and two[1]["port_id"] != port["id"]
    assert len(await cloud.list_ports(admin, {"device_id": s["id"]})) == 2
