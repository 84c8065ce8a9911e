"""Neutron's policy on a port's binding: which host it is bound to and how it is wired
(binding:host_id, binding:vif_type, binding:vif_details, binding:profile) is shown to admins
only; a member never learns the names of the cloud's hosts from its own ports."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
N = "/network/v2.0"
ADMIN_ONLY = {"binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile"}


async def test_a_members_port_hides_its_binding_an_admin_sees_it(env):
    r = await env.post(f"{N}/networks", {"network": {"name": "bp"}}, who="mia")
    assert r.status_code == 201, r.text
    nid = r.json()["network"]["id"]
    r = await env.post(f"{N}/subnets", {"subnet": {"network_id": nid, "cidr": "10.45.0.0/24",
                                                  "ip_version": 4}}, who="mia")
    assert r.status_code == 201, r.text
    r = await env.post(f"{N}/ports", {"port": {"network_id": nid}}, who="mia")
    assert r.status_code == 201, r.text
    created = r.json()["port"]
    assert not ADMIN_ONLY & created.keys() and created["binding:vnic_type"] == "normal"
    pid = created["id"]
    r = await env.http.put(f"{N}/ports/{pid}", json={"port": {"binding:host_id": "fake-1"}},
                           headers=env.h("admin"))
    assert r.status_code == 200 and r.json()["port"]["binding:host_id"] == "fake-1", r.text
    admin_view = (await env.get(f"{N}/ports/{pid}", who="admin")).json()["port"]
    assert ADMIN_ONLY <= admin_view.keys() and admin_view["binding:host_id"] == "fake-1"
    shown = (await env.get(f"{N}/ports/{pid}", who="mia")).json()["port"]
    listed = [p for p in (await env.get(f"{N}/ports?network_id={nid}", who="mia")).json()["ports"]
              if p["id"] == pid]
    r = await env.http.put(f"{N}/ports/{pid}", json={"port": {"name": "renamed"}}, headers=env.h("mia"))
    assert r.status_code == 200, r.text
    for view in (shown, listed[0], r.json()["port"]):
        assert not ADMIN_ONLY & view.keys(), view
        assert "fake-1" not in repr(view)
    assert (await env.delete(f"{N}/ports/{pid}", who="mia")).status_code == 204
    assert (await env.delete(f"{N}/networks/{nid}", who="mia")).status_code == 204
