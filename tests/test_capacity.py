"""The capacity arithmetic is one rule (backend/core/capacity.py): the scheduler's filters
and the conductor's claim draw the line at the same place."""
from __future__ import annotations

import pytest

from backend.conductor.manager import ComputeResourcesUnavailable
from backend.core import db as dbm
from backend.scheduler import HostState, SchedulerConfig, disk_limit_mb, ram_limit_mb, vcpu_limit


def test_the_filters_use_the_shared_arithmetic(config):
    config.cpu_allocation_ratio, config.ram_allocation_ratio = 2.0, 1.5
    config.reserved_host_memory_mb, config.reserved_host_disk_mb = 512, 2048
    h = HostState("h", "nova", True, True, vcpus=4, memory_mb=4096, disk_gb=10, vcpus_used=3,
                  memory_mb_used=1000, disk_gb_used=2)
    conf = SchedulerConfig.from_config(config)
    assert vcpu_limit(h, conf) == 4 * 2.0 - 3
    assert ram_limit_mb(h, conf) == 4096 * 1.5 - 512 - 1000
    assert disk_limit_mb(h, conf) == 10 * 1024 - 2048 - 2 * 1024


async def test_the_claim_refuses_one_mb_past_where_the_scheduler_stops(cloud, admin, image):
    """Fill a host's RAM so that exactly the flavor's 128 MB is left: the scheduler's RamFilter
    and the conductor's claim both accept it; with one MB less, both refuse."""
    rt = cloud.rt
    host = next(iter(rt.computes))
    n = dbm.row(rt.db, "SELECT * FROM compute_nodes WHERE host=?", (host,))
    conf = rt.scheduler.conf
    s = (await cloud.create_server(admin, "vm", image, "m1.nano"))[0]  # 128 MB
    from cloudhelp import settle
    await settle(cloud)
    rt.db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (s["id"],))
    limit = ram_limit_mb(HostState(host, "nova", True, True, memory_mb=n["memory_mb"]), conf)
    for used, fits in ((limit - 128, True), (limit - 127, False)):
        rt.db.conn.execute("UPDATE compute_nodes SET memory_mb_used=?, vcpus_used=0, disk_gb_used=0 WHERE host=?",
                           (used, host))
        hs = {h.name: h for h in rt.scheduler.host_states()}[host]
        assert (ram_limit_mb(hs, conf) >= 128) is fits
        rt.db.conn.execute("UPDATE instances SET vm_state='building', task_state=NULL, deleted=0 WHERE uuid=?",
                           (s["id"],))
        if fits:
            rt.conductor._claim(s["id"], host)
            rt.db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (s["id"],))
        else:
            with pytest.raises(ComputeResourcesUnavailable, match="insufficient RAM MB"):
                rt.conductor._claim(s["id"], host)
