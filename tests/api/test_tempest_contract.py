"""Contract points Tempest checks (conformance/), each in nova's, neutron's, keystone's or
cinder's shape: request ids, renames, hosts and services, the images proxy, bulk create."""
from __future__ import annotations

V = "/compute/v2.1"


async def _boot(env, name: str) -> str:
    r = await env.post(f"{V}/servers", {"server": {"name": name, "imageRef": env.ids["image"],
                                                   "flavorRef": "1",
                                                   "networks": [{"uuid": env.ids["network"]}]}})
    assert r.status_code == 202, r.text
    return r.json()["server"]["id"]


async def test_every_compute_answer_has_x_compute_request_id(env):
    for r in (await env.get(f"{V}/flavors"), await env.get(f"{V}/servers/nope"),
              await env.http.get(f"{V}/servers")):
        assert r.headers["x-compute-request-id"] == r.headers["x-openstack-request-id"]
    assert "x-compute-request-id" not in (await env.get("/network/v2.0/networks")).headers


async def test_put_renames_a_server_and_a_missing_one_is_404_before_400(env):
    sid = await _boot(env, "before")
    r = await env.http.put(f"{V}/servers/{sid}", json={"server": {"name": "after"}}, headers=env.h())
    assert r.status_code == 200, r.text
    assert r.json()["server"]["name"] == "after"
    assert (await env.get(f"{V}/servers/{sid}")).json()["server"]["name"] == "after"
    r = await env.http.put(f"{V}/servers/00000000-0000-0000-0000-000000000000",
                           json={"bogus": 1}, headers=env.h())
    assert r.status_code == 404 and "itemNotFound" in r.json()
    r = await env.http.put(f"{V}/servers/{sid}", json={"server": {"name": ""}}, headers=env.h())
    assert r.status_code == 400


async def test_services_hosts_and_statistics_come_from_the_hypervisors(env):
    hyp = (await env.get(f"{V}/os-hypervisors/detail")).json()["hypervisors"]
    services = (await env.get(f"{V}/os-services")).json()["services"]
    assert sorted(s["host"] for s in services) == sorted(h["hypervisor_hostname"] for h in hyp)
    assert all(isinstance(s["id"], int) and s["binary"] == "nova-compute" for s in services)
    one = services[0]["host"]
    assert [s["host"] for s in (await env.get(f"{V}/os-services", params={"host": one})).json()["services"]] == [one]
    assert (await env.get(f"{V}/os-services", params={"binary": "nova-nothing"})).json()["services"] == []
    assert (await env.get(f"{V}/os-services", who="mia")).status_code == 403
    hosts = (await env.get(f"{V}/os-hosts")).json()["hosts"]
    assert {h["host_name"] for h in hosts} == {s["host"] for s in services}
    detail = (await env.get(f"{V}/os-hosts/{one}")).json()["host"]
    assert [d["resource"]["project"] for d in detail] == ["(total)", "(used_now)", "(used_max)"]
    assert (await env.get(f"{V}/os-hosts/no-such-host")).status_code == 404
    stats = (await env.get(f"{V}/os-hypervisors/statistics")).json()["hypervisor_statistics"]
    assert stats["count"] == len(hyp) and stats["vcpus"] == sum(h["vcpus"] for h in hyp)


async def test_limits_and_quota_sets_carry_the_2_1_keys(env):
    absolute = (await env.get(f"{V}/limits")).json()["limits"]["absolute"]
    for k in ("maxImageMeta", "maxSecurityGroups", "maxTotalFloatingIps", "totalFloatingIpsUsed"):
        assert k in absolute
    pid = env.ids["project_admin"]
    qs = (await env.get(f"{V}/os-quota-sets/{pid}")).json()["quota_set"]
    assert qs["floating_ips"] == -1 and qs["security_group_rules"] == -1 and qs["id"] == pid


async def test_flavor_with_an_integer_id(env):
    r = await env.post(f"{V}/flavors", {"flavor": {"name": "int-id", "ram": 64, "vcpus": 1,
                                                   "disk": 1, "id": 4242}})
    assert r.status_code == 200, r.text
    assert r.json()["flavor"]["id"] == "4242"
    assert (await env.get(f"{V}/flavors/4242")).json()["flavor"]["name"] == "int-id"


