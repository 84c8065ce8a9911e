"""Whether a compute service is up (nova's servicegroup API, database driver): the one rule,
used by the compute API, the conductor, the scheduler and the hypervisor views."""
from __future__ import annotations

import time


def down_reason(node, config, now: float | None = None) -> str | None:
    """None when the host is up (it reported within service_down_time and its last report
    found nothing wrong); else why it is down. node: a compute_nodes row."""
    if node["down_reason"]:
        return node["down_reason"]
    if node["last_heartbeat"] is None:
        return "never reported"
    if (time.time() if now is None else now) - node["last_heartbeat"] >= config.service_down_time:
        return f"no heartbeat for {config.service_down_time:g} s"
    return None


def is_up(node, config, now: float | None = None) -> bool:
    return down_reason(node, config, now) is None
