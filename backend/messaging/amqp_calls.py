"""The AMQP bus's calls and replies.

- call: published on the confirmed channel, which also consumes direct reply-to (RabbitMQ sends
  a reply only to the channel that published the request), mandatory: a topic nobody serves
  comes back as a basic.return and fails the call with NoSuchTopic at once (aiormq hands a
  return to the caller only on a channel with confirms, so calls keep theirs).
- reply: published on a channel of its own without publisher confirms, as oslo.messaging sends
  replies: the caller waits for the reply itself and times out without it, so a confirm would
  only add a broker round trip to every reply; not mandatory (RabbitMQ 3.10 returns replies to
  direct reply-to as unroutable even when it delivers them).
- a remote exception crosses as data and is raised again only when its type is allowed."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

import aiormq
import orjson
from aio_pika import Message
from aio_pika.exceptions import AMQPError, DeliveryError

from backend.core import errors
from backend.core.context import RequestContext
from backend.messaging.amqp_reconnect import MessagingUnavailable, _where
from backend.messaging.bus import MessagingTimeout, NoSuchTopic

log = logging.getLogger("backend.messaging.amqp")

REPLY_TO = "amq.rabbitmq.reply-to"


class RemoteError(Exception):
    """A remote exception whose type is not on the allow-list: its name and message only."""

    def __init__(self, exc_type: str, message: str):
        super().__init__(f"remote {exc_type}: {message}")
        self.exc_type, self.message = exc_type, message


def default_allowed() -> dict[str, type[BaseException]]:
    allowed = {c.__name__: c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.CloudError)}
    # LookupError: a state save that found another task_state (a delete came in, a build
    # taken from its host): the compute manager aborts the build on it, as in one process
    allowed.update(MessagingTimeout=MessagingTimeout, NoSuchTopic=NoSuchTopic,
                   MessagingUnavailable=MessagingUnavailable, LookupError=LookupError)
    return allowed


def _encode(value, what: str) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError as e:
        raise TypeError(f"{what} cannot cross the bus: {e}") from None


class Calls:
    """AMQPBus's calls and replies (its _conn, _pub, _exchange, _replies, _asked_on, _reply_ch,
    url, allowed, call_timeout, reconnect_wait, _envelope, _trace, _wait_ready, _lost)."""

    async def _open_calls(self) -> None:
        """Direct reply-to consumed on the confirmed channel; the replies' channel opened."""
        await self._consume_replies()
        # direct reply-to is no queue the robust channel restores: consume it again on reopen
        self._pub.reopen_callbacks.add(self._consume_replies)
        self._rpc = await self._conn.channel(publisher_confirms=False)

    async def _consume_replies(self, *_channel) -> None:
        reply_q = await self._pub.get_queue(REPLY_TO, ensure=False)
        await reply_q.consume(self._on_reply, no_ack=True)
        self._reply_ch = await self._pub.get_underlay_channel()

    async def _on_reply(self, message) -> None:
        fut = self._replies.get(message.correlation_id)
        if fut is not None and not fut.done():
            fut.set_result(message.body)

    async def call(self, ctx: RequestContext, topic: str, method: str, timeout: float | None = None,
                   **kwargs):
        timeout = self.call_timeout if timeout is None else timeout
        await self._wait_ready(timeout)
        body = self._envelope(ctx, topic, method, kwargs)
        self._trace(ctx, "call", topic, method, kwargs)
        corr = uuid.uuid4().hex
        fut = self._replies[corr] = asyncio.get_running_loop().create_future()
        self._asked_on[corr] = self._reply_ch
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                try:
                    # expiration: a request nobody took in time is not served later
                    await self._exchange.publish(
                        Message(body, correlation_id=corr, reply_to=REPLY_TO, expiration=timeout,
                                content_type="application/json"),
                        routing_key=topic, mandatory=True)
                except DeliveryError:
                    raise NoSuchTopic(f"no service listens on topic {topic!r}") from None
                except (AMQPError, aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as e:
                    raise MessagingUnavailable(f"the message broker at {_where(self.url)} is "
                                               f"unreachable: {e or type(e).__name__}") from None
                try:
                    raw = await fut
                except MessagingUnavailable as e:  # the connection was lost meanwhile
                    raise MessagingUnavailable(f"{e.message} of {topic}.{method}") from None
        except TimeoutError:
            raise MessagingTimeout(f"no reply from {topic}.{method} within {timeout} s") from None
        finally:
            self._replies.pop(corr, None)
            self._asked_on.pop(corr, None)
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: a failure set while the publish itself failed
            self._trace(ctx, "reply", topic, method, kwargs, (time.perf_counter() - t0) * 1000)
        reply = orjson.loads(raw)
        if "failure" in reply:
            raise self._remote_error(reply["failure"])
        return reply["result"]

    async def _reply(self, message, topic: str, reply: dict) -> None:
        body = Message(_encode(reply, f"the reply of {topic}"), correlation_id=message.correlation_id)
        for attempt in range(3):
            try:
                await self._rpc.default_exchange.publish(body, routing_key=message.reply_to, mandatory=False)
                return
            except Exception as e:
                if attempt == 2 or self.reconnect_wait <= 0:  # the caller times out
                    log.error("reply to %s on %s lost: %s", message.correlation_id, topic, e)
                    return
            try:  # this process's channel went down, perhaps not the caller's: once it is back
                await self._wait_ready(self.call_timeout)
            except MessagingUnavailable:
                pass

    def _remote_error(self, f: dict) -> BaseException:
        cls = self.allowed.get(f.get("type"))
        if cls is None:
            return RemoteError(str(f.get("type")), str(f.get("message")))
        if issubclass(cls, errors.CloudError):
            return cls(f.get("message"), f.get("details"))
        return cls(f.get("message"))
