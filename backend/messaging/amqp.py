"""The bus over RabbitMQ (aio-pika), laid out as oslo.messaging lays out nova's so an operator
recognises it in `rabbitmqctl list_queues` / `list_exchanges`:

- one topic exchange (`pocketstack`, durable); each served topic has a durable queue of its
  own name (`conductor`, `scheduler`, `compute.<host>`, `network`, ...) bound with that name.
  Buses serving the same topic consume the same queue: competing workers.
- a fanout exchange per topic (`<topic>_fanout`), with one exclusive queue per server
  (`<topic>_fanout_<id>`), for broadcasts (fanout_cast).
- call: published with reply_to = `amq.rabbitmq.reply-to` (direct reply-to: no reply queue
  to declare) and a correlation id; MessagingTimeout past the timeout. Calls and replies go on
  a channel without publisher confirms (backend/messaging/amqp_calls.py).
- cast: persistent, mandatory and confirmed by the broker before it counts as sent, so a cast
  to a compute host whose process is down waits in its durable queue, across a broker restart.
- the envelope is JSON: the serialised request context, the method and its arguments.
- a remote exception crosses as data (type name and message) and is raised again only when its
  type is on the allow-list (the backend's errors); anything else is a RemoteError naming it.

A message is acked once its method has run, so a server that dies mid-message leaves it to the
next consumer of the queue. A message that already ran (or runs) in this process, by its id
(redelivered because its ack died with the channel, or sent again because the broker's confirm
did), is acked, not run again.

Across a broker restart (reconnect_wait > 0, a cluster's processes): the robust connection comes
back by itself; calls and casts made meanwhile wait for it (bounded), a cast whose publish the
loss cut is sent again, and a call whose reply was on its way fails at once with
MessagingUnavailable (a direct reply-to reply cannot reach a new channel): its outcome is
unknown, so it is not repeated."""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import uuid

import aio_pika
import aiormq
import orjson
from aio_pika import DeliveryMode, ExchangeType, Message
from aio_pika.exceptions import AMQPError, DeliveryError

from backend.core.context import RequestContext
from backend.messaging.amqp_calls import Calls, RemoteError, _encode, default_allowed  # noqa: F401 (RemoteError: its home for callers)
from backend.messaging.amqp_reconnect import MessagingUnavailable, Reconnecting, _where
from backend.messaging.bus import Bus, MessagingTimeout, NoSuchTopic

log = logging.getLogger(__name__)

EXCHANGE = "pocketstack"


