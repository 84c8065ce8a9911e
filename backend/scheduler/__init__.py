"""The scheduler's decision logic: filters, weighers and select_destinations.

Pure Python, no database, no asyncio; the scheduler service wraps it. See core.py for the
API and the shape of a Decision."""
from .core import (Decision, HostState, RequestSpec, SchedulerConfig, consume,
                   explain_failure, run_filters, select_destination, select_destinations,
                   weigh_hosts)
from .filters import (DEFAULT_FILTERS, FILTERS, AvailabilityZoneFilter, BaseFilter,
                      ComputeFilter, CoreFilter, DiskFilter, IgnoreHostsFilter,
                      ImagePropertiesFilter, RamFilter, ServerGroupAffinityFilter,
                      ServerGroupAntiAffinityFilter, disk_limit_mb, ram_limit_mb, vcpu_limit)
from .weighers import (DEFAULT_WEIGHERS, WEIGHERS, BaseWeigher, BuildFailureWeigher, contributions,
                       CPUWeigher, DiskWeigher, NumInstancesWeigher, RAMWeigher, normalize)

__all__ = [
    "Decision", "HostState", "RequestSpec", "SchedulerConfig", "select_destinations",
    "select_destination", "run_filters", "weigh_hosts", "explain_failure", "consume",
    "BaseFilter", "IgnoreHostsFilter", "ComputeFilter", "RamFilter", "CoreFilter",
    "DiskFilter", "AvailabilityZoneFilter", "ImagePropertiesFilter",
    "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter", "FILTERS",
    "DEFAULT_FILTERS", "ram_limit_mb", "vcpu_limit", "disk_limit_mb",
    "BaseWeigher", "RAMWeigher", "CPUWeigher", "DiskWeigher", "NumInstancesWeigher",
    "BuildFailureWeigher", "WEIGHERS", "DEFAULT_WEIGHERS", "normalize", "contributions",
]
