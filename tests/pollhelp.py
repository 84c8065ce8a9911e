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
