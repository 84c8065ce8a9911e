"""The capacity arithmetic, once: what a compute host may hand out (nova's allocation ratios
and reserved amounts), for the scheduler's filters and the conductor's claim. conf: anything
with the five settings (Config, SchedulerConfig)."""
from __future__ import annotations


def vcpu_limit(vcpus, conf) -> float:
    """total × cpu_allocation_ratio (nova reserves no vCPUs by default)."""
    return vcpus * conf.cpu_allocation_ratio


def ram_limit_mb(memory_mb, conf) -> float:
    """total × ratio − reserved (the legacy RamFilter sum; placement's (total − reserved) ×
    ratio is the same at the default ratio of 1.0)."""
    return memory_mb * conf.ram_allocation_ratio - conf.reserved_host_memory_mb


def disk_limit_mb(disk_gb, conf) -> float:
    """total × ratio − reserved, in MB."""
    return disk_gb * 1024 * conf.disk_allocation_ratio - conf.reserved_host_disk_mb
