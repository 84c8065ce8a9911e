"""The same_host / different_host scheduler hints (nova's SameHostFilter and
DifferentHostFilter): where the new server lands on two fake hosts, what a bad hint answers,
and the scheduler's record of a hint that removed every host."""
from __future__ import annotations

import uuid

import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def room(env):
    pid = env.ids["project_admin"]
    for path, body in ((f"{V}/os-quota-sets/{pid}", {"quota_set": {"instances": 100, "cores": 100,
                                                                   "ram": 100 * 1024}}),
                       (f"/network/v2.0/quotas/{pid}", {"quota": {"port": 200}})):
        r = await env.http.put(path, json=body, headers=env.h())
        assert r.status_code == 200, r.text


def body(env, name, hints=None):
    b = {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1",
                    "networks": [{"uuid": env.ids["network"]}]}}
    if hints is not None:
        b["os:scheduler_hints"] = hints
    return b


async def boot(env, name, hints=None, status="ACTIVE") -> tuple[str, str | None]:
    r = await env.post(f"{V}/servers", body(env, name, hints))
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    s = await env.wait_status(sid, status)
    return sid, s.get("OS-EXT-SRV-ATTR:host")


async def test_same_host_follows_the_named_server(env):
    first, host = await boot(env, "hint-a")
    for _ in range(3):  # by weight alone the emptier host would win at least once
        _, h = await boot(env, "hint-same", {"same_host": first})
        assert h == host


async def test_different_host_avoids_every_named_server(env):
    first, host = await boot(env, "hint-b")
    second, other = await boot(env, "hint-diff", {"different_host": first})
    assert other != host
    # a list naming servers on both hosts leaves no host: the build fails as nova's NoValidHost
    sid, _ = await boot(env, "hint-none", {"different_host": [first, second]}, status="ERROR")
    r = await env.get(f"{V}/servers/{sid}")
    assert "DifferentHostFilter" in r.json()["server"]["fault"]["message"]


async def test_same_host_of_no_live_server_places_nothing(env):
    sid, _ = await boot(env, "hint-ghost", {"same_host": [str(uuid.uuid4())]}, status="ERROR")
    r = await env.get(f"{V}/servers/{sid}")
    assert "SameHostFilter" in r.json()["server"]["fault"]["message"]


@pytest.mark.parametrize("hints", [{"same_host": "not-a-uuid"}, {"different_host": [1]},
                                   {"different_host": [str(uuid.UUID(int=1))] * 2}])
async def test_bad_hint_is_400_naming_it(env, hints):
    before = len((await env.get(f"{V}/servers")).json()["servers"])
    r = await env.post(f"{V}/servers", body(env, "hint-bad", hints))
    assert r.status_code == 400, r.text
    assert next(iter(hints)) in r.json()["badRequest"]["message"]
    assert len((await env.get(f"{V}/servers")).json()["servers"]) == before
