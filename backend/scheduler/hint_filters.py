"""Filters driven by the create request's scheduler hints (nova's SameHostFilter and
DifferentHostFilter, nova/scheduler/filters/affinity_filter.py).

The hints name instances (`same_host` / `different_host`: one uuid or a list). Upstream asks
whether a host's instance list overlaps them; the scheduler service here resolves the uuids to
the hosts holding them once per request (RequestSpec.same_host_hosts / different_host_hosts),
so a host is checked by name and a 10,000-host decision does not load every host's instances.
A hint naming no live instance leaves an empty set: same_host then passes no host (as upstream,
where nothing overlaps), different_host every host.
"""
from __future__ import annotations

from .filters import BaseFilter


def _names(hosts, limit=3) -> str:
    names = sorted(hosts)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


class SameHostFilter(BaseFilter):
    """Only the hosts of the instances the `same_host` hint names."""
    name = "SameHostFilter"

    def applies(self, spec):
        return spec.same_host_hosts is not None

    def host_passes(self, host, spec, conf):
        if host.name in spec.same_host_hosts:
            return None
        if not spec.same_host_hosts:
            return "holds none of the same_host instances (they are on no host)"
        return f"holds none of the same_host instances (they are on {_names(spec.same_host_hosts)})"


class DifferentHostFilter(BaseFilter):
    """No host of an instance the `different_host` hint names."""
    name = "DifferentHostFilter"

    def applies(self, spec):
        return bool(spec.different_host_hosts)

    def host_passes(self, host, spec, conf):
        if host.name in spec.different_host_hosts:
            return "holds an instance named by the different_host hint"
        return None
