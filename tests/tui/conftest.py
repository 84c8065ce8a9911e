"""Fixtures: a deterministic app over the scripted adapter (snapshots), and a real Cloud on
the fake driver run by BackendThread (functional tests)."""
from __future__ import annotations

import pytest

import tui_scenario
from tui_helpers import make_app


@pytest.fixture
def fake():
    return tui_scenario.build()


@pytest.fixture
def app(fake):
    return make_app(fake)


@pytest.fixture
def real(tmp_path):
    """A real Cloud on two fake hosts: admin (admin of 'admin', member of 'demo'),
    a public image 'tiny'."""
    from backend.virt.fake import FakeDriver
    import tui_real
    FakeDriver.behaviours.clear()
    rc = tui_real.start(tmp_path)
    yield rc
    rc.bt.stop()
    FakeDriver.behaviours.clear()
