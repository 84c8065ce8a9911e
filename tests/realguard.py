"""The real suite cannot pass by skipping: with POCKETSTACK_REQUIRE_REAL=1 (set by .ci/run)
a test marked `real` that skips (no root, no qemu or sshd, a lab on loopback ports instead
of network namespaces) fails instead, and the run ends with the count of real tests that ran.
Loaded by tests/conftest.py (its hooks are imported there)."""
from __future__ import annotations

import os

import pytest

_ran: set[str] = set()


def require_real() -> bool:
    return os.environ.get("POCKETSTACK_REQUIRE_REAL") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if item.get_closest_marker("real") is None:
        return
    if rep.skipped and not hasattr(rep, "wasxfail") and require_real():
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"real test skipped while POCKETSTACK_REQUIRE_REAL=1: {reason}"
    elif rep.when == "call" and not rep.skipped:
        _ran.add(item.nodeid)


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"real tests run: {len(_ran)}"
                                + ("" if require_real() else " (POCKETSTACK_REQUIRE_REAL unset: "
                                   "real tests may skip)"))
