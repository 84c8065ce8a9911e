"""GET /pocketstack/v1/events over a real socket (the HTTP server of `serve`): the token's
filter is the in-process subscription's, ids and resume with Last-Event-ID, reset when too
old, keep-alives, a revoked token ends the stream, a slow client is dropped."""
from __future__ import annotations

import asyncio
import json
import socket

import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse
from servedhelp import served

from backend.api.events import PATH
from backend.facade import Cloud
from backend.virt.fake import FakeBehaviour, FakeDriver
from cloudhelp import make_config, wait_for, wait_gone

TIMEOUT = 15.0


class Reader:
    """One event-stream client, reading in a task of its own."""

    def __init__(self, url: str, token: str | None, last_id: str | None = None, params=None) -> None:
        self.url, self.token, self.last_id, self.params = url, token, last_id, params
        self.frames: list = []
        self.status: int | None = None
        self.body = b""
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Reader:
        self.task = asyncio.get_running_loop().create_task(self._run())
        await self.until(lambda: self.status is not None, "the stream's answer")
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        headers = {"X-Auth-Token": self.token} if self.token else {}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        async with httpx.AsyncClient(base_url=self.url, timeout=httpx.Timeout(10, read=30)) as c:
            async with aconnect_sse(c, "GET", PATH, headers=headers, params=self.params) as src:
                status = src.response.status_code
                if status != 200:
                    self.body = await src.response.aread()
                self.status = status  # after the body: a waiter reads both
                if status != 200:
                    return
                async for sse in src.aiter_sse():
                    self.frames.append(sse)

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    @property
    def events(self) -> list[dict]:
        return [json.loads(f.data) for f in self.frames if f.data and f.event != "end"]

    @property
    def ids(self) -> list[str]:
        return [f.id for f in self.frames if f.data and f.event != "end"]

    async def until(self, cond, what: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + TIMEOUT
        while not cond():
            if loop.time() > end:
                raise AssertionError(f"timed out waiting for {what}; frames: {self.frames[-5:]}")
            await asyncio.sleep(0.01)


def seq(event_id: str) -> int:
    return int(event_id.rsplit("-", 1)[1])


def same(events: list[dict]) -> list[dict]:
    """As JSON carries them (what the in-process callback got, for comparison)."""
    return [orjson.loads(orjson.dumps(e, default=str)) for e in events]


async def _cloud(tmp_path, **kw):
    FakeDriver.behaviours.clear()
    cfg = make_config(tmp_path, event_replay=200, **kw)
    Cloud.init(cfg, "secret")
    c = Cloud(cfg)
    await c.start()
    adm = (await c.login("admin", "secret", "admin"))["token"]
    img = await c.create_image(adm, "tiny", visibility="public")
    await c.upload_image(adm, img["id"], b"\0" * 4096)
    c.test_admin, c.test_image = adm, img["id"]
    return c


@pytest.fixture
async def cloud(tmp_path):
    c = await _cloud(tmp_path)
    yield c
    await c.stop()
    FakeDriver.behaviours.clear()


@pytest.fixture
async def quiet_cloud(tmp_path):
    """No background events (power syncs, heartbeats): only what the test does."""
    c = await _cloud(tmp_path, power_sync_interval=600.0, heartbeat_interval=60.0, service_down_time=600.0)
    yield c
    await c.stop()


async def settled(cloud, token, sid, status="ACTIVE"):
    await wait_for(cloud, token, sid, status)


async def test_no_token_or_a_bad_last_event_id_is_refused(cloud):
    async with served(cloud) as srv:
        async with Reader(srv.url, None) as r:
            assert r.status == 401 and b"X-Auth-Token" in r.body
        async with Reader(srv.url, cloud.test_admin, last_id="not an id") as r:
            assert r.status == 400 and b"Last-Event-ID" in r.body and b"not an id" in r.body
        # the token is never taken from the URL (URLs are logged)
        async with httpx.AsyncClient(base_url=srv.url) as c:
            got = await c.get(PATH, params={"token": cloud.test_admin, "X-Auth-Token": cloud.test_admin})
            assert got.status_code == 401


async def test_a_type_filter_sends_only_those_events(cloud):
    """?type=instance: a client that follows server states is sent those and nothing else
    (a build's trace and action events cost it nothing); an unknown type is a 400 naming it."""
    adm = cloud.test_admin
    in_process: list[dict] = []
    unsubscribe = cloud.subscribe(in_process.append, token=adm)
    async with served(cloud) as srv:
        async with Reader(srv.url, adm, params={"type": "instance,bogus"}) as r:
            assert r.status == 400 and b"bogus" in r.body and b"'type'" in r.body
        async with Reader(srv.url, adm, params={"type": "instance"}) as only, \
                Reader(srv.url, adm, params=[("type", "action"), ("type", "instance")]) as two:
            s = (await cloud.create_server(adm, "vm", cloud.test_image, "1"))[0]
            await settled(cloud, adm, s["id"])
            want = [e for e in in_process if e["type"] == "instance"]
            await only.until(lambda: len(only.events) == len(want), "the instance events")
            assert only.events == same(want)
            both = [e for e in in_process if e["type"] in ("instance", "action")]
            await two.until(lambda: len(two.events) == len(both), "the instance and action events")
            assert two.events == same(both) and {e["type"] for e in both} == {"instance", "action"}
            assert any(e["type"] == "trace" for e in in_process)  # there were others to leave out
    unsubscribe()


async def test_a_member_gets_exactly_its_in_process_feed(cloud):
    adm = cloud.test_admin
    demo = await cloud.create_project(adm, "demo")
    await cloud.create_user(adm, "alice", "alice-pw")
    await cloud.grant_role(adm, demo["id"], "alice", "member")
    alice = (await cloud.login("alice", "alice-pw", "demo"))["token"]
    in_process: list[dict] = []
    unsubscribe = cloud.subscribe(in_process.append, token=alice)
    async with served(cloud) as srv, Reader(srv.url, alice) as mine, Reader(srv.url, adm) as admin:
        theirs = (await cloud.create_server(adm, "admins", cloud.test_image, "1"))[0]
        ours = (await cloud.create_server(alice, "alices", cloud.test_image, "1"))[0]
        await settled(cloud, adm, theirs["id"])
        await settled(cloud, alice, ours["id"])
        FakeDriver.behaviours.setdefault("fake-1", FakeBehaviour()).unreachable = True  # admins only
        await admin.until(lambda: any(e["type"] == "host" and e["host"]["name"] == "fake-1"
                                      and e["host"]["state"] == "down" for e in admin.events), "fake-1 down")
        FakeDriver.behaviours["fake-1"].unreachable = False
        await admin.until(lambda: any(e["type"] == "host" and e["host"]["name"] == "fake-1"
                                      and e["host"]["state"] == "up" for e in admin.events), "fake-1 up")
        await cloud.delete_server(alice, ours["id"])
        await wait_gone(cloud, alice, ours["id"])
        await mine.until(lambda: len(mine.events) == len(in_process), "alice's events")
        assert mine.events == same(in_process)
        kinds = {e["type"] for e in mine.events}
        assert {"instance", "trace", "action"} <= kinds and "host" not in kinds
        for e in mine.events:
            if e["type"] == "instance":
                assert e["server"]["project_id"] == demo["id"] and e["server"]["host"] is None
            uuid = e.get("instance_uuid") or (e.get("trace") or {}).get("instance_uuid") \
                or (e.get("server") or {}).get("id")
            assert uuid != theirs["id"]
            assert "fake-1" not in json.dumps(e) and "fake-2" not in json.dumps(e)
        seen = {e["server"]["id"] for e in admin.events if e["type"] == "instance"}
        assert {ours["id"], theirs["id"]} <= seen
        # ids count up without a gap in the admin's (unfiltered) stream: in order, none lost
        assert [seq(i) for i in admin.ids] == list(range(seq(admin.ids[0]), seq(admin.ids[0]) + len(admin.ids)))
        assert [seq(i) for i in mine.ids] == sorted(set(seq(i) for i in mine.ids))
    unsubscribe()


async def test_resume_gives_the_missed_events_once_and_a_reset_when_too_old(quiet_cloud):
    cloud = quiet_cloud
    adm = cloud.test_admin
    async with served(cloud, keepalive=0.05) as srv:
        async with Reader(srv.url, adm) as first:
            a = (await cloud.create_server(adm, "a", cloud.test_image, "1"))[0]
            await settled(cloud, adm, a["id"])
            await first.until(lambda: any(e["type"] == "instance" and e["server"]["status"] == "ACTIVE"
                                          for e in first.events), "a ACTIVE")
            # keep-alives: comments with the current id and no data
            await first.until(lambda: first.frames[-1].data == "", "a keep-alive")
        last = first.frames[-1].id
        assert seq(last) >= seq(first.ids[-1])
        await cloud.stop_server(adm, a["id"])         # while nobody listens
        await settled(cloud, adm, a["id"], "SHUTOFF")
        async with Reader(srv.url, adm, last_id=last) as again:
            await again.until(lambda: any(e["type"] == "instance" and e["server"]["status"] == "SHUTOFF"
                                          for e in again.events), "the replay")
            # exactly once: the admin's stream has every id, so both parts join without a
            # gap and without an id twice
            ids = [seq(i) for i in first.ids + again.ids]
            assert ids == list(range(ids[0], ids[0] + len(ids)))
            assert ids[len(first.ids)] == seq(last) + 1
            assert any(e["type"] == "action" and e["event"]["event"].startswith("compute_stop")
                       for e in again.events) or any(e["type"] == "trace" for e in again.events)
            resume_at = again.frames[-1].id
        # more than the 200 kept events happen while away: a reset, then live events
        made = await cloud.create_server(adm, "b", cloud.test_image, "1", min_count=4, max_count=4)
        for sv in made:
            await settled(cloud, adm, sv["id"])
        async with Reader(srv.url, adm, last_id=resume_at) as late:
            await late.until(lambda: late.events, "the reset")
            assert late.events[0]["type"] == "reset" and "reload" in late.events[0]["reason"]
            await cloud.delete_server(adm, made[0]["id"])
            await late.until(lambda: any(e["type"] == "instance" and e["server"]["id"] == made[0]["id"]
                                         for e in late.events[1:]), "live events after the reset")
        # an id of an earlier run of the server (another epoch) is a reset too
        async with Reader(srv.url, adm, last_id="0123abcd-5") as other:
            await other.until(lambda: other.events, "the reset")
            assert other.events[0]["type"] == "reset"


async def test_a_revoked_token_ends_the_stream(cloud):
    tok = (await cloud.login("admin", "secret", "admin"))["token"]
    async with served(cloud, token_check=0.05) as srv:
        async with Reader(srv.url, tok) as r:
            await cloud.revoke_token(cloud.test_admin, tok)
            await r.until(lambda: r.done, "the end of the stream")
            assert r.frames[-1].event == "end" and json.loads(r.frames[-1].data)["type"] == "end"
        async with Reader(srv.url, tok) as again:
            assert again.status == 401


async def test_a_client_that_does_not_read_is_dropped_and_the_backend_goes_on(cloud):
    adm = cloud.test_admin
    async with served(cloud, outbox=20) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((host, int(port)))
        s.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {adm}\r\n\r\n".encode())
        s.setblocking(False)
        loop = asyncio.get_running_loop()
        end = loop.time() + TIMEOUT
        while not any(p == PATH for _, p, _ in srv.recorder.requests):
            assert loop.time() < end
            await asyncio.sleep(0.01)
        # 40 MB of events for a client that reads nothing: the stream's writer blocks, its
        # outbox fills, the client is dropped; publishing never waits for it
        for i in range(400):
            cloud.rt.events.publish({"type": "host", "host": {"name": f"h{i}", "pad": "x" * 100_000}})
            await asyncio.sleep(0)  # the stream's writer runs between two events
        last = cloud.rt.events.last_id
        made = (await cloud.create_server(adm, "after", cloud.test_image, "1"))[0]
        await settled(cloud, adm, made["id"])  # the backend goes on
        # the server lets go of the connection while the client still reads nothing
        while srv.connections():
            assert loop.time() < end, "the server kept a client that reads nothing"
            await asyncio.sleep(0.01)
        got, closed = b"", False
        while not closed:
            assert loop.time() < end, "the client's socket stayed open"
            try:
                chunk = s.recv(1 << 16)
                closed = chunk == b""
                got += chunk
            except BlockingIOError:
                await asyncio.sleep(0.01)
            except ConnectionResetError:
                closed = True
        s.close()
        ids = [int(line.rsplit(b"-", 1)[1]) for line in got.split(b"\n") if line.startswith(b"id: ")]
        assert not ids or max(ids) < seq(last)  # it got a part, then the server closed


async def test_an_expired_token_ends_the_stream(tmp_path):
    cloud = await _cloud(tmp_path, token_ttl=2)
    try:
        async with served(cloud, token_check=0.05) as srv:
            tok = (await cloud.login("admin", "secret", "admin"))["token"]
            async with Reader(srv.url, tok) as r:
                await r.until(lambda: r.done, "the end of the stream at the token's expiry")
                end = json.loads(r.frames[-1].data)
                assert r.frames[-1].event == "end" and "expired" in end["reason"], end
    finally:
        await cloud.stop()
