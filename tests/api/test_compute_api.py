"""Nova v2.1 through the REST API: versions, flavors, servers and their actions, instance
actions, pagination, hypervisors, server groups, limits, pocketstack's explain/trace."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


async def boot(env, name, who="admin", **extra):
    body = {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}], **extra}}
    r = await env.post(f"{V}/servers", body, who=who)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    env.ids["create_rid_" + sid] = r.headers["x-openstack-request-id"]
    return sid


async def test_version_document_and_microversions(env):
    r = await env.http.get("/compute")
    v = r.json()["versions"][0]
    assert (v["id"], v["version"], v["min_version"]) == ("v2.1", "2.52", "2.1")
    r = await env.http.get(f"{V}/")
    assert r.json()["version"]["links"][0]["href"] == "http://pocketstack.test/compute/v2.1/"
    r = await env.get(f"{V}/flavors")
    assert r.headers["OpenStack-API-Version"] == "compute 2.1"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    r = await env.http.get(f"{V}/flavors", headers=env.h(**{"OpenStack-API-Version": "compute 2.79"}))
    assert r.status_code == 406 and "2.79" in r.json()["notAcceptable"]["message"]
    r = await env.http.get(f"{V}/flavors", headers=env.h(**{"OpenStack-API-Version": "compute latest"}))
    assert r.status_code == 200


async def test_flavors(env):
    r = await env.get(f"{V}/flavors/detail")
    names = [f["name"] for f in r.json()["flavors"]]
    assert names[:4] == ["m1.nano", "m1.micro", "m1.tiny", "m1.small"]
    nano = r.json()["flavors"][0]
    assert (nano["vcpus"], nano["ram"], nano["disk"]) == (1, 128, 1)
    assert (await env.get(f"{V}/flavors/m1.nano")).status_code == 404  # a name is not an id
    r = await env.get(f"{V}/flavors?limit=2")
    assert len(r.json()["flavors"]) == 2 and r.json()["flavors_links"][0]["rel"] == "next"
    r = await env.post(f"{V}/flavors", {"flavor": {"name": "x1.test", "ram": 256, "vcpus": 1,
                                                    "disk": 1, "id": "x1"}})
    assert r.status_code == 200 and r.json()["flavor"]["id"] == "x1"
    assert (await env.post(f"{V}/flavors", {"flavor": {"name": "x2", "ram": 1, "vcpus": 1, "disk": 1}},
                           who="mia")).status_code == 403
    assert (await env.delete(f"{V}/flavors/x1")).status_code == 202
    assert (await env.get(f"{V}/flavors/x1")).status_code == 404


async def test_server_create_to_active_and_body_as_upstream(env):
    sid = await boot(env, "web-1", who="mia")
    s = await env.wait_status(sid, "ACTIVE", who="mia")
    assert s["OS-EXT-STS:vm_state"] == "active" and s["OS-EXT-STS:power_state"] == 1
    assert s["tenant_id"] == env.ids["project_admin"] and s["flavor"]["id"] == "1"
    assert s["image"]["id"] == env.ids["image"]
    (addr,) = s["addresses"]["private"]
    assert addr["OS-EXT-IPS:type"] == "fixed" and addr["OS-EXT-IPS-MAC:mac_addr"].startswith("fa:16:3e")
    assert addr["addr"].startswith("10.0.0.")
    assert s["links"][0]["href"] == f"http://pocketstack.test/compute/v2.1/servers/{sid}"
    assert "OS-EXT-SRV-ATTR:host" not in s  # members do not see hosts
    admin_view = await env.wait_status(sid, "ACTIVE")
    assert admin_view["OS-EXT-SRV-ATTR:host"] in ("fake-1", "fake-2")
    assert admin_view["OS-EXT-AZ:availability_zone"] == "nova"
    # a name is not an id; ?name= finds it
    assert (await env.get(f"{V}/servers/web-1", who="mia")).status_code == 404
    r = await env.get(f"{V}/servers?name=web-1", who="mia")
    assert [x["id"] for x in r.json()["servers"]] == [sid]


async def test_actions_events_console_explain_trace(env):
    sid = await boot(env, "ops-1")
    await env.wait_status(sid, "ACTIVE")
    r = await env.post(f"{V}/servers/{sid}/action", {"os-stop": None})
    assert r.status_code == 202
    s = await env.wait_status(sid, "SHUTOFF")
    stop = [a for a in (await env.get(f"{V}/servers/{sid}/os-instance-actions")).json()["instanceActions"]
            if a["action"] == "stop"]
    assert r.headers["x-openstack-request-id"] == stop[0]["request_id"]
    assert s["OS-EXT-STS:power_state"] == 4
    assert (await env.post(f"{V}/servers/{sid}/action", {"os-start": None})).status_code == 202
    await env.wait_status(sid, "ACTIVE")
    r = await env.post(f"{V}/servers/{sid}/action", {"reboot": {"type": "HARD"}})
    assert r.status_code == 202
    await env.wait_status(sid, "ACTIVE")
    r = await env.post(f"{V}/servers/{sid}/action", {"os-getConsoleOutput": {"length": 5}})
    assert r.status_code == 200 and isinstance(r.json()["output"], str)
    acts = (await env.get(f"{V}/servers/{sid}/os-instance-actions")).json()["instanceActions"]
    assert [a["action"] for a in acts][-1] == "create" or [a["action"] for a in acts][0] == "create"
    assert {"create", "stop", "start", "reboot"} <= {a["action"] for a in acts}
    create = next(a for a in acts if a["action"] == "create")
    assert env.ids.get("create_rid_" + sid) in (None, create["request_id"])
    r = await env.get(f"{V}/servers/{sid}/os-instance-actions/{create['request_id']}")
    evs = r.json()["instanceAction"]["events"]
    assert evs and all(e["result"] == "Success" for e in evs)
    assert any(e["event"] == "compute_spawn" for e in evs)
    d = (await env.get(f"{V}/servers/{sid}/os-pocketstack-explain")).json()["decisions"]
    assert d and d[0]["selected"] in ("fake-1", "fake-2")
    t = (await env.get(f"{V}/servers/{sid}/os-pocketstack-trace")).json()["trace"]
    assert {"conductor", "scheduler", "compute"} <= {x["service"] for x in t}
    assert (await env.delete(f"{V}/servers/{sid}")).status_code == 204


async def test_pagination_next_link_only_while_more_remain(env):
    ids = [await boot(env, f"page-{i}") for i in range(5)]
    seen, url = [], f"{V}/servers/detail?name=page-&limit=2"
    pages = 0
    while url:
        r = await env.get(url.replace("http://pocketstack.test", ""))
        body = r.json()
        seen += [s["id"] for s in body["servers"]]
        pages += 1
        links = body.get("servers_links", [])
        url = links[0]["href"] if links else None
    assert sorted(seen) == sorted(ids) and pages == 3
    r = await env.get(f"{V}/servers?name=page-&limit=5")
    assert len(r.json()["servers"]) == 5 and "servers_links" not in r.json()
    for sid in ids:
        await env.wait_status(sid, "ACTIVE")
        assert (await env.delete(f"{V}/servers/{sid}")).status_code == 204


async def test_multi_create_and_reservation(env):
    r = await env.post(f"{V}/servers", {"server": {
        "name": "many", "imageRef": env.ids["image"], "flavorRef": "1", "min_count": 3,
        "max_count": 3, "return_reservation_id": True}})
    assert r.status_code == 202 and r.json()["reservation_id"]
    servers = (await env.get(f"{V}/servers/detail?name=^many")).json()["servers"]
    assert len(servers) == 3
    for s in servers:
        await env.wait_status(s["id"], "ACTIVE")
        await env.delete(f"{V}/servers/{s['id']}")


async def test_boot_from_volume(env):
    before = len((await env.get(f"{env.vol()}/volumes")).json()["volumes"])
    sid = await boot(env, "bfv", block_device_mapping_v2=[{
        "boot_index": 0, "uuid": env.ids["image"], "source_type": "image",
        "destination_type": "volume", "volume_size": 2, "delete_on_termination": True}])
    s = await env.wait_status(sid, "ACTIVE")
    vols = s["os-extended-volumes:volumes_attached"]
    assert len(vols) == 1 and s["image"] == ""  # nova shows no image for boot from volume
    v = (await env.get(f"{env.vol()}/volumes/{vols[0]['id']}")).json()["volume"]
    assert v["size"] == 2 and v["status"] == "in-use" and v["bootable"] == "true"
    assert len((await env.get(f"{env.vol()}/volumes")).json()["volumes"]) == before + 1


async def test_no_valid_host_fault_explains(env):
    r = await env.post(f"{V}/flavors", {"flavor": {"name": "huge", "ram": 16384, "vcpus": 1,
                                                    "disk": 1, "id": "huge"}})
    assert r.status_code == 200
    sid = (await env.post(f"{V}/servers", {"server": {"name": "toobig", "imageRef": env.ids["image"],
                                                       "flavorRef": "huge"}})).json()["server"]["id"]
    s = await env.wait_status(sid, "ERROR")
    assert s["fault"]["message"] and s["fault"]["code"]
    assert "RAM" in s["fault"]["message"] or "Ram" in s["fault"]["message"] or "memory" in s["fault"]["message"].lower()
    await env.delete(f"{V}/servers/{sid}")
    await env.delete(f"{V}/flavors/huge")


async def test_hypervisors_groups_limits_zones(env):
    hs = (await env.get(f"{V}/os-hypervisors/detail")).json()["hypervisors"]
    assert {h["hypervisor_hostname"] for h in hs} == {"fake-1", "fake-2"}
    assert all(h["state"] == "up" and h["vcpus"] == 8 and h["memory_mb"] == 8192 for h in hs)
    one = (await env.get(f"{V}/os-hypervisors/{hs[0]['id']}")).json()["hypervisor"]
    assert one["hypervisor_hostname"] == hs[0]["hypervisor_hostname"]
    assert (await env.get(f"{V}/os-hypervisors", who="mia")).status_code == 403
    r = await env.post(f"{V}/os-server-groups", {"server_group": {"name": "g", "policies": ["anti-affinity"]}})
    gid = r.json()["server_group"]["id"]
    sid = await boot(env, "grouped")
    await env.wait_status(sid, "ACTIVE")
    groups = (await env.get(f"{V}/os-server-groups")).json()["server_groups"]
    assert gid in [g["id"] for g in groups]
    assert (await env.delete(f"{V}/os-server-groups/{gid}")).status_code == 204
    await env.delete(f"{V}/servers/{sid}")
    lim = (await env.get(f"{V}/limits")).json()["limits"]["absolute"]
    assert lim["maxTotalInstances"] >= 1 and "totalInstancesUsed" in lim
    z = (await env.get(f"{V}/os-availability-zone")).json()["availabilityZoneInfo"]
    assert z[0]["zoneName"] == "nova"


async def test_scheduler_hint_group_is_passed(env):
    r = await env.post(f"{V}/os-server-groups", {"server_group": {"name": "aa", "policies": ["anti-affinity"]}})
    gid = r.json()["server_group"]["id"]
    hosts = set()
    for i in range(2):
        r = await env.post(f"{V}/servers", {"server": {"name": f"aa-{i}", "imageRef": env.ids["image"],
                                                        "flavorRef": "1"}, "os:scheduler_hints": {"group": gid}})
        assert r.status_code == 202, r.text
        s = await env.wait_status(r.json()["server"]["id"], "ACTIVE")
        hosts.add(s["OS-EXT-SRV-ATTR:host"])
    assert hosts == {"fake-1", "fake-2"}


async def test_empty_networks_list_means_the_usual(env):
    sid = await boot(env, "nets-empty", networks=[])
    s = await env.wait_status(sid, "ACTIVE")
    assert s["addresses"]
    await env.delete(f"{V}/servers/{sid}")
    assert (await env.get(f"{V}/os-aggregates")).json() == {"aggregates": []}