async def test_the_images_proxy_shows_images_in_nova_s_view(env):
    iid = env.ids["image"]
    listed = (await env.get(f"{V}/images")).json()["images"]
    assert iid in [i["id"] for i in listed] and set(listed[0]) == {"id", "name", "links"}
    one = (await env.get(f"{V}/images/{iid}")).json()["image"]
    assert one["status"] == "ACTIVE" and "minRam" in one and "OS-EXT-IMG-SIZE:size" in one
    r = await env.get(f"{V}/images/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404 and "itemNotFound" in r.json()


async def test_bulk_network_create_is_all_or_nothing(env):
    r = await env.post("/network/v2.0/networks", {"networks": [{"name": "bulk-a"}, {"name": "bulk-b"}]})
    assert r.status_code == 201, r.text
    assert [n["name"] for n in r.json()["networks"]] == ["bulk-a", "bulk-b"]
    before = {n["name"] for n in (await env.get("/network/v2.0/networks")).json()["networks"]}
    r = await env.post("/network/v2.0/networks", {"networks": [{"name": "bulk-c"}, {"mtu": 9000}]})
    assert r.status_code == 400
    after = {n["name"] for n in (await env.get("/network/v2.0/networks")).json()["networks"]}
    assert after == before  # bulk-c was made, then removed again


async def test_version_lists_answer_300_where_upstream_does(env):
    assert (await env.http.get("/identity")).status_code == 300
    assert (await env.http.get("/image")).status_code == 300
    assert (await env.http.get("/identity/v3")).status_code == 200


async def test_server_ips_and_one_network_s_ips(env):
    sid = await _boot(env, "with-ips")
    await env.wait_status(sid, "ACTIVE")
    addresses = (await env.get(f"{V}/servers/{sid}/ips")).json()["addresses"]
    (net, addrs), = addresses.items()
    assert addrs and set(addrs[0]) == {"version", "addr"}
    assert (await env.get(f"{V}/servers/{sid}/ips/{net}")).json() == {net: addrs}
    assert (await env.get(f"{V}/servers/{sid}/ips/no-such-net")).status_code == 404


async def test_network_extension_show_and_cinder_root(env):
    r = await env.get("/network/v2.0/extensions/quotas")
    assert r.status_code == 200 and r.json()["extension"]["alias"] == "quotas"
    assert (await env.get("/network/v2.0/extensions/routers")).status_code == 404
    assert (await env.http.get("/volume")).status_code == 300


async def test_cinder_admin_attributes_only_for_admins_and_never_in_a_create(env):
    r = await env.post(f"{env.vol('mia')}/volumes", {"volume": {"size": 1}}, who="mia")
    assert r.status_code == 202, r.text
    created = r.json()["volume"]
    assert "os-vol-tenant-attr:tenant_id" not in created and "os-vol-host-attr:host" not in created
    mine = (await env.get(f"{env.vol('mia')}/volumes/{created['id']}", who="mia")).json()["volume"]
    assert "os-vol-tenant-attr:tenant_id" not in mine and "os-vol-host-attr:host" not in mine
    seen = (await env.get(f"{env.vol()}/volumes/{created['id']}")).json()["volume"]
    assert seen["os-vol-tenant-attr:tenant_id"] == env.ids["project_admin"]


async def test_availability_zone_detail_is_for_admins(env):
    assert (await env.get(f"{V}/os-availability-zone", who="mia")).status_code == 200
    assert (await env.get(f"{V}/os-availability-zone/detail", who="mia")).status_code == 403
    assert (await env.get(f"{V}/os-availability-zone/detail")).status_code == 200


async def test_list_filters_as_nova_2_1(env):
    # an unknown status lists nothing (a 400 only from 2.38 on)
    r = await env.get(f"{V}/servers/detail", params={"status": "INVALID_STATUS"})
    assert r.status_code == 200 and r.json()["servers"] == []
    # a blank zone filters nothing
    assert (await env.get(f"{V}/os-hosts", params={"zone": ""})).json()["hosts"]
    # is_public as oslo's bool_from_string reads it
    for v, want in (("f", False), ("t", True), ("no", False), ("1", True)):
        flavors = (await env.get(f"{V}/flavors/detail", params={"is_public": v})).json()["flavors"]
        assert all(f["os-flavor-access:is_public"] == want for f in flavors)
    assert (await env.get(f"{V}/flavors", params={"is_public": "maybe"})).status_code == 400


async def test_hypervisor_views_are_nova_s_and_pocketstack_keys_have_their_own_endpoint(env):
    strict = {"status", "state", "cpu_info", "current_workload", "disk_available_least", "host_ip",
              "free_disk_gb", "free_ram_mb", "hypervisor_hostname", "hypervisor_type", "hypervisor_version",
              "id", "local_gb", "local_gb_used", "memory_mb", "memory_mb_used", "running_vms", "service",
              "vcpus", "vcpus_used"}
    for h in (await env.get(f"{V}/os-hypervisors/detail")).json()["hypervisors"]:
        assert set(h) <= strict, set(h) - strict
        assert isinstance(h["hypervisor_version"], int)
        one = (await env.get(f"{V}/os-hypervisors/{h['id']}")).json()["hypervisor"]
        assert set(one) <= strict
    ours = (await env.get(f"{V}/os-pocketstack-hypervisors")).json()["hypervisors"]
    assert {h["pocketstack:driver"] for h in ours} == {"fake"}
    assert all(h["pocketstack:availability_zone"] and h["pocketstack:cpu_allocation_ratio"] for h in ours)
    assert (await env.get(f"{V}/os-pocketstack-hypervisors", who="mia")).status_code == 403
