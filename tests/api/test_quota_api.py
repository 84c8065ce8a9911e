"""Quota APIs as upstream: nova's and cinder's os-quota-sets, neutron's quotas, the limits
documents, and each service's over-quota answer (nova 403, neutron 409 OverQuota, cinder 413,
glance 413)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")

V = "/compute/v2.1"


async def put(env, path, body, who="admin"):
    return await env.http.put(path, json=body, headers=env.h(who))


async def test_nova_quota_sets_put_get_detail_defaults_delete(env):
    pid = env.ids["project_bob"]
    r = await put(env, f"{V}/os-quota-sets/{pid}", {"quota_set": {"instances": 12, "cores": "30"}})
    assert r.status_code == 200, r.text
    assert r.json()["quota_set"]["instances"] == 12 and r.json()["quota_set"]["cores"] == 30
    q = (await env.get(f"{V}/os-quota-sets/{pid}", who="bob")).json()["quota_set"]
    assert q["id"] == pid and q["instances"] == 12 and q["ram"] == 51200 and q["metadata_items"] == 128
    d = (await env.get(f"{V}/os-quota-sets/{pid}/detail", who="bob")).json()["quota_set"]
    assert d["instances"] == {"limit": 12, "in_use": 0, "reserved": 0}
    lim = (await env.get(f"{V}/limits", who="bob")).json()["limits"]["absolute"]
    assert (lim["maxTotalInstances"], lim["maxTotalCores"], lim["totalInstancesUsed"]) == (12, 30, 0)
    assert (lim["maxServerGroups"], lim["maxServerGroupMembers"], lim["maxServerMeta"]) == (10, 10, 128)
    dflt = (await env.get(f"{V}/os-quota-sets/{pid}/defaults", who="bob")).json()["quota_set"]
    assert dflt["instances"] == 10 and dflt["server_groups"] == 10
    r = await env.http.delete(f"{V}/os-quota-sets/{pid}", headers=env.h())
    assert r.status_code == 202
    assert (await env.get(f"{V}/os-quota-sets/{pid}", who="bob")).json()["quota_set"]["instances"] == 10


async def test_quota_policy_members_read_their_own_admins_any(env):
    own, other = env.ids["project_bob"], env.ids["project_admin"]
    assert (await env.get(f"{V}/os-quota-sets/{own}", who="bob")).status_code == 200
    r = await env.get(f"{V}/os-quota-sets/{other}", who="bob")
    assert r.status_code == 403 and r.json()["forbidden"]["code"] == 403
    assert (await env.get(f"{V}/os-quota-sets/{own}")).status_code == 200  # admin, another project
    vol = f"/volume/v3/{own}"
    for path, body in ((f"{V}/os-quota-sets/{own}", {"quota_set": {"instances": 50}}),
                       (f"/network/v2.0/quotas/{own}", {"quota": {"port": 900}}),
                       (f"{vol}/os-quota-sets/{own}", {"quota_set": {"volumes": 50}})):
        r = await put(env, path, body, who="bob")
        assert r.status_code == 403, (path, r.text)
        assert (await env.http.delete(path, headers=env.h("bob"))).status_code == 403
    assert (await env.get(f"/network/v2.0/quotas/{other}", who="bob")).status_code == 403
    assert (await env.get(f"{vol}/os-quota-sets/{other}", who="bob")).status_code == 403
    assert (await env.get(f"{V}/os-quota-sets/{own}", who="bob")).json()["quota_set"]["instances"] == 10


@pytest.mark.parametrize("path, body, key", [
    ("compute", {"quota_set": {"instances": "ten"}}, "instances"),
    ("compute", {"quota_set": {"cores": -5}}, "cores"),
    ("compute", {"quota_set": {"floating_ips": 3}}, "floating_ips"),
    ("compute", {"quota_set": {"instances": 5, "force": "maybe"}}, "force"),
    ("network", {"quota": {"port": 1.5}}, "port"),
    ("network", {"quota": {"network": 3, "widget": 1}}, "widget"),
    ("volume", {"quota_set": {"gigabytes": [1]}}, "gigabytes"),
])
async def test_bad_quota_values_are_400_naming_the_key(env, path, body, key):
    pid = env.ids["project_bob"]
    url = {"compute": f"{V}/os-quota-sets/{pid}", "network": f"/network/v2.0/quotas/{pid}",
           "volume": f"/volume/v3/{env.ids['project_admin']}/os-quota-sets/{pid}"}[path]
    before = (await env.get(url)).json()
    r = await put(env, url, body)
    assert r.status_code == 400, r.text
    assert key in r.text
    assert (await env.get(url)).json() == before


async def test_nova_over_quota_is_403_quota_exceeded(env):
    pid = env.ids["project_bob"]
    assert (await put(env, f"{V}/os-quota-sets/{pid}", {"quota_set": {"instances": 0}})).status_code == 200
    try:
        r = await env.post(f"{V}/servers", {"server": {"name": "q", "imageRef": env.ids["image"],
                                                       "flavorRef": "1", "networks": "none"}}, who="bob")
        assert r.status_code == 403, r.text
        assert r.json()["forbidden"]["message"] == ("Quota exceeded for instances: Requested 1, but already "
                                                    "used 0 of 0 instances")
        r = await put(env, f"{V}/os-quota-sets/{pid}", {"quota_set": {"instances": -1, "cores": 0}})
        r = await env.post(f"{V}/servers", {"server": {"name": "q", "imageRef": env.ids["image"],
                                                       "flavorRef": "1", "networks": "none"}}, who="bob")
        assert r.status_code == 403 and "cores" in r.json()["forbidden"]["message"]
        assert (await env.get(f"{V}/servers", who="bob")).json()["servers"] == []
    finally:
        await env.http.delete(f"{V}/os-quota-sets/{pid}", headers=env.h())


async def test_neutron_quotas_and_overquota_on_the_shared_network(env):
    pid = env.ids["project_bob"]
    r = await put(env, f"/network/v2.0/quotas/{pid}", {"quota": {"port": 3, "network": "-1"}})
    assert r.status_code == 200, r.text
    assert r.json()["quota"]["port"] == 3 and r.json()["quota"]["network"] == -1
    try:
        made = []
        for i in range(3):
            r = await env.post("/network/v2.0/ports", {"port": {"network_id": env.ids["network"]}}, who="bob")
            assert r.status_code == 201, r.text
            made.append(r.json()["port"]["id"])
        r = await env.post("/network/v2.0/ports", {"port": {"network_id": env.ids["network"]}}, who="bob")
        assert r.status_code == 409
        err = r.json()["NeutronError"]
        assert err["type"] == "OverQuota" and "['port']" in err["message"] and "limit 3, used 3" in err["message"]
        d = (await env.get(f"/network/v2.0/quotas/{pid}/details.json", who="bob")).json()["quota"]
        assert d["port"] == {"limit": 3, "used": 3, "reserved": 0} and d["network"]["limit"] == -1
        assert (await env.get(f"/network/v2.0/quotas/{pid}/default", who="bob")).json()["quota"]["port"] == 500
        # check_limit (neutron's quota-check-limit) refuses a limit under current usage
        r = await put(env, f"/network/v2.0/quotas/{pid}", {"quota": {"port": 2, "check_limit": True}})
        assert r.status_code == 400 and "port" in r.json()["NeutronError"]["message"]
        r = await put(env, f"/network/v2.0/quotas/{pid}", {"quota": {"port": 3, "check_limit": False}})
        assert r.status_code == 200
        # fixed IPs on a network that is not the member's: admins only (neutron's policy)
        r = await env.post("/network/v2.0/ports", {"port": {"network_id": env.ids["network"],
                                                            "fixed_ips": [{"ip_address": "10.0.0.200"}]}},
                           who="bob")
        assert r.status_code == 403 and r.json()["NeutronError"]["type"] == "Forbidden"
        for p in made:
            assert (await env.delete(f"/network/v2.0/ports/{p}", who="bob")).status_code == 204
    finally:
        r = await env.http.delete(f"/network/v2.0/quotas/{pid}", headers=env.h())
        assert r.status_code == 204
    assert (await env.get(f"/network/v2.0/quotas/{pid}", who="bob")).json()["quota"]["port"] == 500


async def test_cinder_quota_sets_limits_and_413(env):
    pid, vol = env.ids["project_bob"], env.vol("bob")
    r = await put(env, f"{env.vol()}/os-quota-sets/{pid}", {"quota_set": {"volumes": 1, "gigabytes": 3}})
    assert r.status_code == 200 and r.json()["quota_set"]["volumes"] == 1
    try:
        r = await env.post(f"{vol}/volumes", {"volume": {"size": 4}}, who="bob")
        assert r.status_code == 413
        assert r.json()["overLimit"]["message"] == ("Requested volume or snapshot exceeds allowed gigabytes "
                                                    "quota. Requested 4G, quota is 3G and 0G has been consumed.")
        r = await env.post(f"{vol}/volumes", {"volume": {"size": 2}}, who="bob")
        assert r.status_code == 202
        vid = r.json()["volume"]["id"]
        r = await env.post(f"{vol}/volumes", {"volume": {"size": 1}}, who="bob")
        assert r.status_code == 413 and "'volumes'" in r.json()["overLimit"]["message"]
        q = (await env.get(f"{vol}/os-quota-sets/{pid}?usage=True", who="bob")).json()["quota_set"]
        assert q["volumes"] == {"limit": 1, "in_use": 1, "reserved": 0, "allocated": 0}
        assert q["gigabytes"]["in_use"] == 2
        lim = (await env.get(f"{vol}/limits", who="bob")).json()["limits"]["absolute"]
        assert (lim["maxTotalVolumes"], lim["totalVolumesUsed"], lim["maxTotalVolumeGigabytes"]) == (1, 1, 3)
        r = await put(env, f"{env.vol()}/os-quota-sets/{pid}",
                      {"quota_set": {"gigabytes": 1, "skip_validation": False}})
        assert r.status_code == 400 and "gigabytes" in r.text
        assert (await env.get(f"{vol}/os-quota-sets/{pid}/defaults", who="bob")).json()["quota_set"][
            "volumes"] == 10
        assert (await env.delete(f"{vol}/volumes/{vid}", who="bob")).status_code == 202
    finally:
        r = await env.http.delete(f"{env.vol()}/os-quota-sets/{pid}", headers=env.h())
        assert r.status_code == 200
    assert (await env.get(f"{vol}/os-quota-sets/{pid}", who="bob")).json()["quota_set"]["volumes"] == 10


async def test_glance_image_count_is_413(env):
    pid = env.ids["project_bob"]
    await env.cloud.update_quotas(env.tokens["admin"], pid, "image", {"image_count_total": 0})
    try:
        r = await env.post("/image/v2/images", {"name": "q", "disk_format": "raw", "container_format": "bare"},
                           who="bob")
        assert r.status_code == 413
        assert "image_count_total is over limit of 0 due to current usage 0 and delta 1" in r.json()["message"]
        u = (await env.get("/image/v2/info/usage", who="bob")).json()["usage"]
        assert u["image_count_total"] == {"limit": 0, "usage": 0}
        assert u["image_size_total"] == {"limit": 51200, "usage": 0}
    finally:
        await env.cloud.delete_quotas(env.tokens["admin"], pid, "image")
