"""The launch flow again (tests/test_flow.py and tests/test_flow_steps.py), in cluster mode:
every test's cloud is a cluster of its own over a real RabbitMQ node (one per module), the fake
hosts served by 2 compute processes (`pocketstack serve --role compute`); this process is the
api process and also runs the conductor and the scheduler (tests/flowcluster.py). The fake
hosts' behaviours reach the compute processes through the state directory's
fake-behaviours.json."""
from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing

import pytest

import test_flow
import test_flow_steps
from backend.core import power_state
from backend.messaging.amqp import AMQPBus
from backend.runtime import Runtime
from backend.virt.fake import FakeBehaviour, FakeDriver, SharedBehaviours, behaviours_path
from cloudhelp import FAKE_HOSTS, make_config, wait_for
from flowcluster import FlowCluster, start_node, stop_node

# tests that cannot run in cluster mode, and why (the rest of both modules is collected here)
EMBEDDED_ONLY = {
    "test_the_grouping_is_pure": "no cloud at all: nothing differs in a cluster",
}
for _mod in (test_flow, test_flow_steps):
    for _name, _fn in vars(_mod).items():
        if _name.startswith("test_") and callable(_fn) and _name not in EMBEDDED_ONLY:
            globals()[_name] = _fn


@pytest.fixture(scope="module")
def rabbit():
    node, d = start_node()
    yield node
    stop_node(node, d)


@pytest.fixture
def config(tmp_path, request):
    # test_flow_steps's tests run on its hosts (fake-1 the roomiest), test_flow's on the shared ones
    steps = request.function.__module__ == "test_flow_steps"
    return make_config(tmp_path, test_flow_steps.HOSTS if steps else FAKE_HOSTS)


@pytest.fixture
async def start_cloud(rabbit, monkeypatch):
    """start(config): test_flow's fixture of that name, as a cluster of processes."""
    clusters = []

    async def start(cfg, admin_password=None):
        # the behaviours a test sets go to the state directory's file, which the compute processes read
        monkeypatch.setattr(FakeDriver, "behaviours", SharedBehaviours(behaviours_path(cfg.home)))
        cluster = FlowCluster(rabbit, cfg)
        clusters.append(cluster)
        return await cluster.start(admin_password)
    yield start
    for cluster in clusters:
        await cluster.stop()  # a no-op when the test stopped it


@pytest.fixture
async def cloud(config, start_cloud):
    return await start_cloud(config, "secret")


async def test_this_module_is_a_cluster_of_processes(cloud, admin, image, config):
    """The facade's cloud is the api process: the bus is RabbitMQ, no compute manager is
    here, and each fake host is served by one of 2 other processes."""
    assert isinstance(cloud.rt.bus, AMQPBus) and cloud.rt.computes == {}
    con = test_flow.dbconnect(config)
    try:
        owners = dict(con.execute("SELECT m.host, s.pid FROM host_mappings m JOIN services s"
                                  " ON s.role=m.service_role AND s.host=m.service_host").fetchall())
        roles = sorted(r[0] for r in con.execute("SELECT role FROM services WHERE NOT stopped"))
    finally:
        con.close()
    pids = {p.pid for _n, p, _l in cloud.cluster.procs}
    assert set(owners) == {"fake-1", "fake-2", "fake-3"} and set(owners.values()) == pids and len(pids) == 2
    assert owners["fake-1"] == owners["fake-3"] != owners["fake-2"]  # round robin, as `cluster up`
    assert roles == ["api", "compute", "compute", "conductor", "scheduler"]
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    await cloud.cluster.settle()
    trace = await cloud.get_trace(admin, s["id"])
    assert {t["topic"] for t in trace if t["service"] == "queue"} >= {"conductor", "scheduler", f"compute.{s['host']}"}


