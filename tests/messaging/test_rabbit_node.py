"""A RabbitMQ node of ours that cannot start says so by name and leaves no epmd behind."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from backend.messaging.rabbit import RabbitError, RabbitNode


def test_a_node_that_exits_while_starting_is_a_clear_error_and_leaves_no_epmd():
    base = Path(tempfile.mkdtemp(prefix="pocketstack-rabbit-test-", dir="/tmp"))
    base.chmod(0o755)
    try:
        # an address no listener can bind: the node gives up during its boot
        node = RabbitNode(base / "node", listen=("999.1.1.1",))
        with pytest.raises(RabbitError, match=r"rabbitmq-server exited \(\d+\); see .*server\.out"):
            node.start(timeout=60)
        assert node.proc is None
        names = subprocess.run(["epmd", "-names"], env=node.env(), capture_output=True, text=True)
        assert names.returncode != 0, names.stdout  # no epmd answers on the node's own port
    finally:
        shutil.rmtree(base, ignore_errors=True)
