"""The AMQP bus across a broker restart (reconnect_wait > 0: a cluster's processes): calls and
casts made while the connection is down wait for aio-pika's robust connection to come back;
a call whose reply was on its way fails at once (direct reply-to answers only on the channel
that asked); a robust channel aio-pika left closed after a reconnect is reopened."""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from backend.core import errors

log = logging.getLogger("backend.messaging.amqp")


class MessagingUnavailable(errors.CloudError):
    """The broker cannot be reached: the request was not sent (nova answers 503), or its reply
    was lost with the connection. A build cut by it is rescheduled, as nova does."""
    code, title = 503, "Service Unavailable"
    reschedulable = True


def _where(url: str) -> str:
    u = urlsplit(url)
    return f"{u.hostname}:{u.port or 5672}"


class Reconnecting:
    """AMQPBus's side of a lost connection (its _conn, _pub, _rpc, _serve_ch, _replies, _asked_on,
    _reply_ch, reconnect_wait and _consume_replies)."""

    async def _mend(self) -> None:
        """aio-pika's robust channel can stay closed after a reconnect under load (the late
        close of its old channel marks it closed for good): once the connection is back, a
        channel still closed a check later is reopened here (its exchanges, queues and
        consumers restored, and direct reply-to consumed again)."""
        stale: set[int] = set()
        while self._conn is not None and not self._conn.is_closed:
            await asyncio.sleep(0.5)
            self._lost()  # calls whose channel closed without a word
            if not self._conn.connected.is_set():
                stale.clear()
                continue
            if self._conn.connected.is_set() and not self._pub.is_closed and not await self._usable():
                try:  # reopened without its callback: consume direct reply-to again
                    await self._consume_replies()
                except Exception as e:
                    log.warning("consuming replies again failed: %s", e)
            for ch in (self._pub, self._rpc, self._serve_ch):
                if not ch.is_closed:
                    stale.discard(id(ch))
                elif id(ch) not in stale:
                    stale.add(id(ch))
                else:
                    stale.discard(id(ch))
                    try:
                        await ch.reopen()
                        log.warning("reopened a channel to the message broker left closed after a reconnect")
                    except Exception as e:
                        log.warning("reopening a channel to the message broker failed: %s", e)

    def _lost(self, *_args) -> None:
        """A connection or channel went down (aio-pika may say so late, after the reconnect):
        the calls whose channel is closed can no longer get their reply (direct reply-to
        answers on the channel that asked)."""
        for corr, fut in list(self._replies.items()):
            ch = self._asked_on.get(corr)
            if not fut.done() and ch is not None and ch.is_closed:
                fut.set_exception(MessagingUnavailable(
                    f"the connection to the message broker at {_where(self.url)} was lost while "
                    "waiting for the reply"))

    async def _usable(self) -> bool:
        """Connected, the publishing channels open, and direct reply-to consumed."""
        return bool(self._conn.connected.is_set() and not self._pub.is_closed and not self._rpc.is_closed
                    and self._reply_ch is not None
                    and not self._reply_ch.is_closed)

    async def _wait_ready(self, bound: float) -> None:
        """Connected, with replies consumed: waits up to min(bound, reconnect_wait) for it."""
        c = self._conn
        if self.reconnect_wait <= 0 or c is None or c.is_closed:
            self._check_connected()
            return
        if await self._usable():
            return
        try:
            async with asyncio.timeout(max(0.0, min(bound, self.reconnect_wait))):
                while not await self._usable():
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise MessagingUnavailable(f"the message broker at {_where(self.url)} is unreachable "
                                       f"(not connected for {self.reconnect_wait:g} s)") from None
