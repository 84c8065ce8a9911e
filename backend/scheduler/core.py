"""The scheduler's decision: filter the hosts, weigh the survivors, pick one plus alternates.

Pure and synchronous: the scheduler service builds the HostStates from the database and calls

    decisions = select_destinations(spec, hosts, conf, num_instances=1)   # -> list[Decision]

It always returns one Decision per instance, in order (``select_destination`` is the
one-instance shorthand returning a Decision). For num_instances > 1 (a min/max-count create)
each instance is scheduled against the hosts as the earlier ones left them: the chosen host's
HostState is replaced by a copy that has consumed the request (upstream
HostState.consume_from_request); the caller's HostStates are never modified. For group
requests each placed instance joins the group's hosts for the next ones, as upstream's
FilterScheduler does, so anti-affinity holds inside one multi-create. Alternates never name a
host selected for another instance of the same request.

Upstream is all-or-nothing for a multi-create: if any Decision has ``selected is None`` the
whole request has failed (the conductor sets every instance to ERROR); those Decisions carry the
message. Later instances are still scheduled (against the capacity the placed ones consumed) so
each has its own record.

Decision.to_dict():
    {"instance_uuid": str | None,
     "hosts_considered": int,
     "filters": [{"name": "RamFilter", "removed": [{"host": "lab-1", "reason": "..."}],
                  "remaining": 2}, ...],                  # in run order, every filter listed
     "weights": [{"host": "lab-2", "total": 1.5,
                  "by_weigher": {"RAMWeigher": 1.0, "CPUWeigher": 0.5, ...}}, ...],  # best first
     "selected": "lab-2" | None,
     "alternates": ["lab-3", ...],                      # up to max_attempts - 1, best first
     "message": None | "No valid host was found: ..."}
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .filters import DEFAULT_FILTERS, FILTERS, IgnoreHostsFilter
from .weighers import DEFAULT_WEIGHERS, WEIGHERS, contributions


@dataclass(slots=True)
class HostState:
    """One compute host as the scheduler sees it (built by the service from the database)."""
    name: str
    availability_zone: str
    up: bool                       # service heartbeat recent
    enabled: bool                  # not administratively disabled
    down_reason: str | None = None  # why disabled / down, shown in the explanation
    vcpus: int = 0                 # total capacity
    memory_mb: int = 0
    disk_gb: int = 0
    vcpus_used: int = 0            # sum of claims
    memory_mb_used: int = 0        # instances only: reserved_host_memory_mb is applied here
    disk_gb_used: int = 0
    num_instances: int = 0
    failed_builds: int = 0         # recent build failures (BuildFailureWeigher)
    hypervisor_type: str = "qemu"  # the fake driver reports "fake"
    cpu_arch: str = "x86_64"
    instance_uuids: set[str] = field(default_factory=set)


@dataclass
class RequestSpec:
    instance_uuid: str
    vcpus: int
    memory_mb: int
    disk_gb: int                   # 0 when booting from volume
    availability_zone: str | None = None
    image_properties: dict = field(default_factory=dict)  # architecture/hw_architecture, ...
    group_policy: str | None = None                        # "affinity" | "anti-affinity"
    group_hosts: set[str] = field(default_factory=set)     # hosts holding group members
    ignore_hosts: set[str] = field(default_factory=set)    # already tried (reschedule)
    # hosts of the instances the same_host / different_host hints name (None: no such hint)
    same_host_hosts: set[str] | None = None
    different_host_hosts: set[str] | None = None


@dataclass
class SchedulerConfig:
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512
    reserved_host_disk_mb: int = 0
    ram_weight_multiplier: float = 1.0
    cpu_weight_multiplier: float = 1.0
    disk_weight_multiplier: float = 1.0
    num_instances_weight_multiplier: float = 0.0
    build_failure_weight_multiplier: float = 1000000.0
    max_attempts: int = 3
    enabled_filters: list[str] = field(default_factory=lambda: list(DEFAULT_FILTERS))
    weighers: list[str] = field(default_factory=lambda: list(DEFAULT_WEIGHERS))
    # Alternates come from the selected host's zone (upstream: its cell), so a reschedule
    # never moves an instance to another availability zone behind the user's back.
    alternates_same_az: bool = True

    @classmethod
    def from_config(cls, cfg) -> SchedulerConfig:
        """Take every same-named attribute of an object such as backend.core.config.Config."""
        names = cls.__dataclass_fields__
        return cls(**{k: getattr(cfg, k) for k in names if hasattr(cfg, k)})


@dataclass
class Decision:
    hosts_considered: int
    filters: list[dict]
    weights: Sequence[dict]         # WeightRecords: built when read
    selected: str | None
    alternates: list[str]
    message: str | None
    instance_uuid: str | None = None
    # ranked surviving HostStates, best first: for alternates; not part of the record
    _ranked: list = field(default_factory=list, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.selected is not None

    def to_dict(self, max_weights: int | None = None) -> dict:
        """The record (shape in the module docstring). ``max_weights`` keeps only the best
        N weight rows, for storing decisions over thousands of hosts; the count left out is
        then given as "weights_omitted"."""
        weights = list(self.weights if max_weights is None else self.weights[:max_weights])
        d = {"instance_uuid": self.instance_uuid,
             "hosts_considered": self.hosts_considered,
             "filters": self.filters, "weights": weights,
             "selected": self.selected, "alternates": list(self.alternates),
             "message": self.message}
        if max_weights is not None and len(self.weights) > max_weights:
            d["weights_omitted"] = len(self.weights) - max_weights
        return d


# --- plug-in loading --------------------------------------------------------------------

_chains: dict[tuple, list] = {}


def _load(names, registry, kind):
    key = (kind, tuple(names))
    chain = _chains.get(key)
    if chain is None:
        unknown = [n for n in names if n not in registry]
        if unknown:
            raise ValueError(f"unknown scheduler {kind} {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(registry)}")
        chain = _chains[key] = [registry[n]() for n in names]
    return chain


def _filter_chain(conf):
    # ignoring already-tried hosts is not optional: always first (upstream does it before
    # any filter runs)
    names = [n for n in conf.enabled_filters if n != IgnoreHostsFilter.name]
    return [_load([IgnoreHostsFilter.name], FILTERS, "filter")[0]] + \
        _load(names, FILTERS, "filter")


# --- the steps --------------------------------------------------------------------------

def run_filters(spec: RequestSpec, hosts: list[HostState], conf: SchedulerConfig):
    """(surviving hosts, filter records) — each record {name, removed, remaining}."""
    records = []
    for f in _filter_chain(conf):
        if hosts and f.applies(spec):
            hosts, removed = f.filter_all(hosts, spec, conf)
        else:
            removed = []
        records.append({"name": f.name, "removed": removed, "remaining": len(hosts)})
    return hosts, records


def weigh_hosts(spec: RequestSpec, hosts: list[HostState], conf: SchedulerConfig):
    """(hosts best first, weight records best first), upstream BaseWeightHandler semantics:
    one host or none is not weighed at all (every contribution 0); ties keep input order."""
    weighers = _load(conf.weighers, WEIGHERS, "weigher")
    n = len(hosts)
    zeros = [0.0] * n
    names, columns = [], []
    for w in weighers:
        m = w.multiplier(conf)
        names.append(w.name)
        if n <= 1 or m == 0:
            columns.append(zeros)
        else:
            columns.append(contributions(w.weigh_objects(hosts, conf), m, w.minval, w.maxval))
    # same order of additions as upstream's running sum
    totals = [sum(r) for r in zip(*columns)] if columns else [0] * n
    order = sorted(range(n), key=totals.__getitem__, reverse=True)  # stable on ties
    ranked = [hosts[i] for i in order]
    return ranked, WeightRecords(hosts, names, columns, totals, order)


class WeightRecords(Sequence):
    """The weight records best first ({host, total, by_weigher}), each built when it is read:
    a decision over thousands of hosts keeps only the best few (Decision.to_dict's
    max_weights), so building a dict per host was a third of the decision's time."""
    __slots__ = ("_hosts", "_names", "_columns", "_totals", "_order")

    def __init__(self, hosts, names, columns, totals, order):
        self._hosts, self._names, self._columns = hosts, names, columns
        self._totals, self._order = totals, order

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        k = self._order[i]
        return {"host": self._hosts[k].name, "total": self._totals[k],
                "by_weigher": {name: col[k] for name, col in zip(self._names, self._columns)}}

    def __eq__(self, other):
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return repr(list(self))


