"""The token of a scoped event feed (the REST event stream's, the app's): checked once, not
once per event, and again as soon as its answer may change - a revoked token, a disabled
user, an expired token get nothing more from the next event on."""
from __future__ import annotations

import time

import pytest

from backend.facade import Cloud
from cloudhelp import make_config


@pytest.fixture
async def cloud(tmp_path):
    cfg = make_config(tmp_path, power_sync_interval=600.0, heartbeat_interval=60.0, service_down_time=600.0)
    Cloud.init(cfg, "secret")
    c = Cloud(cfg)
    await c.start()
    c.test_admin = (await c.login("admin", "secret", "admin"))["token"]
    yield c
    await c.stop()


def instance_event(cloud, n: int) -> dict:
    """An instance event of the admin project (what every admin-project token may see)."""
    project = cloud.rt.identity.context_for(cloud.test_admin).project_id
    return {"type": "instance", "server": {"id": f"s{n}", "project_id": project, "fault": None, "host": "h"}}


def counting(cloud) -> list:
    calls: list = []
    real = cloud.rt.identity.context_for

    def context_for(*a, **kw):
        calls.append(a)
        return real(*a, **kw)
    cloud.rt.identity.context_for = context_for
    return calls


async def test_the_token_is_checked_once_not_per_event(cloud):
    got: list = []
    unsubscribe = cloud.subscribe(got.append, token=cloud.test_admin)
    events = [instance_event(cloud, n) for n in range(100)]
    calls = counting(cloud)
    for e in events:
        cloud.rt.events.publish(e)
    unsubscribe()
    assert len(got) == 100
    assert len(calls) == 1


async def test_a_revoked_token_gets_no_further_event(cloud):
    tok = (await cloud.login("admin", "secret", "admin"))["token"]
    got: list = []
    unsubscribe = cloud.subscribe(got.append, token=tok)
    cloud.rt.events.publish(instance_event(cloud, 1))
    await cloud.revoke_token(cloud.test_admin, tok)
    cloud.rt.events.publish(instance_event(cloud, 2))
    unsubscribe()
    assert [e["server"]["id"] for e in got] == ["s1"]


async def test_a_disabled_users_token_gets_no_further_event(cloud):
    adm = cloud.test_admin
    admin_project = cloud.rt.identity.context_for(adm).project_id
    await cloud.create_user(adm, "alice", "alice-pw")
    await cloud.grant_role(adm, admin_project, "alice", "member")
    alice = (await cloud.login("alice", "alice-pw", "admin"))["token"]
    got: list = []
    unsubscribe = cloud.subscribe(got.append, token=alice)
    cloud.rt.events.publish(instance_event(cloud, 1))
    await cloud.update_user(adm, "alice", enabled=False)
    cloud.rt.events.publish(instance_event(cloud, 2))
    unsubscribe()
    assert [e["server"]["id"] for e in got] == ["s1"]


async def test_a_token_past_its_expiry_gets_no_further_event(cloud, monkeypatch):
    got: list = []
    unsubscribe = cloud.subscribe(got.append, token=cloud.test_admin)
    cloud.rt.events.publish(instance_event(cloud, 1))
    second = instance_event(cloud, 2)
    later = time.time() + cloud.rt.config.token_ttl + 5
    monkeypatch.setattr(time, "time", lambda: later)
    cloud.rt.events.publish(second)
    unsubscribe()
    assert [e["server"]["id"] for e in got] == ["s1"]


async def test_a_token_function_is_followed_to_the_current_token(cloud):
    adm = cloud.test_admin
    await cloud.create_project(adm, "other")
    await cloud.create_user(adm, "bob", "bob-pw")
    await cloud.grant_role(adm, "other", "bob", "member")
    bob = (await cloud.login("bob", "bob-pw", "other"))["token"]
    current = [adm]
    got: list = []
    unsubscribe = cloud.subscribe(got.append, token=lambda: current[0])
    cloud.rt.events.publish(instance_event(cloud, 1))
    current[0] = bob  # the app logged in again, to another project: no identity change
    cloud.rt.events.publish(instance_event(cloud, 2))
    current[0] = None  # logged out
    cloud.rt.events.publish(instance_event(cloud, 3))
    current[0] = adm
    cloud.rt.events.publish(instance_event(cloud, 4))
    unsubscribe()
    assert [e["server"]["id"] for e in got] == ["s1", "s4"]
