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