class AMQPBus(Calls, Reconnecting, Bus):
    def __init__(self, url: str, tracer=None, *, exchange: str = EXCHANGE, call_timeout: float = 60.0,
                 connect_timeout: float = 5.0, prefetch: int = 64, reconnect_wait: float = 0.0,
                 allowed_errors: dict[str, type[BaseException]] | None = None):
        """reconnect_wait: how long a call or cast made while the connection is down waits for
        it to come back (0: MessagingUnavailable at once, as the api's create wants)."""
        if url.startswith("rabbit://"):  # oslo's transport_url scheme
            url = "amqp://" + url[len("rabbit://"):]
        self.url, self.tracer, self.exchange_name = url, tracer, exchange
        self.call_timeout, self.connect_timeout, self.prefetch = call_timeout, connect_timeout, prefetch
        self.reconnect_wait = reconnect_wait
        self.allowed = allowed_errors if allowed_errors is not None else default_allowed()
        self.server_id = uuid.uuid4().hex[:12]
        self._endpoints: dict[str, object] = {}
        self._consumers: dict[str, list[tuple[aio_pika.abc.AbstractQueue, str]]] = {}
        self._replies: dict[str, asyncio.Future] = {}
        self._setup: set[asyncio.Task] = set()      # queue declarations of register()
        self._sending: set[asyncio.Task] = set()    # casts waiting for the broker's confirm
        self._handling: set[asyncio.Task] = set()   # messages this bus is serving
        self._outstanding: set[str] = set()         # casts sent here, not yet served here
        self._quiet = asyncio.Event()
        self._reply_ch = None                       # the channel direct reply-to is consumed on
        self._asked_on: dict[str, object] = {}      # call -> the channel its reply comes back on
        self._running: set[str] = set()             # message ids in hand here
        self._ran: collections.OrderedDict = collections.OrderedDict()  # ids handled here, recent
        self._conn = None
        self._mender: asyncio.Task | None = None

    # ---- connection ------------------------------------------------------------------------
    async def connect(self) -> "AMQPBus":
        try:
            async with asyncio.timeout(self.connect_timeout):
                self._conn = await aio_pika.connect_robust(self.url, reconnect_interval=1, client_properties={
                    "connection_name": f"pocketstack-{self.server_id}"})
        except (OSError, AMQPError, TimeoutError, aiormq.exceptions.AMQPError) as e:
            why = os.strerror(e.errno) if isinstance(e, OSError) and e.errno else (str(e) or type(e).__name__)
            raise MessagingUnavailable(f"the message broker at {_where(self.url)} is unreachable: "
                                       f"{why}") from None
        self._pub = await self._conn.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await self._pub.declare_exchange(self.exchange_name, ExchangeType.TOPIC,
                                                          durable=True)
        await self._open_calls()
        self._conn.close_callbacks.add(self._lost)
        self._pub.close_callbacks.add(self._lost)
        self._serve_ch = await self._conn.channel()
        await self._serve_ch.set_qos(prefetch_count=self.prefetch)
        if self.reconnect_wait > 0:
            self._mender = asyncio.get_running_loop().create_task(self._mend())
        return self

    async def close(self) -> None:
        if self._mender is not None:
            self._mender.cancel()
        for topic in list(self._consumers):
            await self._unserve(topic)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        for f in self._replies.values():
            f.cancel()

    def check_available(self) -> None:
        self._check_connected()

    def _check_connected(self):
        c = self._conn
        if c is None or c.is_closed or not c.connected.is_set():
            raise MessagingUnavailable(f"the message broker at {_where(self.url)} is unreachable "
                                       "(not connected)")

    def _trace(self, ctx: RequestContext, kind, topic, method, kwargs, duration_ms=None, detail=None):
        if self.tracer is not None:
            self.tracer.record(service="queue", kind=kind, request_id=ctx.request_id,
                               instance_uuid=kwargs.get("instance_uuid"), topic=topic, method=method,
                               duration_ms=duration_ms, detail=detail)

    def _envelope(self, ctx: RequestContext, topic: str, method: str, kwargs: dict) -> bytes:
        for k, v in kwargs.items():
            _encode(v, f"argument {k!r} of {topic}.{method}")
        return _encode({"context": ctx.to_dict(), "method": method, "args": kwargs},
                       f"the message {topic}.{method}")

    # ---- serving ---------------------------------------------------------------------------
    def register(self, topic: str, endpoint: object) -> None:
        self._endpoints[topic] = endpoint
        task = asyncio.get_running_loop().create_task(self._serve(topic))
        self._setup.add(task)
        task.add_done_callback(self._setup.discard)

    async def serve(self, topic: str, endpoint: object) -> None:
        """register() that returns once the queues are declared and consumed."""
        self.register(topic, endpoint)
        await self.ready()

    async def ready(self) -> None:
        if self._setup:
            await asyncio.gather(*self._setup)

    async def _serve(self, topic: str) -> None:
        ch = self._serve_ch
        q = await ch.declare_queue(topic, durable=True)
        await q.bind(self.exchange_name, routing_key=topic)
        fx = await ch.declare_exchange(f"{topic}_fanout", ExchangeType.FANOUT, auto_delete=True)
        fq = await ch.declare_queue(f"{topic}_fanout_{self.server_id}", exclusive=True, auto_delete=True)
        await fq.bind(fx)
        self._consumers[topic] = [(q, await q.consume(self._on_request)),
                                  (fq, await fq.consume(self._on_request))]

    async def _unserve(self, topic: str) -> None:
        for q, tag in self._consumers.pop(topic, []):
            try:
                await q.cancel(tag)
            except (AMQPError, aiormq.exceptions.AMQPError, RuntimeError):
                pass  # the channel is already gone

    def unregister(self, topic: str) -> None:
        self._endpoints.pop(topic, None)
        if topic in self._consumers:
            task = asyncio.get_running_loop().create_task(self._unserve(topic))
            self._setup.add(task)
            task.add_done_callback(self._setup.discard)

    async def purge(self, topic: str) -> int:
        """Drop what waits in the topic's queue (a lost compute host taken over); the count."""
        q = await self._serve_ch.declare_queue(topic, durable=True)
        return (await q.purge()).message_count

    # set in a cluster (runtime): whether another process serves a topic (the host mappings)
    directory = None

    def has_topic(self, topic: str) -> bool:
        """Topics this process serves, or, through `directory`, another process of the cluster."""
        return topic in self._endpoints or (self.directory is not None and self.directory(topic))

    async def _on_request(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        # served as a task of its own: the next message does not wait for this one
        task = asyncio.get_running_loop().create_task(self._handle(message))
        self._handling.add(task)
        task.add_done_callback(self._done_handling)

    def _done_handling(self, task):
        self._handling.discard(task)
        self._quiet.set()

    async def _handle(self, message) -> None:
        topic = message.routing_key if message.exchange == self.exchange_name else \
            message.exchange.removesuffix("_fanout")
        key = message.message_id or message.correlation_id
        if key and (key in self._ran or key in self._running):
            # a copy of a message that ran (or runs) here: redelivered because its ack died
            # with the channel, or sent again because the broker's confirm did. Acked at once
            # (the first copy, in hand here, does the work: it holds no prefetch slot twice)
            await self._ack(message)
            return
        if key:
            self._running.add(key)
        try:
            await self._run(message, topic)
        finally:
            if key:
                self._running.discard(key)
                self._ran[key] = True
                while len(self._ran) > 10000:
                    self._ran.popitem(last=False)
        await self._ack(message)

    async def _ack(self, message) -> None:
        try:
            await message.ack()
        except Exception:  # the channel went down: the broker delivers the message again
            pass

    async def _run(self, message, topic) -> None:
        try:
            body = orjson.loads(message.body)
            method = body["method"]
            ctx = RequestContext.from_dict(body["context"])
            ep = self._endpoints.get(topic)
            # only a service's public methods are reachable by message
            fn = getattr(ep, method, None) if ep is not None and not method.startswith("_") else None
            if not callable(fn):
                raise NoSuchTopic(f"topic {topic!r} has no method {method!r}")
            reply = {"result": await fn(ctx, **body["args"])}
        except Exception as e:
            if message.reply_to is None:  # a cast has nobody to answer to: log it
                log.exception("cast to %s failed", topic)
            reply = {"failure": {"type": type(e).__name__, "message": str(getattr(e, "message", e)),
                                 "details": getattr(e, "details", None)}}
        finally:
            self._outstanding.discard(message.message_id)
        if not message.reply_to:
            return
        await self._reply(message, topic, reply)

    # ---- sending ---------------------------------------------------------------------------
    def _track(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        task.add_done_callback(lambda _t: self._quiet.set())

    def cast(self, ctx: RequestContext, topic: str, method: str, *, undelivered=None, **kwargs) -> None:
        if self.reconnect_wait <= 0:
            self._check_connected()
        body = self._envelope(ctx, topic, method, kwargs)
        self._trace(ctx, "cast", topic, method, kwargs)
        mid = uuid.uuid4().hex
        if topic in self._endpoints:  # served here: drain() waits for it to be served
            self._outstanding.add(mid)
        msg = Message(body, message_id=mid, delivery_mode=DeliveryMode.PERSISTENT,
                      content_type="application/json")
        self._track(self._send_cast(ctx, topic, method, kwargs, msg, mandatory=True, undelivered=undelivered))

    def fanout_cast(self, ctx: RequestContext, topic: str, method: str, **kwargs) -> None:
        """To every server of the topic (oslo's fanout=True)."""
        self._check_connected()
        body = self._envelope(ctx, topic, method, kwargs)
        self._trace(ctx, "cast", f"{topic}_fanout", method, kwargs)
        self._track(self._send_cast(ctx, topic, method, kwargs, Message(body), fanout=True))

    async def _send_cast(self, ctx, topic, method, kwargs, msg, mandatory=False, fanout=False,
                         undelivered=None):
        loop = asyncio.get_running_loop()
        end = loop.time() + self.reconnect_wait
        try:
            while True:
                try:
                    await self._wait_ready(end - loop.time())
                    if fanout:
                        fx = await self._pub.declare_exchange(f"{topic}_fanout", ExchangeType.FANOUT,
                                                              auto_delete=True)
                        await fx.publish(msg, routing_key="")
                    else:  # a confirm that never comes (lost with the connection) is a loss
                        async with asyncio.timeout(10):
                            await self._exchange.publish(msg, routing_key=topic, mandatory=mandatory)
                    return
                except (DeliveryError, TypeError, MessagingUnavailable):
                    raise
                except Exception:
                    # the connection went down before the broker confirmed: send it again once
                    # it is back (a copy the broker did keep is run once: its id is known there)
                    if loop.time() >= end:
                        raise
                    await asyncio.sleep(0.1)
        except Exception as e:  # nobody to answer to: log and trace it
            self._outstanding.discard(msg.message_id)
            why = f"no queue for topic {topic!r}" if isinstance(e, DeliveryError) else f"{type(e).__name__}: {e}"
            log.error("cast %s.%s not delivered: %s", topic, method, why)
            self._trace(ctx, "error", topic, method, kwargs, detail=why)
            if undelivered is not None:
                undelivered(why)

    @property
    def _tasks(self) -> set:
        """What is in flight here, as the in-process bus's attribute of that name: casts not yet
        confirmed or not yet served here, messages in hand (the tests settle on it)."""
        return self._sending | self._handling | self._outstanding

    # ---- shutdown --------------------------------------------------------------------------
    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until the casts sent from here are confirmed and, where this bus serves them,
        served, and the messages in hand are done (bounded by timeout)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while (self._sending or self._handling or self._outstanding) and loop.time() < end:
            self._quiet.clear()
            try:
                async with asyncio.timeout(min(0.05, max(0.0, end - loop.time()))):
                    await self._quiet.wait()
            except TimeoutError:
                pass  # casts bound elsewhere: look again until the deadline

    def cancel_all(self) -> None:
        for t in list(self._sending) + list(self._handling):
            t.cancel()
