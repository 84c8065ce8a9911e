"""More of nova 2.1's contract as Tempest checks it: the update answer's core view, 400 for a
create naming a missing flavor or image, 404 before 400 for any action on a missing server,
a user's quota set (the project's: no per-user overrides exist)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"
MISSING = "00000000-0000-0000-0000-00000000beef"


def srv(**over) -> dict:
    return {"server": {"name": "c-1", "flavorRef": "1", **over}}


async def test_update_answers_the_core_view(env):
    body = srv(imageRef=env.ids["image"], networks=[{"uuid": env.ids["network"]}])
    sid = (await env.post(f"{V}/servers", body)).json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE")
    r = await env.http.put(f"{V}/servers/{sid}", json={"server": {"name": "c-2"}}, headers=env.h())
    assert r.status_code == 200, r.text
    s = r.json()["server"]
    assert s["name"] == "c-2" and not [k for k in s if ":" in k and k != "OS-DCF:diskConfig"]
    assert "key_name" not in s and "security_groups" not in s
    assert all(set(a) == {"version", "addr"} for addrs in s["addresses"].values() for a in addrs)
    assert s["addresses"]


async def test_create_naming_a_missing_flavor_or_image_is_400(env):
    r = await env.post(f"{V}/servers", srv(imageRef=env.ids["image"], flavorRef="-1"))
    assert r.status_code == 400 and "Flavor -1" in r.json()["badRequest"]["message"]
    r = await env.post(f"{V}/servers", srv(imageRef=MISSING))
    assert r.status_code == 400 and MISSING in r.json()["badRequest"]["message"]


@pytest.mark.parametrize("action", ["forceDelete", "rebuild", "restore", "os-stop"])
async def test_any_action_on_a_missing_server_is_404(env, action):
    r = await env.post(f"{V}/servers/{MISSING}/action", {action: None})
    assert r.status_code == 404, r.text


async def test_a_users_quota_set_is_the_projects(env):
    pid = env.ids["project_admin"]
    mine = (await env.get(f"{V}/os-quota-sets/{pid}")).json()["quota_set"]
    r = await env.get(f"{V}/os-quota-sets/{pid}?user_id={env.ids['user_mia']}")
    assert r.status_code == 200 and r.json()["quota_set"] == mine
    r = await env.http.put(f"{V}/os-quota-sets/{pid}?user_id={env.ids['user_mia']}",
                           json={"quota_set": {"instances": 3}}, headers=env.h())
    assert r.status_code == 400 and "user_id" in r.json()["badRequest"]["message"]


async def test_list_filters_ip_and_changes_since(env):
    body = srv(imageRef=env.ids["image"], networks=[{"uuid": env.ids["network"]}])
    a = (await env.post(f"{V}/servers", {"server": {**body["server"], "name": "ip-a"}}, who="bob")).json()
    b = (await env.post(f"{V}/servers", {"server": {**body["server"], "name": "ip-b"}}, who="bob")).json()
    a, b = a["server"]["id"], b["server"]["id"]
    sa = await env.wait_status(a, "ACTIVE", who="bob")
    await env.wait_status(b, "ACTIVE", who="bob")
    (ip,) = [x["addr"] for addrs in sa["addresses"].values() for x in addrs]
    got = [s["id"] for s in (await env.get(f"{V}/servers?ip={ip}$", who="bob")).json()["servers"]]
    assert got == [a]
    assert (await env.get(f"{V}/servers?ip=(", who="bob")).status_code == 400
    r = await env.get(f"{V}/servers?changes-since=2011/01/01", who="bob")
    assert r.status_code == 400 and "changes-since" in r.json()["badRequest"]["message"]
    assert (await env.get(f"{V}/servers?changes-since=2099-01-01T00:00:00Z", who="bob")).json()["servers"] == []
    got = {s["id"] for s in (await env.get(f"{V}/servers?changes-since=2011-01-01T00:00:00Z",
                                            who="bob")).json()["servers"]}
    assert {a, b} <= got


async def test_create_over_the_metadata_items_quota_is_403(env):
    meta = {f"k{i}": "v" for i in range(129)}
    before = len((await env.get(f"{V}/servers")).json()["servers"])
    r = await env.post(f"{V}/servers", srv(imageRef=env.ids["image"], metadata=meta))
    assert r.status_code == 403 and "metadata_items" in r.json()["forbidden"]["message"], r.text
    assert len((await env.get(f"{V}/servers")).json()["servers"]) == before


async def test_reset_state_admins_only_active_or_error(env):
    body = srv(imageRef=env.ids["image"], networks=[{"uuid": env.ids["network"]}])
    sid = (await env.post(f"{V}/servers", body, who="mia")).json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    act = f"{V}/servers/{sid}/action"
    assert (await env.post(act, {"os-resetState": {"state": "error"}}, who="mia")).status_code == 403
    r = await env.post(act, {"os-resetState": {"state": "paused"}})
    assert r.status_code == 400 and "os-resetState.state" in r.json()["badRequest"]["message"]
    assert (await env.get(f"{V}/servers/{sid}")).json()["server"]["status"] == "ACTIVE"
    assert (await env.post(act, {"os-resetState": {"state": "error"}})).status_code == 202
    s = (await env.get(f"{V}/servers/{sid}")).json()["server"]
    assert (s["status"], s["OS-EXT-STS:task_state"]) == ("ERROR", None)
    assert sid in [x["id"] for x in (await env.get(f"{V}/servers?status=ERROR", who="mia")).json()["servers"]]
    assert (await env.post(act, {"os-resetState": {"state": "active"}})).status_code == 202
    assert (await env.get(f"{V}/servers/{sid}")).json()["server"]["status"] == "ACTIVE"
    r = await env.post(f"{V}/servers/{MISSING}/action", {"os-resetState": {"state": "error"}})
    assert r.status_code == 404


async def test_access_ips_kept_at_create_and_update(env):
    body = srv(imageRef=env.ids["image"], networks=[{"uuid": env.ids["network"]}], accessIPv4="1.1.1.1",
               accessIPv6="::babe:202:202")
    sid = (await env.post(f"{V}/servers", body, who="mia")).json()["server"]["id"]
    s = (await env.get(f"{V}/servers/{sid}", who="mia")).json()["server"]
    assert (s["accessIPv4"], s["accessIPv6"]) == ("1.1.1.1", "::babe:202:202")
    r = await env.http.put(f"{V}/servers/{sid}", json={"server": {"accessIPv4": "2.2.2.2"}}, headers=env.h("mia"))
    assert r.status_code == 200 and (r.json()["server"]["accessIPv4"], r.json()["server"]["accessIPv6"]) == (
        "2.2.2.2", "::babe:202:202")
    for field, bad in (("accessIPv4", "::1"), ("accessIPv4", "1.1.1"), ("accessIPv6", "1.1.1.1")):
        r = await env.http.put(f"{V}/servers/{sid}", json={"server": {field: bad, "name": "renamed"}},
                               headers=env.h("mia"))
        assert r.status_code == 400 and field in r.json()["badRequest"]["message"]
        r = await env.post(f"{V}/servers", {"server": {**body["server"], field: bad}}, who="mia")
        assert r.status_code == 400 and field in r.json()["badRequest"]["message"]
    s = (await env.get(f"{V}/servers/{sid}", who="mia")).json()["server"]
    assert (s["name"], s["accessIPv4"]) == ("c-1", "2.2.2.2")
