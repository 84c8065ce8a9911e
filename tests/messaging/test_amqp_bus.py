"""The AMQP bus on a real RabbitMQ node: oslo.messaging's layout, calls and casts, competing
workers, remote errors as data, durable casts across a broker restart, no broker at all."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest

from backend.core.context import RequestContext
from backend.core.errors import Conflict, NotFound
from backend.messaging.amqp import AMQPBus, MessagingUnavailable, RemoteError
from backend.messaging.bus import MessagingTimeout, NoSuchTopic
from backend.messaging.rabbit import free_port

CTX = RequestContext("u-1", "alice", "p-1", "demo", ("member",), "req-amqp-1",
                     token_expires_at="2026-11-30T16:00:00Z")


class Endpoint:
    def __init__(self, name="ep"):
        self.name, self.got = name, []
        self.release = asyncio.Event()

    async def take(self, ctx, value):
        self.got.append((ctx, value))
        return {"echo": value, "by": self.name}

    async def slow(self, ctx, value):
        self.got.append((ctx, value))
        await self.release.wait()
        return value

    async def conflict(self, ctx):
        raise Conflict("instance is locked", details="locked by admin")

    async def boom(self, ctx):
        raise KeyError("secret-internal-key")

    async def mismatch(self, ctx):
        raise LookupError("instance i-1 is in task_state 'deleting', expected 'spawning'")

    async def _private(self, ctx):
        self.got.append("private")


async def wait_until(pred, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def buses(rabbit):
    made = []

    async def make(**kw):
        b = await AMQPBus(rabbit.url, **kw).connect()
        made.append(b)
        return b
    yield make
    for b in made:
        await b.close()


async def test_call_carries_the_context_and_returns_the_reply(rabbit, buses):
    server, client = await buses(), await buses()
    ep = Endpoint()
    await server.serve("conductor", ep)
    assert await client.call(CTX, "conductor", "take", value=("a", 1)) == {"echo": ["a", 1], "by": "ep"}
    got_ctx, got = ep.got[0]
    assert got == ["a", 1] and got_ctx.to_dict() == CTX.to_dict()


async def test_the_queues_are_laid_out_as_oslo_messaging_lays_them_out(rabbit, buses):
    server = await buses()
    for topic in ("conductor", "scheduler", "compute.host-1", "network", "volume", "image"):
        await server.serve(topic, Endpoint())
    queues = rabbit.list_queues()
    for topic in ("conductor", "scheduler", "compute.host-1", "network", "volume", "image"):
        assert topic in queues
        assert f"{topic}_fanout_{server.server_id}" in queues
    ex = rabbit._ctl("list_exchanges", "-q", "--no-table-headers", "name", "type").stdout
    assert "pocketstack\ttopic" in ex and "conductor_fanout\tfanout" in ex
    b = rabbit._ctl("list_bindings", "-q", "--no-table-headers", "source_name", "destination_name",
                    "routing_key").stdout
    assert "pocketstack\tcompute.host-1\tcompute.host-1" in b


async def test_two_consumers_of_one_queue_are_competing_workers(rabbit, buses):
    a, b, client = await buses(), await buses(), await buses()
    ea, eb = Endpoint("a"), Endpoint("b")
    await a.serve("scheduler", ea)
    await b.serve("scheduler", eb)
    # all in flight at once: each is held until released, so the broker must spread them
    calls = [asyncio.create_task(client.call(CTX, "scheduler", "slow", value=i)) for i in range(20)]
    await wait_until(lambda: len(ea.got) + len(eb.got) == 20)
    ea.release.set()
    eb.release.set()
    assert sorted(await asyncio.gather(*calls)) == list(range(20))
    assert ea.got and eb.got, "one worker took every call"
    assert sorted(v for _, v in ea.got) != sorted(v for _, v in eb.got)


async def test_a_fanout_cast_reaches_every_server_of_the_topic(rabbit, buses):
    a, b, client = await buses(), await buses(), await buses()
    ea, eb = Endpoint("a"), Endpoint("b")
    await a.serve("network", ea)
    await b.serve("network", eb)
    client.fanout_cast(CTX, "network", "take", value="all")
    await wait_until(lambda: ea.got and eb.got)
    assert ea.got[0][1] == eb.got[0][1] == "all"


async def test_allowed_remote_errors_are_raised_again_others_are_named_only(rabbit, buses):
    server, client = await buses(), await buses()
    await server.serve("volume", Endpoint())
    with pytest.raises(Conflict, match="instance is locked") as e:
        await client.call(CTX, "volume", "conflict")
    assert e.value.details == "locked by admin" and e.value.code == 409
    with pytest.raises(RemoteError, match="remote KeyError") as e:
        await client.call(CTX, "volume", "boom")
    assert e.value.exc_type == "KeyError"
    assert not isinstance(e.value, KeyError)
    # an allow-list without Conflict: the same error arrives as a RemoteError naming it
    strict = await buses(allowed_errors={"NotFound": NotFound})
    with pytest.raises(RemoteError, match="remote Conflict: instance is locked"):
        await strict.call(CTX, "volume", "conflict")


async def test_a_state_mismatch_crosses_as_lookup_error(rabbit, buses):
    """A conductor's state save that found another task_state: the compute manager aborts the
    build on a LookupError, in a cluster as in one process (it arrived as a RemoteError)."""
    server, client = await buses(), await buses()
    await server.serve("conductor", Endpoint())
    with pytest.raises(LookupError, match="task_state 'deleting', expected 'spawning'"):
        await client.call(CTX, "conductor", "mismatch")


async def test_a_private_method_cannot_be_reached_by_message(rabbit, buses):
    server, client = await buses(), await buses()
    ep = Endpoint()
    await server.serve("image", ep)
    with pytest.raises(NoSuchTopic, match="has no method '_private'"):
        await client.call(CTX, "image", "_private")
    with pytest.raises(NoSuchTopic, match="has no method '__init__'"):
        await client.call(CTX, "image", "__init__")
    assert ep.got == []


async def test_a_call_to_a_topic_nobody_serves_fails_by_name(rabbit, buses):
    client = await buses()
    with pytest.raises(NoSuchTopic, match="compute.nowhere"):
        await client.call(CTX, "compute.nowhere", "take", value=1)


async def test_a_cast_nobody_serves_tells_its_sender_why(rabbit, buses):
    """A build cast to a host whose compute process is not running is not forgotten: the
    sender hears that no queue took it (the conductor reschedules the build)."""
    server, client = await buses(), await buses()
    ep = Endpoint()
    await server.serve("compute.here", ep)
    heard = []
    client.cast(CTX, "compute.nowhere", "take", undelivered=heard.append, value=1)
    client.cast(CTX, "compute.here", "take", undelivered=heard.append, value=2)
    await wait_until(lambda: heard and ep.got)
    await client.drain()
    assert heard == ["no queue for topic 'compute.nowhere'"]
    assert [v for _, v in ep.got] == [2]


async def test_a_call_nobody_answers_times_out(rabbit, buses):
    server, client = await buses(), await buses()
    await server.serve("compute.slow-host", Endpoint())
    with pytest.raises(MessagingTimeout, match=r"no reply from compute.slow-host.slow within 0.3 s"):
        await client.call(CTX, "compute.slow-host", "slow", timeout=0.3, value=1)


async def test_what_cannot_cross_is_refused_before_it_is_sent(rabbit, buses):
    server, client = await buses(), await buses()
    ep = Endpoint()
    await server.serve("conductor", ep)
    with pytest.raises(TypeError, match=r"argument 'value' of conductor.take cannot cross the bus"):
        client.cast(CTX, "conductor", "take", value=object())
    with pytest.raises(TypeError, match=r"argument 'value' of conductor.take cannot cross the bus"):
        await client.call(CTX, "conductor", "take", value={1, 2})
    assert await client.call(CTX, "conductor", "take", value=1)  # the line is still good
    assert [v for _, v in ep.got] == [1]


async def test_live_events_cross_once_and_a_relay_skips_its_own_without_decoding(rabbit, monkeypatch):
    import types

    import orjson

    from backend.messaging import events_relay
    from backend.messaging.events import EventHub
    decoded: list = []
    monkeypatch.setattr(events_relay, "orjson", types.SimpleNamespace(
        dumps=orjson.dumps, loads=lambda b: decoded.append(1) or orjson.loads(b)))
    api_hub, conductor_hub = EventHub(), EventHub()
    api = events_relay.EventRelay(rabbit.url, api_hub, receive=True)
    arrived: list = []
    on_message = api._on_message

    async def counted(message):  # every batch the api process's queue delivers
        arrived.append(message)
        await on_message(message)
    api._on_message = counted
    conductor = events_relay.EventRelay(rabbit.url, conductor_hub, receive=False)
    await api.start()
    await conductor.start()
    try:
        got: list = []
        api_hub.subscribe(lambda e: got.append(e["host"]["name"]))
        conductor_hub.publish({"type": "host", "host": {"name": "from-conductor"}})
        await wait_until(lambda: "from-conductor" in got)
        api_hub.publish({"type": "host", "host": {"name": "from-api"}})  # comes back on the fanout
        await wait_until(lambda: len(arrived) == 2)
        conductor_hub.publish({"type": "host", "host": {"name": "from-conductor-2"}})
        await wait_until(lambda: len(arrived) == 3 and "from-conductor-2" in got)
        assert sorted(got) == ["from-api", "from-conductor", "from-conductor-2"]  # each once
        assert len(decoded) == 2  # the conductor's batches; its own was skipped unread
    finally:
        await conductor.stop()
        await api.stop()


async def test_a_cast_to_a_stopped_compute_host_survives_a_broker_restart(rabbit):
    ep = Endpoint("host-9")
    first = await AMQPBus(rabbit.url).connect()
    await first.serve("compute.host-9", ep)   # the host's queue exists (durable)
    await first.close()                       # ... and its compute process is down
    client = await AMQPBus(rabbit.url).connect()
    client.cast(CTX, "compute.host-9", "take", value="build vm-1")
    await client.drain()                      # confirmed by the broker
    assert not client._sending
    await client.close()
    assert rabbit.list_queues()["compute.host-9"] == 1
    rabbit.restart()
    assert rabbit.list_queues()["compute.host-9"] == 1
    again = await AMQPBus(rabbit.url).connect()
    try:
        await again.serve("compute.host-9", ep)
        await wait_until(lambda: ep.got)
        assert ep.got[0][1] == "build vm-1" and ep.got[0][0].request_id == "req-amqp-1"
    finally:
        await again.close()


async def test_a_bus_keeps_working_after_the_broker_restarts(rabbit):
    server = await AMQPBus(rabbit.url).connect()
    client = await AMQPBus(rabbit.url).connect()
    try:
        await server.serve("conductor", Endpoint())
        assert (await client.call(CTX, "conductor", "take", value=1))["echo"] == 1
        rabbit.restart()
        await asyncio.wait_for(client._conn.connected.wait(), 30)
        await asyncio.wait_for(server._conn.connected.wait(), 30)

        async def answered():
            loop = asyncio.get_running_loop()
            end = loop.time() + 30
            while True:
                try:
                    return await client.call(CTX, "conductor", "take", timeout=2, value=2)
                except (MessagingTimeout, MessagingUnavailable, NoSuchTopic):
                    assert loop.time() < end
                    await asyncio.sleep(0.1)
        assert (await answered())["echo"] == 2
    finally:
        await server.close()
        await client.close()


async def test_no_broker_reachable_fails_fast_with_a_clear_error():
    port = free_port()  # nothing listens there
    with pytest.raises(MessagingUnavailable, match=rf"message broker at 127.0.0.1:{port} is unreachable") as e:
        await AMQPBus(f"rabbit://guest:guest@127.0.0.1:{port}/", connect_timeout=600).connect()
    assert e.value.code == 503
    assert str(e.value).endswith("is unreachable: Connection refused")  # refused at once, not given up on after a timeout


async def test_a_call_after_the_broker_is_gone_fails_fast_and_sends_nothing():
    from backend.messaging.rabbit import RabbitNode
    # a node of this test's own, in /tmp: the node runs as `rabbitmq` (see conftest.py)
    own = RabbitNode(Path(tempfile.mkdtemp(prefix="pocketstack-rabbit-"))).start()
    bus = await AMQPBus(own.url, call_timeout=600).connect()
    try:
        own.stop()
        await asyncio.wait_for(_lost(bus), 30)
        with pytest.raises(MessagingUnavailable, match=r"is unreachable \(not connected\)"):
            await bus.call(CTX, "conductor", "take", value=1)
        with pytest.raises(MessagingUnavailable, match=r"is unreachable \(not connected\)"):
            bus.cast(CTX, "conductor", "take", value=1)
        assert not bus._sending and not bus._replies
    finally:
        await bus.close()
        shutil.rmtree(own.base, ignore_errors=True)


async def _lost(bus):
    while bus._conn.connected.is_set():
        await asyncio.sleep(0.01)


def test_a_node_that_cannot_listen_is_refused_and_leaves_nothing_running():
    import socket
    import subprocess
    from backend.messaging.rabbit import RabbitError, RabbitNode
    node = RabbitNode(Path(tempfile.mkdtemp(prefix="pocketstack-rabbit-")))
    taken = socket.socket()
    taken.bind(("127.0.0.1", node.port))
    taken.listen()
    try:
        with pytest.raises(RabbitError, match=rf"rabbitmq node {node.nodename} did not"):
            node.start()
    finally:
        taken.close()
        shutil.rmtree(node.base, ignore_errors=True)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert node.nodename not in ps and f"-port {node.epmd_port}" not in ps
    assert subprocess.run(["epmd", "-names"], env=node.env(), capture_output=True).returncode != 0
