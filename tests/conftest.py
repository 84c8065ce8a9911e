"""Shared fixtures: a real cloud (real SQLite file, real queue, real services) on fake
hypervisor hosts, in a temporary state directory."""
from __future__ import annotations

import pytest

from backend.facade import Cloud
from backend.virt.fake import FakeDriver
from cloudhelp import make_config
from realguard import pytest_runtest_makereport, pytest_terminal_summary  # noqa: F401 (hooks)
from dbhelp import database_connection, db_engine, on_database, pg_cluster, pytest_generate_tests  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_fake_behaviour():
    FakeDriver.behaviours.clear()
    yield
    FakeDriver.behaviours.clear()


@pytest.fixture
def config(tmp_path, database_connection):
    return on_database(make_config(tmp_path), database_connection)


@pytest.fixture
async def cloud(config):
    Cloud.init(config, "secret")
    c = Cloud(config)
    await c.start()
    yield c
    await c.stop()


@pytest.fixture
async def admin(cloud):
    return (await cloud.login("admin", "secret", "admin"))["token"]


@pytest.fixture
async def image(cloud, admin):
    img = await cloud.create_image(admin, "cirros", visibility="public")
    await cloud.upload_image(admin, img["id"], b"\0" * 4096)
    return img["id"]
