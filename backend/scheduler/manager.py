"""The scheduler service (topic 'scheduler'): reads host state from the database and
runs the filters and weighers of backend.scheduler.core."""
from __future__ import annotations

import time

from backend.core import db as dbm
from backend.core import servicegroup
from backend.messaging.trace import Step

from .core import HostState, RequestSpec, SchedulerConfig, select_destinations


class SchedulerManager:
    def __init__(self, db, tracer, config):
        self.db = db
        self.tracer = tracer
        self.config = config
        self.conf = SchedulerConfig.from_config(config)

    def host_states(self) -> list[HostState]:
        now = time.time()
        out = []
        for n in dbm.rows(self.db, "SELECT host, availability_zone, last_heartbeat, down_reason, disabled,"
                                   " disabled_reason, vcpus, memory_mb, disk_gb, vcpus_used, memory_mb_used,"
                                   " disk_gb_used, running_vms, failed_builds, hypervisor_type, cpu_arch"
                                   " FROM compute_nodes WHERE configured=1 ORDER BY host"):
            reason = servicegroup.down_reason(n, self.config, now)
            out.append(HostState(
                name=n["host"], availability_zone=n["availability_zone"], up=reason is None, enabled=not n["disabled"],
                down_reason=n["disabled_reason"] if n["disabled"] else reason,
                vcpus=n["vcpus"], memory_mb=n["memory_mb"], disk_gb=n["disk_gb"],
                vcpus_used=n["vcpus_used"], memory_mb_used=n["memory_mb_used"], disk_gb_used=n["disk_gb_used"],
                num_instances=n["running_vms"], failed_builds=n["failed_builds"],
                hypervisor_type=n["hypervisor_type"] or "qemu", cpu_arch=n["cpu_arch"] or "x86_64"))
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
        async with Step(self.tracer, ctx, "scheduler", "filter and weigh", instance_uuids[0]):
            decisions = select_destinations(spec, self.host_states(), self.conf, len(instance_uuids),
                                            list(instance_uuids))
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
