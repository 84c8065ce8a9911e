"""A RabbitMQ node of our own for the broker tests, on free loopback ports under a temporary
directory (one per test module: a node takes ~10 s to start)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from backend.messaging.rabbit import RabbitNode


def node_dir() -> Path:
    # not under pytest's tmp_path: its parents are private to root, and the node runs as `rabbitmq`
    return Path(tempfile.mkdtemp(prefix="pocketstack-rabbit-"))


@pytest.fixture(scope="module")
def rabbit():
    d = node_dir()
    node = RabbitNode(d).start()
    yield node
    node.stop()
    shutil.rmtree(d, ignore_errors=True)
