"""One bounded wait for tests that drive processes from outside (the e2e and cluster suites)."""
from __future__ import annotations

import time


def poll(what: str, fn, timeout: float, detail=lambda: None, interval: float = 0.05):
    """fn() until it returns something true (bounded: a missed state fails, never hangs);
    detail() is added to the failure's message."""
    end = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not reached in {timeout:g} s {detail() or ''}")
        time.sleep(interval)


async def apoll(what: str, fn, timeout: float = 10.0, interval: float = 0.01):
    """poll() for tests running on the cloud's own event loop: waits without blocking it."""
    import asyncio
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not (got := fn()):
        if loop.time() > end:
            raise AssertionError(f"{what}: not reached in {timeout:g} s")
        await asyncio.sleep(interval)
    return got
