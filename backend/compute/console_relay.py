"""The serial console across processes (a cluster): the api process's console proxy asks the
compute process that owns the host, over the bus, to open a relay (open_serial_relay); that
process attaches to the guest's console, listens on one port of its own address towards the
control plane (the route to the broker's host) for one connection, which must first send the
relay's ticket (random, single use, compared in constant time), and then pumps bytes both ways
until either side ends. As nova's serial proxy connects to the hypervisor's port directly: a
stream is not a message. A relay nobody connects to within ACCEPT_TIMEOUT is closed (the
console is free again)."""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import secrets
import subprocess
from urllib.parse import urlparse

from backend.virt.driver import ConsoleSession

log = logging.getLogger(__name__)
ACCEPT_TIMEOUT = 10.0
_RELAYS: set = set()  # the relays' tasks (kept referenced while they run)


def address_towards(url: str) -> str:
    """This process's address on the route to the host of `url` (the broker: where the control
    plane is); loopback for a broker on this machine's loopback."""
    host = urlparse(url).hostname or "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return "127.0.0.1"
    except ValueError:
        return "127.0.0.1"  # a name: the cluster on this machine
    r = subprocess.run(["ip", "-o", "route", "get", host], capture_output=True, text=True, timeout=10)
    words = r.stdout.split()
    return words[words.index("src") + 1] if "src" in words else "127.0.0.1"


async def _pump(session: ConsoleSession, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async def out():
        while data := await session.read():
            writer.write(data)
            await writer.drain()

    async def into():
        while data := await reader.read(4096):
            await session.write(data)

    tasks = [asyncio.ensure_future(out()), asyncio.ensure_future(into())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
        writer.close()


async def open_relay(session: ConsoleSession, bind: str) -> dict:
    """Serve `session` to the one client that presents the ticket; {address, port, ticket}."""
    ticket = secrets.token_urlsafe(32)
    taken = asyncio.Event()

    async def handle(reader, writer):
        if taken.is_set():
            writer.close()
            return
        taken.set()  # one connection, right ticket or not: a guess costs the relay
        server.close()
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
        except (asyncio.TimeoutError, ConnectionError):
            line = b""
        if not hmac.compare_digest(line.strip(), ticket.encode()):
            log.warning("serial console relay: a connection without the ticket was refused")
            writer.close()
            await session.close()
            return
        await _pump(session, reader, writer)

    server = await asyncio.start_server(handle, bind, 0)

    async def expire():
        await asyncio.sleep(ACCEPT_TIMEOUT)
        if not taken.is_set():
            server.close()
            await session.close()

    t = asyncio.get_running_loop().create_task(expire())
    _RELAYS.add(t)
    t.add_done_callback(_RELAYS.discard)
    return {"address": bind, "port": server.sockets[0].getsockname()[1], "ticket": ticket}


class RelayedConsole(ConsoleSession):
    """The api process's end of a relay: a ConsoleSession over the TCP stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, info: dict) -> "RelayedConsole":
        reader, writer = await asyncio.wait_for(asyncio.open_connection(info["address"], info["port"]), 10)
        writer.write(info["ticket"].encode() + b"\n")
        await writer.drain()
        return cls(reader, writer)

    async def read(self) -> bytes:
        try:
            return await self.reader.read(4096)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
