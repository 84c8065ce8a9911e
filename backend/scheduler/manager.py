"""The scheduler service (topic 'scheduler'): reads host state from the database and
runs the filters and weighers of backend.scheduler.core."""
from __future__ import annotations

import time

from backend.core import db as dbm
from backend.core import servicegroup
from backend.messaging.trace import Step

from .core import HostState, RequestSpec, SchedulerConfig, select_destinations


# the heartbeat last: the rest of the row is what a cached HostState was built from
_HOSTS = ("SELECT host, availability_zone, down_reason, disabled, disabled_reason, vcpus, memory_mb, disk_gb,"
          " vcpus_used, memory_mb_used, disk_gb_used, running_vms, failed_builds, hypervisor_type, cpu_arch,"
          " last_heartbeat FROM compute_nodes WHERE configured=1 ORDER BY host")


class SchedulerManager:
    def __init__(self, db, tracer, config):
        self.db = db
        self.tracer = tracer
        self.config = config
        self.conf = SchedulerConfig.from_config(config)
        # host -> (its row but the heartbeat, its down reason, its HostState): see host_states
        self._states: dict[str, tuple] = {}

    def host_states(self) -> list[HostState]:
        """Every configured host, read for each decision (a claim elsewhere, a heartbeat gone
        stale, a disabled host must all count at once). The rows are read as tuples and a
        host's HostState is built again only when its row (or its up/down state) changed:
        at 2,000 hosts building them all was most of a decision's time."""
        now = time.time()
        out, cache = [], {}
        for r in self.db.conn.execute(_HOSTS).fetchall():
            key, reason = r[:-1], servicegroup.host_down_reason(r[2], r[-1], self.config, now)
            hit = self._states.get(r[0])
            if hit is None or hit[1] != reason or hit[0] != key:
                hit = (key, reason, HostState(
                    name=r[0], availability_zone=r[1], up=reason is None, enabled=not r[3],
                    down_reason=r[4] if r[3] else reason, vcpus=r[5], memory_mb=r[6], disk_gb=r[7],
                    vcpus_used=r[8], memory_mb_used=r[9], disk_gb_used=r[10], num_instances=r[11],
                    failed_builds=r[12], hypervisor_type=r[13] or "qemu", cpu_arch=r[14] or "x86_64"))
            cache[r[0]] = hit
            out.append(hit[2])
        self._states = cache
        return out

    async def select_destinations(self, ctx, instance_uuids, request_spec, instance_uuid=None):
        rs = dict(request_spec)
        spec = RequestSpec(instance_uuid=instance_uuids[0], vcpus=rs["vcpus"], memory_mb=rs["memory_mb"],
                           disk_gb=rs["disk_gb"], availability_zone=rs.get("availability_zone"),
                           image_properties=rs.get("image_properties") or {},
                           group_policy=rs.get("group_policy"),
                           group_hosts=set(self._group_hosts(rs.get("group_id"))),
                           ignore_hosts=set(rs.get("ignore_hosts") or ()),
                           same_host_hosts=self._hint_hosts(rs.get("same_host")),
                           different_host_hosts=self._hint_hosts(rs.get("different_host")))
        async with Step(self.tracer, ctx, "scheduler", "filter and weigh", instance_uuids[0]) as step:
            cpu = time.thread_time()
            hosts = self.host_states()
            decisions = select_destinations(spec, hosts, self.conf, len(instance_uuids), list(instance_uuids))
            # the CPU it took besides the wall time the step records: on a busy machine they differ
            step.detail = f"{len(hosts)} hosts, {(time.thread_time() - cpu) * 1000:.2f} ms CPU"
        out = [dict(d.to_dict(max_weights=20), requested={"vcpus": spec.vcpus, "memory_mb": spec.memory_mb,
                                            "disk_gb": spec.disk_gb,
                                            "availability_zone": spec.availability_zone})
               for d in decisions]
        if any(not d["selected"] for d in out):  # all or nothing, as upstream
            why = next(d["message"] for d in out if not d["selected"])
            for d in out:
                if d["selected"]:
                    d["message"] = f"another instance of the same request could not be placed: {why}"
                    d["alternates"], d["selected"] = [], None
            return out
        # Claim at once, as placement does: from reading host state to here nothing awaited,
        # so concurrent requests never pick the same last slot.
        with dbm.transaction(self.db):
            for u, d in zip(instance_uuids, out):
                dbm.put_claim(self.db, u, d["selected"], spec.vcpus, spec.memory_mb, spec.disk_gb)
        return out

    def _group_hosts(self, group_id):
        if not group_id:
            return []
        return [r["host"] for r in dbm.rows(self.db, "SELECT DISTINCT host FROM instances WHERE server_group_id=?"
                                                     " AND deleted=0 AND host IS NOT NULL", (group_id,))]

    def _hint_hosts(self, uuids):
        """The hosts of the instances a same_host/different_host hint names (None: no hint)."""
        if not uuids:
            return None
        marks = ",".join("?" * len(uuids))
        return {r["host"] for r in dbm.rows(self.db, f"SELECT DISTINCT host FROM instances WHERE uuid IN ({marks})"
                                                     " AND deleted=0 AND host IS NOT NULL", tuple(uuids))}
