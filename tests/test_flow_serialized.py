"""The launch flow again, with every message on the bus sent through JSON as a broker
would: nothing that cannot cross a process boundary is passed between services."""
from __future__ import annotations

import pytest

from test_flow import *  # noqa: F401,F403 (the same tests, collected here again)


@pytest.fixture(autouse=True)
def _serialising_bus(monkeypatch):
    monkeypatch.setenv("POCKETSTACK_BUS_SERIALIZE", "1")


async def test_the_bus_of_this_module_serialises(cloud):
    assert cloud.rt.bus.serialize is True
