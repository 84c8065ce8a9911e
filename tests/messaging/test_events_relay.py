"""The live-event relay across a restart of the broker (a RabbitMQ node of this module's own,
stopped and started on the same port and data dir): events published once the broker is back
reach the other process's hub again, in both directions, each once."""
from __future__ import annotations

import asyncio
import itertools

from backend.messaging.events import EventHub
from backend.messaging.events_relay import EventRelay


async def relayed(src: EventHub, got: list, name: str, timeout: float = 60.0) -> None:
    """Publishes `name-N` on src until one of them arrives in got (a live feed: what is published
    while the relay reconnects is lost, so a bounded stream of fresh events, 0.2 s apart)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    for n in itertools.count():
        src.publish({"type": "host", "host": {"name": f"{name}-{n}"}})
        for _ in range(20):
            if any(g.startswith(f"{name}-") for g in got):
                return
            await asyncio.sleep(0.01)
        assert loop.time() < end, f"no {name} event relayed within {timeout:g} s"


SEQ = itertools.count()  # event names unique across the test


async def stream(hubs: list[EventHub], stop: asyncio.Event) -> None:
    """Events keep coming in every process while the broker goes and comes back (as in a
    cluster: heartbeats, traces, state changes)."""
    for n in SEQ:
        if stop.is_set():
            return
        for hub in hubs:
            hub.publish({"type": "host", "host": {"name": f"stream-{id(hub)}-{n}"}})
        await asyncio.sleep(0.005)


async def restart_under_events(rabbit, hubs: list[EventHub]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(stream(hubs, stop))
    try:
        # the loop runs meanwhile, as in a live process: the relays see the broker go and come back
        await asyncio.to_thread(rabbit.restart)
        await asyncio.sleep(1.5)  # a stream on the reconnected relays, not a fixed wait for anything
    finally:
        stop.set()
        await task


async def test_live_events_cross_again_after_a_broker_restart(rabbit):
    api_hub, conductor_hub = EventHub(), EventHub()
    api = await EventRelay(rabbit.url, api_hub, receive=True).start()
    conductor = await EventRelay(rabbit.url, conductor_hub, receive=False).start()
    got: list = []
    api_hub.subscribe(lambda e: got.append(e["host"]["name"]))
    try:
        await relayed(conductor_hub, got, "before")
        await restart_under_events(rabbit, [conductor_hub, api_hub])
        await relayed(conductor_hub, got, "after")
        # a second restart too (the relay does not give up after one)
        await restart_under_events(rabbit, [conductor_hub, api_hub])
        await relayed(conductor_hub, got, "again")
        # each event once, and the api process's own events are not relayed back into its hub
        before = len(got)
        api_hub.publish({"type": "host", "host": {"name": "from-api"}})
        conductor_hub.publish({"type": "host", "host": {"name": "last"}})
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while "last" not in got:
            assert loop.time() < end, "the last event did not arrive"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # nothing else queued for this loop turn
        assert got[before:].count("from-api") == 1 and got[before:].count("last") == 1
        assert len(got) == len(set(got))
        assert not any(g.startswith(f"stream-{id(api_hub)}-") for g in got[before:])
    finally:
        await conductor.stop()
        await api.stop()
