"""Host filters: each says why a host cannot take the request, or None if it can.

Semantics follow upstream nova (nova/scheduler/filters/*). Upstream moved RAM/CPU/disk into
placement; they stay filters here so that a rejection can be explained per host.

A filter is a small class with ``name`` and ``host_passes(host, spec, conf) -> str | None``.
``applies(spec)`` lets the core skip a filter that cannot reject anything for this request
(no AZ asked, no image properties, no group), which keeps a 10,000-host decision cheap.
Reason strings are built only for rejected hosts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from backend.core import capacity

if TYPE_CHECKING:  # only for hints: core imports this module
    from .core import HostState, RequestSpec, SchedulerConfig


def _n(x: float) -> str:
    """A number for a human: no '.0' on whole numbers, one decimal otherwise."""
    return str(int(x)) if x == int(x) else f"{x:.1f}"


def _r(ratio: float) -> str:
    """An allocation ratio as configured: 1.0, 1.5, 16.0."""
    return repr(float(ratio))


# --- capacity, shared by the filters, the weighers and whoever claims resources -------------

def ram_limit_mb(host: HostState, conf: SchedulerConfig) -> float:
    """RAM still usable: total × ratio − reserved − used (the legacy RamFilter sum, where the
    compute node's memory_mb_used already included reserved_host_memory_mb). Placement today
    computes (total − reserved) × ratio − used: the same at the default ratio of 1.0."""
    return capacity.ram_limit_mb(host.memory_mb, conf) - host.memory_mb_used


def vcpu_limit(host: HostState, conf: SchedulerConfig) -> float:
    """vCPUs still usable: total × ratio − used (nova has no reserved vCPUs by default)."""
    return capacity.vcpu_limit(host.vcpus, conf) - host.vcpus_used


def disk_limit_mb(host: HostState, conf: SchedulerConfig) -> float:
    """Disk still usable, in MB: total × ratio − reserved − used."""
    return capacity.disk_limit_mb(host.disk_gb, conf) - host.disk_gb_used * 1024


class BaseFilter:
    name = "BaseFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return True

    def host_passes(self, host: HostState, spec: RequestSpec,
                    conf: SchedulerConfig) -> str | None:
        raise NotImplementedError

    def filter_all(self, hosts: list, spec: RequestSpec, conf: SchedulerConfig):
        """(kept hosts, [{host, reason}] removed), in input order."""
        kept, removed = [], []
        passes = self.host_passes
        for h in hosts:
            reason = passes(h, spec, conf)
            if reason is None:
                kept.append(h)
            else:
                removed.append({"host": h.name, "reason": reason})
        return kept, removed


class IgnoreHostsFilter(BaseFilter):
    """Hosts already tried for this instance. Upstream strips RequestSpec.ignore_hosts before
    the filters run (HostManager._strip_ignore_hosts); it is reported as a step here."""
    name = "IgnoreHosts"

    def applies(self, spec):
        return bool(spec.ignore_hosts)

    def host_passes(self, host, spec, conf):
        if host.name in spec.ignore_hosts:
            return "already tried for this instance (reschedule)"
        return None


class ComputeFilter(BaseFilter):
    """The compute service must be enabled and heard from recently. Disabled is checked
    first, as upstream, because an operator's reason is the more useful one to show."""
    name = "ComputeFilter"

    def host_passes(self, host, spec, conf):
        if host.enabled and host.up:
            return None
        if not host.enabled:
            return "service disabled" + (f": {host.down_reason}" if host.down_reason else "")
        return "service down" + (f": {host.down_reason}" if host.down_reason
                                 else " (not heard from recently)")


class RamFilter(BaseFilter):
    name = "RamFilter"

    def host_passes(self, host, spec, conf):
        req = spec.memory_mb
        free = ram_limit_mb(host, conf)
        # upstream: an instance may overcommit against others, never against itself
        if free >= req and host.memory_mb >= req:
            return None
        if host.memory_mb < req:
            return (f"RAM: {req} MB requested but the host has only {host.memory_mb} MB "
                    f"(no overcommit against itself)")
        return (f"RAM: {_n(free)} MB free of {host.memory_mb} MB × "
                f"{_r(conf.ram_allocation_ratio)} − {conf.reserved_host_memory_mb} reserved − "
                f"{host.memory_mb_used} used, {req} MB requested")

    def filter_all(self, hosts, spec, conf):
        # host_passes' test inlined: a method call per host is most of the cost at scale
        req, ratio, res = spec.memory_mb, conf.ram_allocation_ratio, conf.reserved_host_memory_mb
        kept, removed = [], []
        for h in hosts:
            if h.memory_mb * ratio - res - h.memory_mb_used >= req and h.memory_mb >= req:
                kept.append(h)
            else:
                removed.append({"host": h.name, "reason": self.host_passes(h, spec, conf)})
        return kept, removed


class CoreFilter(BaseFilter):
    name = "CoreFilter"

    def host_passes(self, host, spec, conf):
        req = spec.vcpus
        free = vcpu_limit(host, conf)
        if free >= req and host.vcpus >= req:
            return None
        if host.vcpus < req:
            return (f"vCPUs: {req} requested but the host has only {host.vcpus} "
                    f"(no overcommit against itself)")
        return (f"vCPUs: {_n(free)} free of {host.vcpus} × {_r(conf.cpu_allocation_ratio)} − "
                f"{host.vcpus_used} used, {req} requested")

    def filter_all(self, hosts, spec, conf):
        req, ratio = spec.vcpus, conf.cpu_allocation_ratio   # host_passes' test, inlined
        kept, removed = [], []
        for h in hosts:
            if h.vcpus * ratio - h.vcpus_used >= req and h.vcpus >= req:
                kept.append(h)
            else:
                removed.append({"host": h.name, "reason": self.host_passes(h, spec, conf)})
        return kept, removed


class DiskFilter(BaseFilter):
    name = "DiskFilter"

    def applies(self, spec):
        # boot from volume asks for no local disk: placement is not even asked for DISK_GB
        return spec.disk_gb > 0

    def host_passes(self, host, spec, conf):
        req_mb = spec.disk_gb * 1024
        free_mb = disk_limit_mb(host, conf)
        if free_mb >= req_mb and host.disk_gb >= spec.disk_gb:
            return None
        if host.disk_gb < spec.disk_gb:
            return (f"Disk: {spec.disk_gb} GB requested but the host has only "
                    f"{host.disk_gb} GB (no overcommit against itself)")
        return (f"Disk: {_n(free_mb / 1024)} GB free of {host.disk_gb} GB × "
                f"{_r(conf.disk_allocation_ratio)} − {conf.reserved_host_disk_mb} MB reserved − "
                f"{host.disk_gb_used} GB used, {spec.disk_gb} GB requested")

    def filter_all(self, hosts, spec, conf):
        req = spec.disk_gb                                   # host_passes' test, inlined
        req_mb, ratio, res = req * 1024, conf.disk_allocation_ratio, conf.reserved_host_disk_mb
        kept, removed = [], []
        for h in hosts:
            if (h.disk_gb * 1024 * ratio - res - h.disk_gb_used * 1024 >= req_mb
                    and h.disk_gb >= req):
                kept.append(h)
            else:
                removed.append({"host": h.name, "reason": self.host_passes(h, spec, conf)})
        return kept, removed


class AvailabilityZoneFilter(BaseFilter):
    """Upstream accepts a comma-separated list of zones in the filter's docs; the API only
    ever passes one, but honouring the list costs nothing."""
    name = "AvailabilityZoneFilter"

    def applies(self, spec):
        return bool(spec.availability_zone)

    def host_passes(self, host, spec, conf):
        wanted = spec.availability_zone
        if host.availability_zone == wanted:
            return None
        if "," in wanted and host.availability_zone in {z.strip() for z in wanted.split(",")}:
            return None
        return (f"in availability zone '{host.availability_zone}', "
                f"'{wanted}' requested")


# nova.objects.fields.Architecture.canonicalize / HVType.canonicalize / VMMode.canonicalize
_ARCH_ALIASES = {"i386": "i686", "i486": "i686", "i586": "i686", "x86_32": "i686",
                 "x86_32p": "i686", "amd64": "x86_64"}
_HV_ALIASES = {"xapi": "xen"}
_VM_MODE_ALIASES = {"pv": "xen", "hv": "hvm", "baremetal": "hvm"}


def _canon(value, aliases):
    if value is None or value == "":
        return None
    v = str(value).lower()
    return aliases.get(v, v)


def image_requirements(props: dict) -> tuple[str | None, str | None, str | None]:
    """(architecture, hypervisor_type, vm_mode) the image asks for, canonical.
    Glance's names (architecture, hypervisor_type, vm_mode) are nova's legacy names for
    hw_architecture, img_hv_type, hw_vm_mode; like ImageMetaProps.from_dict, the current
    names win when both are given."""
    arch = props.get("hw_architecture") or props.get("architecture")
    hv = props.get("img_hv_type") or props.get("hypervisor_type")
    mode = props.get("hw_vm_mode") or props.get("vm_mode")
    return (_canon(arch, _ARCH_ALIASES), _canon(hv, _HV_ALIASES),
            _canon(mode, _VM_MODE_ALIASES))


def host_hypervisor_types(host: HostState) -> tuple[str, ...]:
    """Hypervisor types a host supports. libvirt reports plain 'qemu' (TCG) domains
    beside 'kvm' ones, so a kvm host also runs images that ask for qemu."""
    hv = (host.hypervisor_type or "").lower()
    return (hv, "qemu") if hv == "kvm" else (hv,)


class ImagePropertiesFilter(BaseFilter):
    """Upstream compares the image's (arch, hv_type, vm_mode) with the host's
    supported_instances; a property the image does not set matches anything. Our hosts
    support exactly one arch and one hypervisor type, and hvm guests (as qemu and nova's
    fake driver report). img_hv_requested_version is not checked: hosts here report no
    hypervisor version."""
    name = "ImagePropertiesFilter"

    def applies(self, spec):
        return any(image_requirements(spec.image_properties or {}))

    def host_passes(self, host, spec, conf):
        arch, hv, mode = image_requirements(spec.image_properties or {})
        problems = []
        if arch and arch != _canon(host.cpu_arch, _ARCH_ALIASES):
            problems.append(f"architecture {arch} requested by the image, host is "
                            f"{host.cpu_arch}")
        if hv and hv not in host_hypervisor_types(host):
            problems.append(f"hypervisor_type {hv} requested by the image, host is "
                            f"{host.hypervisor_type}")
        if mode and mode != "hvm":
            problems.append(f"vm_mode {mode} requested by the image, host runs hvm only")
        return "; ".join(problems) if problems else None

    def filter_all(self, hosts, spec, conf):
        # the image's needs are the same for every host: canonicalise them once
        arch, hv, mode = image_requirements(spec.image_properties or {})
        if mode and mode != "hvm":
            return [], [{"host": h.name, "reason": self.host_passes(h, spec, conf)}
                        for h in hosts]
        kept, removed = [], []
        for h in hosts:
            if ((not arch or arch == _canon(h.cpu_arch, _ARCH_ALIASES))
                    and (not hv or hv in host_hypervisor_types(h))):
                kept.append(h)
            else:
                removed.append({"host": h.name, "reason": self.host_passes(h, spec, conf)})
        return kept, removed


def _group_names(group_hosts, limit=3) -> str:
    names = sorted(group_hosts)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


class ServerGroupAntiAffinityFilter(BaseFilter):
    """No two members of an anti-affinity group on one host (max_server_per_host = 1, the
    upstream default rule)."""
    name = "ServerGroupAntiAffinityFilter"

    def applies(self, spec):
        return spec.group_policy == "anti-affinity" and bool(spec.group_hosts)

    def host_passes(self, host, spec, conf):
        if host.name in spec.group_hosts:
            return "already holds a member of the instance's anti-affinity group"
        return None


class ServerGroupAffinityFilter(BaseFilter):
    """All members of an affinity group on one host; the first member may go anywhere."""
    name = "ServerGroupAffinityFilter"

    def applies(self, spec):
        return spec.group_policy == "affinity" and bool(spec.group_hosts)

    def host_passes(self, host, spec, conf):
        if host.name in spec.group_hosts:
            return None
        return (f"not a host of the instance's affinity group "
                f"(members are on {_group_names(spec.group_hosts)})")


# Run order of the default list: root causes (service down) before capacity, so that the
# explanation blames a host being down rather than its memory. IgnoreHosts is not in it: it is
# not optional, the core always runs it first (upstream strips ignored hosts before filtering).
from .hint_filters import DifferentHostFilter, SameHostFilter  # noqa: E402 (they subclass BaseFilter)

ALL_FILTERS = [IgnoreHostsFilter, ComputeFilter, AvailabilityZoneFilter, RamFilter,
               CoreFilter, DiskFilter, ImagePropertiesFilter,
               ServerGroupAntiAffinityFilter, ServerGroupAffinityFilter,
               SameHostFilter, DifferentHostFilter]
FILTERS = {cls.name: cls for cls in ALL_FILTERS}
DEFAULT_FILTERS = [cls.name for cls in ALL_FILTERS if cls is not IgnoreHostsFilter]
