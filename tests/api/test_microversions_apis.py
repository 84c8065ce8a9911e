"""What compute microversions change outside the server view: key pairs (2.2, 2.35),
os-services (2.11), server groups (2.13), hypervisors (2.28, 2.33), limits and quota sets
(2.36, 2.39), instance actions of a deleted server (2.21), the ip6 filter (2.5) and volume
attachment tags (2.49)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


async def call(env, method, path, version="2.1", who="admin", body=None):
    return await env.http.request(method, path, json=body,
                                  headers=env.h(who, **{"OpenStack-API-Version": f"compute {version}"}))


async def test_keypairs_22_type_and_status_codes(env):
    r = await call(env, "POST", f"{V}/os-keypairs", "2.1", "mia", {"keypair": {"name": "k21"}})
    assert r.status_code == 200 and "type" not in r.json()["keypair"]
    r = await call(env, "POST", f"{V}/os-keypairs", "2.1", "mia", {"keypair": {"name": "k21b", "type": "ssh"}})
    assert r.status_code == 400 and "type" in r.text
    r = await call(env, "POST", f"{V}/os-keypairs", "2.2", "mia", {"keypair": {"name": "k22", "type": "ssh"}})
    assert r.status_code == 201 and r.json()["keypair"]["type"] == "ssh"
    r = await call(env, "POST", f"{V}/os-keypairs", "2.2", "mia", {"keypair": {"name": "k22x", "type": "rsa"}})
    assert r.status_code == 400 and "keypair.type" in r.text
    assert (await call(env, "GET", f"{V}/os-keypairs/k22", "2.2", "mia")).json()["keypair"]["type"] == "ssh"
    listed = (await call(env, "GET", f"{V}/os-keypairs", "2.2", "mia")).json()["keypairs"]
    assert {k["keypair"]["type"] for k in listed} == {"ssh"}
    assert (await call(env, "DELETE", f"{V}/os-keypairs/k22", "2.2", "mia")).status_code == 204
    assert (await call(env, "DELETE", f"{V}/os-keypairs/k21", "2.1", "mia")).status_code == 202


async def test_keypairs_22_x509(env):
    r = await call(env, "POST", f"{V}/os-keypairs", "2.2", "mia", {"keypair": {"name": "cert", "type": "x509"}})
    assert r.status_code == 201, r.text
    kp = r.json()["keypair"]
    assert kp["type"] == "x509" and kp["public_key"].startswith("-----BEGIN CERTIFICATE-----")
    assert kp["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert len(kp["fingerprint"].split(":")) == 20                       # SHA-1, as nova
    shown = (await call(env, "GET", f"{V}/os-keypairs/cert", "2.2", "mia")).json()["keypair"]
    assert shown["type"] == "x509" and "private_key" not in shown
    r = await call(env, "POST", f"{V}/os-keypairs", "2.2", "mia",
                   {"keypair": {"name": "cert2", "type": "x509", "public_key": kp["public_key"]}})
    assert r.status_code == 201 and r.json()["keypair"]["fingerprint"] == kp["fingerprint"]
    before = await env.state()
    r = await call(env, "POST", f"{V}/os-keypairs", "2.2", "mia",
                   {"keypair": {"name": "cert3", "type": "x509", "public_key": "-----BEGIN CERTIFICATE-----\nAAAA"}})
    assert r.status_code == 400 and "x509" in r.json()["badRequest"]["message"]
    assert await env.state() == before


async def test_server_password_is_never_there(env):
    body = {"server": {"name": "mv-pw", "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}]}}
    sid = (await call(env, "POST", f"{V}/servers", "2.1", "mia", body)).json()["server"]["id"]
    assert (await call(env, "GET", f"{V}/servers/{sid}/os-server-password", "2.1", "rita")).json() == {"password": ""}
    assert (await call(env, "DELETE", f"{V}/servers/{sid}/os-server-password", "2.1", "rita")).status_code == 403
    assert (await call(env, "DELETE", f"{V}/servers/{sid}/os-server-password", "2.1", "mia")).status_code == 204
    assert (await call(env, "GET", f"{V}/servers/{sid}/os-server-password", "2.1", "bob")).status_code == 404


async def test_change_password_answers_as_for_a_guest_without_agent(env):
    body = {"server": {"name": "mv-cp", "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}]}}
    sid = (await call(env, "POST", f"{V}/servers", "2.1", "mia", body)).json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    act = f"{V}/servers/{sid}/action"
    before = await env.state()
    r = await call(env, "POST", act, "2.1", "mia", {"changePassword": {"adminPass": "n3w-Secret"}})
    assert r.status_code == 409 and "agent" in r.json()["conflictingRequest"]["message"]
    assert (await call(env, "POST", act, "2.1", "rita", {"changePassword": {"adminPass": "x"}})).status_code == 403
    assert (await call(env, "POST", act, "2.1", "bob", {"changePassword": {"adminPass": "x"}})).status_code == 404
    r = await call(env, "POST", act, "2.1", "mia", {"changePassword": {"password": "x"}})
    assert r.status_code == 400 and "password" in r.json()["badRequest"]["message"]
    assert await env.state() == before
    assert "n3w-Secret" not in r.text


async def test_keypairs_235_pagination(env):
    for n in ("p1", "p2", "p3"):
        made = await call(env, "POST", f"{V}/os-keypairs", "2.2", "bob", {"keypair": {"name": n}})
        assert made.status_code == 201, made.text
    r = await call(env, "GET", f"{V}/os-keypairs?limit=2", "2.35", "bob")
    assert [k["keypair"]["name"] for k in r.json()["keypairs"]] == ["p1", "p2"]
    assert "marker=p2" in r.json()["keypairs_links"][0]["href"]
    r = await call(env, "GET", f"{V}/os-keypairs?limit=2&marker=p2", "2.35", "bob")
    assert [k["keypair"]["name"] for k in r.json()["keypairs"]] == ["p3"]
    r = await call(env, "GET", f"{V}/os-keypairs?limit=2", "2.34", "bob")  # before 2.35: all of them
    assert len(r.json()["keypairs"]) == 3


async def test_services_211_forced_down(env):
    r = await call(env, "GET", f"{V}/os-services", "2.10")
    assert all("forced_down" not in s for s in r.json()["services"])
    r = await call(env, "GET", f"{V}/os-services", "2.11")
    assert [s["forced_down"] for s in r.json()["services"]] == [False, False]


async def test_server_groups_213_owner(env):
    r = await call(env, "POST", f"{V}/os-server-groups", "2.13", "mia",
                   {"server_group": {"name": "g13", "policies": ["affinity"]}})
    g = r.json()["server_group"]
    assert (g["project_id"], g["user_id"]) == (env.ids["project_admin"], env.ids["user_mia"])
    g12 = (await call(env, "GET", f"{V}/os-server-groups/{g['id']}", "2.12", "mia")).json()["server_group"]
    assert "project_id" not in g12 and "user_id" not in g12


async def test_hypervisors_228_cpu_info_and_233_pagination(env):
    h = (await call(env, "GET", f"{V}/os-hypervisors/detail", "2.27")).json()["hypervisors"][0]
    assert h["cpu_info"] == "{}"
    h = (await call(env, "GET", f"{V}/os-hypervisors/detail", "2.28")).json()["hypervisors"][0]
    assert h["cpu_info"] == {}
    r = await call(env, "GET", f"{V}/os-hypervisors?limit=1", "2.33")
    assert len(r.json()["hypervisors"]) == 1 and r.json()["hypervisors_links"][0]["rel"] == "next"
    r = await call(env, "GET", f"{V}/os-hypervisors?limit=1", "2.32")
    assert len(r.json()["hypervisors"]) == 2


async def test_limits_and_quota_sets_lose_the_proxies(env):
    a = (await call(env, "GET", f"{V}/limits", "2.35")).json()["limits"]["absolute"]
    assert {"maxSecurityGroups", "totalFloatingIpsUsed", "maxImageMeta"} <= set(a)
    a = (await call(env, "GET", f"{V}/limits", "2.36")).json()["limits"]["absolute"]
    assert not {"maxSecurityGroups", "maxSecurityGroupRules", "maxTotalFloatingIps", "totalFloatingIpsUsed",
                "totalSecurityGroupsUsed"} & set(a) and "maxImageMeta" in a
    a = (await call(env, "GET", f"{V}/limits", "2.39")).json()["limits"]["absolute"]
    assert "maxImageMeta" not in a and a["maxTotalInstances"] > 0
    pid = env.ids["project_admin"]
    q = (await call(env, "GET", f"{V}/os-quota-sets/{pid}", "2.35")).json()["quota_set"]
    assert q["floating_ips"] == -1 and q["security_groups"] == -1
    q = (await call(env, "GET", f"{V}/os-quota-sets/{pid}", "2.36")).json()["quota_set"]
    assert not {"floating_ips", "fixed_ips", "security_groups", "security_group_rules"} & set(q)
    assert "instances" in q


async def test_actions_of_a_deleted_server_from_221(env):
    body = {"server": {"name": "mv-gone", "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}]}}
    sid = (await call(env, "POST", f"{V}/servers", "2.1", "mia", body)).json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    assert (await call(env, "DELETE", f"{V}/servers/{sid}", "2.1", "mia")).status_code == 204
    await env.cloud.rt.bus.drain(10)
    assert (await call(env, "GET", f"{V}/servers/{sid}/os-instance-actions", "2.20", "mia")).status_code == 404
    r = await call(env, "GET", f"{V}/servers/{sid}/os-instance-actions", "2.21", "mia")
    assert r.status_code == 200 and {"create", "delete"} <= {a["action"] for a in r.json()["instanceActions"]}


async def test_ip6_filter(env):
    everyone = (await call(env, "GET", f"{V}/servers", "2.4", "mia")).json()["servers"]
    # below 2.5 a member's ip6 filter is ignored; from 2.5 it applies (no server has IPv6)
    assert (await call(env, "GET", f"{V}/servers?ip6=fe80", "2.4", "mia")).json()["servers"] == everyone
    assert (await call(env, "GET", f"{V}/servers?ip6=fe80", "2.5", "mia")).json()["servers"] == []


async def test_volume_attachment_tag_from_249(env):
    body = {"server": {"name": "mv-att", "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}]}}
    sid = (await call(env, "POST", f"{V}/servers", "2.1", "mia", body)).json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    r = await env.http.post(f"{env.vol('mia')}/volumes", json={"volume": {"size": 1, "name": "att"}},
                            headers=env.h("mia"))
    vid = r.json()["volume"]["id"]
    for _ in range(200):
        if (await env.http.get(f"{env.vol('mia')}/volumes/{vid}", headers=env.h("mia"))).json()[
                "volume"]["status"] == "available":
            break
        await env.cloud.rt.bus.drain(1)
    att = {"volumeAttachment": {"volumeId": vid, "tag": "data"}}
    r = await call(env, "POST", f"{V}/servers/{sid}/os-volume_attachments", "2.48", "mia", att)
    assert r.status_code == 400 and "tag" in r.text
    r = await call(env, "POST", f"{V}/servers/{sid}/os-volume_attachments", "2.49", "mia", att)
    assert r.status_code == 200, r.text
