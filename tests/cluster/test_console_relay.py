"""The console relay (backend/compute/console_relay.py) on its own: the client that presents
the ticket gets the guest's bytes both ways; a connection without it ends the relay and
detaches; nothing else gets in; an unused relay detaches after its timeout."""
from __future__ import annotations

import asyncio

import pytest

from backend.compute import console_relay
from backend.compute.console_relay import RelayedConsole, open_relay
from backend.virt.driver import ConsoleSession


class Echo(ConsoleSession):
    """A guest that answers what it is sent, upper-cased."""

    def __init__(self):
        self.q: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()

    async def read(self) -> bytes:
        if self.closed.is_set():
            return b""
        get = asyncio.ensure_future(self.q.get())
        closed = asyncio.ensure_future(self.closed.wait())
        done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
        for t in (get, closed):
            t.cancel()
        return get.result() if get in done else b""

    async def write(self, data: bytes) -> None:
        await self.q.put(data.upper())

    async def close(self) -> None:
        self.closed.set()


async def test_the_ticket_holder_gets_the_console():
    guest = Echo()
    info = await open_relay(guest, "127.0.0.1")
    c = await RelayedConsole.connect(info)
    await c.write(b"hello")
    assert await asyncio.wait_for(c.read(), 10) == b"HELLO"
    await c.close()
    await asyncio.wait_for(guest.closed.wait(), 10)  # the client left: the compute side detaches


async def test_a_connection_without_the_ticket_ends_the_relay():
    guest = Echo()
    info = await open_relay(guest, "127.0.0.1")
    wrong = await RelayedConsole.connect(dict(info, ticket="guessed"))
    assert await asyncio.wait_for(wrong.read(), 10) == b""  # closed at once, nothing relayed
    await asyncio.wait_for(guest.closed.wait(), 10)
    with pytest.raises(OSError):  # the listener is gone: the right ticket is too late
        await RelayedConsole.connect(info)


async def test_an_unused_relay_detaches(monkeypatch):
    monkeypatch.setattr(console_relay, "ACCEPT_TIMEOUT", 0.2)
    guest = Echo()
    info = await open_relay(guest, "127.0.0.1")
    await asyncio.wait_for(guest.closed.wait(), 10)
    with pytest.raises(OSError):
        await RelayedConsole.connect(info)
