"""Attach to a real guest's serial port over the host's SSH link: type into the tiny image's
shell, read its answer, detach; the session goes into the capped log as before."""
from __future__ import annotations

import asyncio
import time

import pytest

from backend.virt.driver import DriverError
from real.test_qemu_driver import guest, wait_marker

pytestmark = pytest.mark.real


async def read_until(session, text: bytes, timeout: float = 30.0) -> bytes:
    got = b""
    end = time.monotonic() + timeout
    while text not in got:
        left = end - time.monotonic()
        assert left > 0, f"{text!r} not seen in {timeout}s; got {got[-500:]!r}"
        try:
            chunk = await asyncio.wait_for(session.read(), left)
        except asyncio.TimeoutError:
            continue
        assert chunk, f"the session ended before {text!r}; got {got[-500:]!r}"
        got += chunk
    return got


async def test_attach_type_hostname_and_read_it_back(drivers, tiny):
    d = drivers("lab-1")
    g = guest(tiny, hostname="console-vm-7", ip="10.0.0.37", mac="fa:16:3e:00:00:37")
    await d.spawn(g)
    try:
        await wait_marker(d, g.uuid)
        s = await d.attach_console(g.uuid)
        await s.write(b"\r")  # a fresh prompt: the shell may have printed its own before we came
        await read_until(s, b"# ")
        await s.write(b"hostname\r")
        out = await read_until(s, b"console-vm-7\r\n")
        assert b"hostname" in out  # the tty echoed what was typed
        await s.write(b"echo $((6*7))\r")
        await read_until(s, b"42\r\n")
        await s.close()
        assert await asyncio.wait_for(_until_end(s), 30) == b""
        log = await d.get_console_output(g.uuid)
        assert "console-vm-7" in log and "42" in log
        # a second attach after the detach works (nothing held)
        s2 = await d.attach_console(g.uuid)
        await s2.write(b"echo again\r")
        await read_until(s2, b"again\r\n")
        await s2.close()
        # a stopped guest has no console
        await d.power_off(g.uuid, timeout=10)
        with pytest.raises(DriverError, match="not running"):
            await d.attach_console(g.uuid)
    finally:
        await d.destroy(g.uuid)


async def _until_end(s) -> bytes:
    while True:
        chunk = await s.read()
        if not chunk:
            return chunk
