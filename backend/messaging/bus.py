"""The bus interface, as oslo.messaging shapes it: a topic per service (and per host for
compute: 'compute.<host>'), cast = fire and forget, call = request and reply. Every message
carries the request context. Services never use a bus directly: they hold the typed client
of the service they talk to (<service>/rpcapi.py), which is the only caller of cast/call.

The embedded default is in-process (messaging/inproc.py); a broker implements the same five
methods."""
from __future__ import annotations

import abc

from backend.core.context import RequestContext


class MessagingTimeout(Exception):
    pass


class NoSuchTopic(Exception):
    pass


class Bus(abc.ABC):
    @abc.abstractmethod
    def register(self, topic: str, endpoint: object) -> None:
        """Serve the topic: its messages call the endpoint's methods of the same name."""

    @abc.abstractmethod
    def unregister(self, topic: str) -> None: ...

    @abc.abstractmethod
    def has_topic(self, topic: str) -> bool:
        """Whether a service listens on the topic (a compute host that is configured)."""

    @abc.abstractmethod
    def cast(self, ctx: RequestContext, topic: str, method: str, *, undelivered=None, **kwargs) -> None:
        """Send and return at once; a failure is logged and traced, nobody is answered.
        undelivered(why): called (on the loop) when the message cannot be handed to a listener
        of the topic — no queue for it (a compute host whose process is not running), or no
        broker within the reconnect wait — for a sender that must not forget it (a build)."""

    @abc.abstractmethod
    async def call(self, ctx: RequestContext, topic: str, method: str, timeout: float | None = None,
                   **kwargs):
        """Send and wait for the reply (MessagingTimeout past timeout)."""

    @abc.abstractmethod
    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for the casts in flight (at shutdown and in tests)."""

    def cancel_all(self) -> None:
        """Give up the casts still in flight (after drain, at shutdown)."""

    def check_available(self) -> None:
        """Raise (a CloudError, 503) when no message can be sent now: a broker that cannot be
        reached. Asked before a request writes anything it will hand on."""


class RPCClient:
    """The base of the typed clients: one topic, the bus underneath."""
    topic: str = ""

    def __init__(self, bus: Bus):
        self.bus = bus
