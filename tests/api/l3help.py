"""Helpers of the router and floating IP API tests: an external network, tenant networks."""
from __future__ import annotations

from apihelp import table_hashes

N = "/network/v2.0"


async def external_network(env, cidr="172.24.4.0/24", name="public") -> tuple[dict, dict]:
    r = await env.post(f"{N}/networks", {"network": {"name": name, "router:external": True}})
    assert r.status_code == 201 and r.json()["network"]["router:external"] is True, r.text
    net = r.json()["network"]
    r = await env.post(f"{N}/subnets", {"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}})
    assert r.status_code == 201, r.text
    return net, r.json()["subnet"]


async def tenant_network(env, cidr, who="mia", **subnet) -> tuple[dict, dict]:
    r = await env.post(f"{N}/networks", {"network": {"name": f"net-{cidr}"}}, who=who)
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    r = await env.post(f"{N}/subnets", {"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4,
                                                   **subnet}}, who=who)
    assert r.status_code == 201, r.text
    return net, r.json()["subnet"]


async def router(env, who="mia", gateway_net=None, name="r") -> dict:
    body = {"name": name}
    if gateway_net:
        body["external_gateway_info"] = {"network_id": gateway_net}
    r = await env.post(f"{N}/routers", {"router": body}, who=who)
    assert r.status_code == 201, r.text
    return r.json()["router"]


async def put(env, path, body, who="mia"):
    return await env.http.put(path, json=body, headers=env.h(who))


def db_state(env) -> dict:
    return table_hashes(env.cloud.rt.db.conn)


def neutron_error(r, code: int, *words: str, kind: str | None = None) -> dict:
    assert r.status_code == code, (r.status_code, r.text)
    err = r.json()["NeutronError"]
    assert set(err) == {"type", "message", "detail"}, err
    for w in words:
        assert w in err["message"], (w, err)
    if kind:
        assert err["type"] == kind, err
    return err