def explain_failure(hosts_considered: int, filter_records: list[dict],
                    per_filter: int = 5) -> str:
    """One sentence naming each filter that removed hosts, and each host's reason (the first
    ``per_filter`` of them; the full list is in the filter records)."""
    if hosts_considered == 0:
        return "No valid host was found: no compute hosts are known"
    parts = []
    for rec in filter_records:
        removed = rec["removed"]
        if not removed:
            continue
        shown = "; ".join(f"{r['host']}: {r['reason']}" for r in removed[:per_filter])
        if len(removed) > per_filter:
            shown += f"; and {len(removed) - per_filter} more"
        parts.append(f"{rec['name']} removed {len(removed)} ({shown})")
    noun = "host" if hosts_considered == 1 else "hosts"
    return (f"No valid host was found: {hosts_considered} {noun} considered; "
            + ", ".join(parts))


def consume(host: HostState, spec: RequestSpec) -> HostState:
    """A copy of ``host`` after it took the request (upstream consume_from_request)."""
    return replace(host, vcpus_used=host.vcpus_used + spec.vcpus,
                   memory_mb_used=host.memory_mb_used + spec.memory_mb,
                   disk_gb_used=host.disk_gb_used + spec.disk_gb,
                   num_instances=host.num_instances + 1,
                   instance_uuids=(host.instance_uuids | {spec.instance_uuid}
                                   if spec.instance_uuid else set(host.instance_uuids)))


