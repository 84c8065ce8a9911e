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
    """Across a broker restart the relay opens its connection, channel, exchange, queue and
    consumer again itself (a plain connection and a watcher, not aio-pika's robust channel,
    which can be left closed after a reconnect while events keep being published). What is
    published while the broker is away is dropped and counted: a live feed, not a record."""

    RETRY = 1.0  # seconds between reconnect attempts, as the bus's robust connection

    def __init__(self, url: str, hub, *, receive: bool):
        if url.startswith("rabbit://"):
            url = "amqp://" + url[len("rabbit://"):]
        self.url, self.hub, self.receive = url, hub, receive
        self.origin = uuid.uuid4().hex[:12]
        self._buf: list[dict] = []
        self._flush_task: asyncio.Task | None = None
        self._inbound = False
        self._conn = self._unsub = self._exchange = None
        self._down = asyncio.Event()
        self._watcher: asyncio.Task | None = None
        self.dropped = 0      # events not relayed while the broker was away
        self.reconnects = 0

    async def start(self) -> "EventRelay":
        await self._open()  # a broker unreachable at start is an error, as before
        self._unsub = self.hub.subscribe(self._forward)
        self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return self

    async def _open(self) -> None:
        conn = await aio_pika.connect(self.url, timeout=5, client_properties={
            "connection_name": f"pocketstack-events-{self.origin}"})
        try:
            ch = await conn.channel()
            # durable: the exchange outlives a broker restart, so a process that publishes
            # before the receivers are back is not refused (NOT_FOUND would close its channel)
            exchange = await ch.declare_exchange(EXCHANGE, ExchangeType.FANOUT, durable=True)
            if self.receive:  # the queue is exclusive: gone with the old connection, made again
                q = await ch.declare_queue(f"{EXCHANGE}_{self.origin}", exclusive=True, auto_delete=True)
                await q.bind(exchange)
                await q.consume(self._on_message, no_ack=True)
        except BaseException:
            await conn.close()
            raise
        down = self._down = asyncio.Event()  # this connection's own: the old one's close is late
        conn.close_callbacks.add(lambda *_: down.set())
        ch.close_callbacks.add(lambda *_: down.set())
        self._conn, self._exchange = conn, exchange

    async def _watch(self) -> None:
        """Waits for the connection or channel to go, then opens them again every RETRY s."""
        while True:
            await self._down.wait()
            self._exchange, old = None, self._conn
            log.warning("live events: the connection to the message broker was lost; reconnecting")
            try:
                await old.close()
            except Exception:  # already gone with the broker
                pass
            while True:
                await asyncio.sleep(self.RETRY)
                try:
                    await self._open()
                    break
                except Exception as e:
                    log.debug("live events: reconnecting failed: %s", e)
            self.reconnects += 1
            log.warning("live events relayed again after a reconnect (%d not relayed meanwhile)",
                        self.dropped)

    async def stop(self) -> None:
        if self._unsub:
            self._unsub()
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
        if self._conn is not None:
            try:
                await self._conn.close()
            except Exception:
                pass
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
            if self._exchange is None:  # the broker is away: the watcher reconnects
                self.dropped += len(batch)
                continue
            try:
                # the origin in a property: a receiver skips its own batches without decoding them
                await self._exchange.publish(Message(orjson.dumps({"events": batch}), app_id=self.origin),
                                             routing_key="")
            except Exception as e:  # a live feed: a lost batch is counted, the panels reload lists
                self.dropped += len(batch)
                log.debug("%d live events not relayed: %s", len(batch), e)

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
