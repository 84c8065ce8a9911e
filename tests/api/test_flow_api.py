"""GET /compute/v2.1/servers/{id}/os-pocketstack-flow: the launch of a REST-created instance
as the six steps, with the trace's token rules (members see no host names, other projects
get 404, no token 401)."""
from __future__ import annotations

import asyncio

import pytest

V = "/compute/v2.1"
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def boot(env, name, who="admin"):
    body = {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}]}}
    r = await env.post(f"{V}/servers", body, who=who)
    assert r.status_code == 202, r.text
    return r.json()["server"]["id"], r.headers["x-openstack-request-id"]


async def flow_when_done(env, sid, who):
    """ACTIVE, and the build's last record written (it follows the state change)."""
    await env.wait_status(sid, "ACTIVE", who)
    for _ in range(500):
        r = await env.get(f"{V}/servers/{sid}/os-pocketstack-flow", who)
        assert r.status_code == 200, r.text
        f = r.json()["flow"]
        if f["status"] == "done" and f["steps"][5]["status"] == "done":
            return f
        await asyncio.sleep(0.01)
    raise AssertionError(f"the flow never finished: {f['status']}")


async def test_a_rest_created_instance_walks_the_six_steps(env):
    sid, rid = await boot(env, "flow-rest", who="mia")
    f = await flow_when_done(env, sid, "mia")
    assert [st["status"] for st in f["steps"]] == ["done"] * 6
    assert f["token"]["user"] == "mia" and f["token"]["project"] == "admin"
    assert f["token"]["validated_by"] == "nova-api" and "member" in f["token"]["roles"]
    assert "network" in f["steps"][2]["queues"] and "image" in f["steps"][4]["queues"]
    assert f["steps"][5]["states"][-1] == {"vm_state": "active", "task_state": None, "power_state": 1}
    # the member's view names no host (a host's own queue included); the admin's does
    assert "fake-1" not in repr(f) and "fake-2" not in repr(f)
    admin = (await env.get(f"{V}/servers/{sid}/os-pocketstack-flow")).json()["flow"]
    assert any(q.startswith("compute.fake-") for q in admin["steps"][1]["queues"])
    assert env.tokens["mia"] not in repr(f)


async def test_flow_token_rules(env):
    sid, _ = await boot(env, "flow-rules")
    r = await env.get(f"{V}/servers/{sid}/os-pocketstack-flow", who="bob")
    assert r.status_code == 404 and "could not be found" in r.json()["itemNotFound"]["message"]
    r = await env.http.get(f"{V}/servers/{sid}/os-pocketstack-flow")
    assert r.status_code == 401
    r = await env.get(f"{V}/servers/not-a-server/os-pocketstack-flow")
    assert r.status_code == 404 and "not-a-server" in r.json()["itemNotFound"]["message"]
    await env.wait_status(sid, "ACTIVE")
    assert (await env.delete(f"{V}/servers/{sid}")).status_code == 204


async def test_a_create_answers_the_request_id_its_action_is_recorded_under(env):
    """The create's X-OpenStack-Request-Id (and x-compute-request-id) is the 'create' action's
    request id, so `openstack server event list` matches --debug output; each create its own."""
    ids = []
    for name in ("rid-1", "rid-2"):
        body = {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1",
                           "networks": [{"uuid": env.ids["network"]}]}}
        r = await env.post(f"{V}/servers", body)
        assert r.status_code == 202, r.text
        sid, rid = r.json()["server"]["id"], r.headers["x-openstack-request-id"]
        assert r.headers["x-compute-request-id"] == rid and rid.startswith("req-")
        acts = (await env.get(f"{V}/servers/{sid}/os-instance-actions")).json()["instanceActions"]
        assert [(a["action"], a["request_id"]) for a in acts] == [("create", rid)]
        ids.append(rid)
    assert ids[0] != ids[1]