def _decide(spec, hosts, conf) -> Decision:
    survivors, frecs = run_filters(spec, hosts, conf)
    ranked, wrecs = weigh_hosts(spec, survivors, conf)
    selected = ranked[0].name if ranked else None
    message = None if ranked else explain_failure(len(hosts), frecs)
    return Decision(hosts_considered=len(hosts), filters=frecs, weights=wrecs,
                    selected=selected, alternates=[], message=message,
                    instance_uuid=spec.instance_uuid, _ranked=ranked)


def _alternates(d: Decision, taken: set[str], conf: SchedulerConfig) -> list[str]:
    """Next best survivors: not selected for any instance of this request (their capacity is
    already spoken for), from the selected host's zone when alternates_same_az."""
    if not d._ranked:
        return []
    want = max(conf.max_attempts - 1, 0)
    az = d._ranked[0].availability_zone if conf.alternates_same_az else None
    alts = []
    for h in d._ranked[1:]:
        if len(alts) >= want:
            break
        if h.name not in taken and (az is None or h.availability_zone == az):
            alts.append(h.name)
    return alts


def select_destinations(spec: RequestSpec, hosts: list[HostState], conf: SchedulerConfig,
                        num_instances: int = 1,
                        instance_uuids: list[str] | None = None) -> list[Decision]:
    """One Decision per instance (see the module docstring). ``instance_uuids`` names the
    instances of a multi-create; by default the first is spec.instance_uuid and the others
    are recorded as None."""
    if num_instances < 1:
        raise ValueError("num_instances must be at least 1")
    if instance_uuids is not None and len(instance_uuids) != num_instances:
        raise ValueError("instance_uuids must name exactly num_instances instances")
    uuids = instance_uuids or [spec.instance_uuid] + [None] * (num_instances - 1)
    if num_instances == 1:
        d = _decide(spec, hosts, conf)
        d.alternates = _alternates(d, {d.selected}, conf)
        return [d]

    work = list(hosts)                       # our own list: slots get consumed copies
    where = {h.name: i for i, h in enumerate(work)}
    decisions, placed = [], 0
    for i in range(num_instances):
        spec_i = replace(spec, instance_uuid=uuids[i])
        d = _decide(spec_i, work, conf)
        if d.ok:
            placed += 1
            j = where[d.selected]
            work[j] = consume(work[j], spec_i)
            if spec.group_policy:
                spec = replace(spec, group_hosts=spec.group_hosts | {d.selected})
        elif placed:
            d.message = d.message.replace(
                "No valid host was found:",
                f"No valid host was found for instance {i + 1} of {num_instances} "
                f"(after placing {placed}):", 1)
        decisions.append(d)
    taken = {d.selected for d in decisions if d.ok}
    for d in decisions:
        d.alternates = _alternates(d, taken, conf)
    return decisions


def select_destination(spec: RequestSpec, hosts: list[HostState],
                       conf: SchedulerConfig) -> Decision:
    """The decision for one instance."""
    return select_destinations(spec, hosts, conf)[0]
