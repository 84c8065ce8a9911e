"""Live events across the processes of a cluster: every process forwards what its EventHub
publishes (instance, host, action and trace events) to the fanout exchange `pocketstack_events`;
the processes that serve event streams (the api role) consume it into their own hub, so a
state change saved by the conductor or traced by a compute process reaches the app's live
panel and the REST event stream. Events are batched (one message per loop turn), not
persistent: a live feed, not a record (the database is the record)."""
from __future__ import annotations

import asyncio
import logging
import uuid

import aio_pika
import orjson
from aio_pika import ExchangeType, Message

log = logging.getLogger(__name__)

EXCHANGE = "pocketstack_events"


class EventRelay:
    def __init__(self, url: str, hub, *, receive: bool):
        if url.startswith("rabbit://"):
            url = "amqp://" + url[len("rabbit://"):]
        self.url, self.hub, self.receive = url, hub, receive
        self.origin = uuid.uuid4().hex[:12]
        self._buf: list[dict] = []
        self._flush_task: asyncio.Task | None = None
        self._inbound = False
        self._conn = self._unsub = None

    async def start(self) -> "EventRelay":
        self._conn = await aio_pika.connect_robust(self.url, client_properties={
            "connection_name": f"pocketstack-events-{self.origin}"})
        ch = await self._conn.channel()
        self._exchange = await ch.declare_exchange(EXCHANGE, ExchangeType.FANOUT)
        if self.receive:
            q = await ch.declare_queue(f"{EXCHANGE}_{self.origin}", exclusive=True, auto_delete=True)
            await q.bind(self._exchange)
            await q.consume(self._on_message, no_ack=True)
        self._unsub = self.hub.subscribe(self._forward)
        return self

    async def stop(self) -> None:
        if self._unsub:
            self._unsub()
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def _forward(self, event: dict) -> None:
        if self._inbound:  # came from another process: not sent back out
            return
        self._buf.append(event)
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the rest of this loop turn's events go in the same message
        while self._buf:
            batch, self._buf = self._buf, []
            try:
                # the origin in a property: a receiver skips its own batches without decoding them
                await self._exchange.publish(Message(orjson.dumps({"events": batch}), app_id=self.origin),
                                             routing_key="")
            except Exception as e:  # a live feed: a lost batch is logged, the panels reload lists
                log.warning("%d live events not relayed: %s", len(batch), e)

    async def _on_message(self, message) -> None:
        if message.app_id == self.origin:  # its own events, already published here
            return
        body = orjson.loads(message.body)
        self._inbound = True
        try:
            for event in body.get("events", []):
                self.hub.publish(event)
        finally:
            self._inbound = False
