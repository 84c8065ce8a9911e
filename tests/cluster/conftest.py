"""A cluster of our own for the module (`pocketstack cluster up`: a RabbitMQ node on free
ports, then conductor, scheduler, api and 2 compute processes), shared by the module's tests:
it takes ~10 s to start."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from backend.cli import cluster as cl
from clusterhelp import make_cluster


@pytest.fixture(scope="module")
def cluster(request):
    """A module sets CLUSTER_DATABASE = "postgresql" for a cluster over its own PostgreSQL."""
    tmp = Path(tempfile.mkdtemp(prefix="pocketstack-cluster-test-"))
    c = make_cluster(tmp, database=getattr(request.module, "CLUSTER_DATABASE", "sqlite"))
    try:
        yield c
    finally:
        cl.down(c.config, log=lambda m: None)
        shutil.rmtree(tmp, ignore_errors=True)
