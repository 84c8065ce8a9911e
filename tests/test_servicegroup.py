"""'A host is up' is one rule (backend/core/servicegroup.py) for the compute API, the
conductor, the scheduler and the hypervisor views."""
from __future__ import annotations

import pytest

from backend.core import servicegroup
from backend.core.config import Config


def node(last_heartbeat, down_reason=None):
    return {"last_heartbeat": last_heartbeat, "down_reason": down_reason}


def test_up_only_with_a_recent_clean_heartbeat():
    c = Config(service_down_time=30)
    assert servicegroup.is_up(node(1000.0), c, now=1029.9)
    assert servicegroup.down_reason(node(1000.0), c, now=1030.0) == "no heartbeat for 30 s"
    assert servicegroup.down_reason(node(None), c, now=1000.0) == "never reported"
    assert servicegroup.down_reason(node(1000.0, "host lab-1 does not answer"), c, now=1000.0) == \
        "host lab-1 does not answer"


async def test_every_reader_agrees_when_a_heartbeat_goes_stale(cloud):
    """The scheduler's host state, the hypervisor view, the conductor's alternates and the
    compute API's action check all call a host down once its heartbeat is older than
    service_down_time. (No await in between: the periodic heartbeat cannot refresh it.)"""
    from backend.core import db as dbm
    from backend.core.errors import Conflict
    rt = cloud.rt
    host = next(iter(rt.computes))
    rt.db.conn.execute("UPDATE compute_nodes SET last_heartbeat=last_heartbeat-? WHERE host=?",
                       (rt.config.service_down_time + 1, host))
    hs = {h.name: h for h in rt.scheduler.host_states()}[host]
    assert not hs.up and hs.down_reason.startswith("no heartbeat for")
    hv = rt.compute_api.hypervisor_view(dbm.row(rt.db, "SELECT * FROM compute_nodes WHERE host=?", (host,)), {})
    assert hv["state"] == "down" and hv["down_reason"] == hs.down_reason
    assert not rt.conductor._host_up(host)
    with pytest.raises(Conflict, match=f"compute host {host} is down"):
        rt.compute_api._host_must_be_up(host, "stop")
