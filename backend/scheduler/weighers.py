"""Host weighers, as upstream nova (nova/weights.py, nova/scheduler/weights/*).

Each weigher gives a raw value per host; the core clamps it to [minval, maxval] when the
weigher sets them, normalises it over the surviving hosts and adds
``multiplier × normalised`` to the host's weight. Higher total wins.

Upstream facts kept here, which differ from a naive (x−min)/(max−min):
- RAM, CPU and Disk weighers set ``minval = 0``, so they normalise as x / max (a host with
  all its RAM free gets 1.0, not 0.0, when all hosts are alike).
- BuildFailureWeigher's multiplier is *negated*: raw value = failed builds, effective
  multiplier = −build_failure_weight_multiplier, so failures weigh a host down.
- NumInstancesWeigher: raw = number of instances; a positive multiplier packs, a negative
  one spreads; the default 0.0 leaves it out.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import HostState, SchedulerConfig


class BaseWeigher:
    name = "BaseWeigher"
    minval: float | None = None
    maxval: float | None = None

    def multiplier(self, conf: SchedulerConfig) -> float:
        return 1.0

    def weigh_objects(self, hosts: list[HostState], conf: SchedulerConfig) -> list[float]:
        """Raw values, one per host, in order."""
        raise NotImplementedError


class RAMWeigher(BaseWeigher):
    """Free RAM (no allocation ratio, as upstream's free_ram_mb). Spreads by default."""
    name = "RAMWeigher"
    minval = 0

    def multiplier(self, conf):
        return conf.ram_weight_multiplier

    def weigh_objects(self, hosts, conf):
        reserved = conf.reserved_host_memory_mb
        return [h.memory_mb - reserved - h.memory_mb_used for h in hosts]


class CPUWeigher(BaseWeigher):
    """Free vCPUs *with* the allocation ratio, as upstream."""
    name = "CPUWeigher"
    minval = 0

    def multiplier(self, conf):
        return conf.cpu_weight_multiplier

    def weigh_objects(self, hosts, conf):
        ratio = conf.cpu_allocation_ratio
        return [h.vcpus * ratio - h.vcpus_used for h in hosts]


class DiskWeigher(BaseWeigher):
    """Free disk in MB (no allocation ratio, as upstream's free_disk_mb)."""
    name = "DiskWeigher"
    minval = 0

    def multiplier(self, conf):
        return conf.disk_weight_multiplier

    def weigh_objects(self, hosts, conf):
        reserved = conf.reserved_host_disk_mb
        return [(h.disk_gb - h.disk_gb_used) * 1024 - reserved for h in hosts]


class NumInstancesWeigher(BaseWeigher):
    name = "NumInstancesWeigher"

    def multiplier(self, conf):
        return conf.num_instances_weight_multiplier

    def weigh_objects(self, hosts, conf):
        return [h.num_instances for h in hosts]


class BuildFailureWeigher(BaseWeigher):
    name = "BuildFailureWeigher"

    def multiplier(self, conf):
        # negated, as upstream: the more recent failures, the lower the weight
        return -conf.build_failure_weight_multiplier

    def weigh_objects(self, hosts, conf):
        return [h.failed_builds for h in hosts]


def normalize(values: list[float], minval: float | None = None,
              maxval: float | None = None) -> list[float]:
    """nova.weights.normalize: (x − min) / (max − min), the bounds taken from the list unless
    given; all equal → all 0."""
    if not values:
        return []
    hi = float(max(values) if maxval is None else maxval)
    lo = float(min(values) if minval is None else minval)
    if hi == lo:
        return [0.0] * len(values)
    span = hi - lo
    return [(x - lo) / span for x in values]


def contributions(raw: list[float], multiplier: float, minval: float | None = None,
                  maxval: float | None = None) -> list[float]:
    """multiplier × normalize(raw clamped into [minval, maxval]) — what one weigher adds to
    each host (BaseWeigher.weigh_objects + BaseWeightHandler.get_weighed_objects)."""
    if not raw:
        return []
    if minval is not None and min(raw) < minval:
        raw = [x if x > minval else minval for x in raw]
    if maxval is not None and max(raw) > maxval:
        raw = [x if x < maxval else maxval for x in raw]
    hi = float(max(raw) if maxval is None else maxval)
    lo = float(min(raw) if minval is None else minval)
    if hi == lo:
        return [0.0] * len(raw)
    span = hi - lo
    return [multiplier * ((x - lo) / span) + 0.0 for x in raw]  # + 0.0: never "-0.0"


ALL_WEIGHERS = [RAMWeigher, CPUWeigher, DiskWeigher, NumInstancesWeigher, BuildFailureWeigher]
WEIGHERS = {cls.name: cls for cls in ALL_WEIGHERS}
DEFAULT_WEIGHERS = [cls.name for cls in ALL_WEIGHERS]