async def test_a_create_whose_build_cast_never_left_is_sent_by_the_next_api_process(cloud, admin, image,
                                                                                  config):
    """An api process that dies after recording a create and before its build_instances cast
    leaves: the next api process to start finds the build (BUILD/scheduling, never scheduled)
    and sends it, once; it ends ACTIVE with one decision, one claim, its events closed."""
    lost = []
    api = cloud.rt.compute_api.conductor_api  # the create's caster
    api.build_instances = lambda ctx, **kw: lost.append(kw["instance_uuids"])  # the process "dies" here
    try:
        s = (await cloud.create_server(admin, "unsent", image, "m1.nano"))[0]
    finally:
        del api.build_instances  # the class's method again
    assert lost == [[s["id"]]]
    con = test_flow.dbconnect(config)
    try:
        row = con.execute("SELECT vm_state, task_state, host FROM instances WHERE uuid=?", (s["id"],)).fetchone()
        assert tuple(row) == ("building", "scheduling", None)
        await asyncio.sleep(1.0)  # nothing else sends it: the build waits, unscheduled
        assert con.execute("SELECT count(*) FROM scheduler_decisions WHERE instance_uuid=?",
                           (s["id"],)).fetchone()[0] == 0
        # the api process started after it (its own name, as another process's would be)
        again = Runtime(dataclasses.replace(config, service_host="api-after"), role="api")
        await again.start()
        try:
            s = await wait_for(cloud, admin, s["id"], "ACTIVE", timeout=30)
            await cloud.cluster.settle()
        finally:
            await again.stop()
        assert con.execute("SELECT count(*) FROM scheduler_decisions WHERE instance_uuid=?",
                           (s["id"],)).fetchone()[0] == 1
        assert con.execute("SELECT host FROM claims WHERE instance_uuid=?", (s["id"],)).fetchall() == [(s["host"],)]
        assert con.execute("SELECT count(*) FROM instance_action_events e JOIN instance_actions a ON"
                           " a.id=e.action_id WHERE a.instance_uuid=? AND e.finish_time IS NULL",
                           (s["id"],)).fetchone()[0] == 0
    finally:
        con.close()


def _steer(path, host, behaviour, out):
    """In another process: set a host's behaviour in the cloud's file."""
    SharedBehaviours(path)[host] = behaviour
    out.put(SharedBehaviours(path)[host].to_dict())


def test_a_behaviour_set_in_one_process_reaches_a_driver_in_another(tmp_path):
    from backend.core.hosts import load_hosts
    cfg = make_config(tmp_path)
    host = load_hosts(cfg.hosts_path)[0]
    driver = FakeDriver(host, cfg)
    assert driver.behaviour.fail_spawns == 0
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    p = ctx.Process(target=_steer, args=(behaviours_path(cfg.home), host.name,
                                        FakeBehaviour(fail_spawns=2, crash={"u1": power_state.CRASHED}), out))
    p.start()
    written = out.get(timeout=60)
    p.join(60)
    assert written["fail_spawns"] == 2
    b = driver.behaviour
    assert (b.fail_spawns, b.crash) == (2, {"u1": power_state.CRASHED})
    # a fault the driver uses up is used up in the file, for every process
    assert driver._take("fail_spawns") and driver._take("fail_spawns") and not driver._take("fail_spawns")
    assert SharedBehaviours(behaviours_path(cfg.home))[host.name].fail_spawns == 0
    assert driver._take("crash") == {"u1": power_state.CRASHED} and driver.behaviour.crash == {}
    with pytest.raises(ValueError, match="unknown fake behaviour bogus"):
        FakeBehaviour.from_dict({"bogus": 1})
    asyncio.run(_unreachable_then_back(driver, cfg, host.name))


async def _unreachable_then_back(driver, cfg, name):
    store = SharedBehaviours(behaviours_path(cfg.home))
    store[name] = FakeBehaviour(unreachable=True)
    assert await driver.is_alive() is False
    del store[name]  # back to the in-memory behaviour
    assert await driver.is_alive() is True
