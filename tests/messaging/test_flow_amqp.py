"""The launch flow again, with every message between the services over a real RabbitMQ node
(transport_url = rabbit://...): each test's cloud in a virtual host of its own."""
from __future__ import annotations

import itertools

import pytest

from backend.messaging.amqp import AMQPBus
from test_flow import *  # noqa: F401,F403 (the same tests, collected here again)

_vhosts = itertools.count()


@pytest.fixture(autouse=True)
def _amqp_bus(monkeypatch, rabbit):
    monkeypatch.setenv("POCKETSTACK_TRANSPORT_URL", rabbit.add_vhost(f"flow-{next(_vhosts)}"))


async def test_the_cloud_of_this_module_talks_over_rabbitmq(cloud, admin, image, rabbit):
    assert isinstance(cloud.rt.bus, AMQPBus)
    vhost = cloud.rt.bus.url.rsplit("/", 1)[1]
    queues = rabbit.list_queues(vhost)
    for q in ("conductor", "scheduler", "network", "volume", "image", "compute.fake-1", "compute.fake-3"):
        assert q in queues
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")  # noqa: F405 (from test_flow)
