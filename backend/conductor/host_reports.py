"""The conductor's side of the compute hosts' reports (mixed into ConductorManager): a
heartbeat per host, or a process's reports in one message (backend.compute.host_reports),
the per-host reads of start-up and the power-state sync, for many hosts at once, and what
the power-state sync found (power_state_changed)."""
from __future__ import annotations

import time

from backend.core import db as dbm
from backend.core import power_state, states
from backend.virt.driver import GuestSpec

# hosts per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
_IN = 500


def _parts(hosts):
    hosts = list(hosts)
    for i in range(0, len(hosts), _IN):
        part = hosts[i:i + _IN]
        yield part, ",".join("?" * len(part))


class HostReports:
    """Needs self.db, self.hub, self.store, self.compute_rpcapi."""

    async def service_heartbeat(self, ctx, host, up, reason=None, caps=None):
        await self.service_heartbeats(ctx, [{"host": host, "up": up, "reason": reason, "caps": caps}])

    async def service_heartbeats(self, ctx, reports):
        """Each report: {host, up, reason, caps}. One transaction; a host whose state did not
        change (up again, no new capabilities) costs one row of an executemany, and only a
        change (up/down, a reason, capabilities) is published as a host event."""
        now = time.time()
        before = {}
        for part, marks in _parts(r["host"] for r in reports):
            for b in dbm.rows(self.db, f"SELECT host, down_reason, last_heartbeat FROM compute_nodes"
                                       f" WHERE host IN ({marks})", tuple(part)):
                before[b["host"]] = b
        plain, changed = [], []
        for r in reports:
            b = before.get(r["host"])
            if (r["up"] and not r.get("caps") and b is not None and b["down_reason"] is None
                    and b["last_heartbeat"] is not None):
                plain.append((now, r["host"]))
            else:
                changed.append(r)
        with dbm.transaction(self.db):
            if plain:
                self.db.conn.executemany("UPDATE compute_nodes SET last_heartbeat=?, down_reason=NULL"
                                         " WHERE host=?", plain)
            for r in changed:
                values = {"down_reason": r.get("reason")}
                if r["up"]:
                    values["last_heartbeat"] = now
                caps = r.get("caps")
                if caps:
                    values.update({k: caps[k] for k in ("vcpus", "memory_mb", "disk_gb", "hypervisor_type",
                                                        "hypervisor_version", "cpu_arch", "accelerator")})
                dbm.update(self.db, "compute_nodes", r["host"], values)
        for r in changed:
            b = before.get(r["host"])
            if b is None or b["down_reason"] != r.get("reason") or r.get("caps") or b["last_heartbeat"] is None:
                self.hub.publish({"type": "host", "host": {"name": r["host"], "state": "up" if r["up"] else "down",
                                                           "down_reason": r.get("reason")}})

    async def instances_on_host(self, ctx, host):
        return dbm.rows(self.db, "SELECT uuid, vm_state, task_state, power_state FROM instances"
                                 " WHERE host=? AND deleted=0 AND vm_state IN ('active','stopped','error')", (host,))

    async def instances_on_hosts(self, ctx, hosts):
        """{host: [its non-deleted instances: uuid, vm_state, task_state, power_state]}."""
        out = {h: [] for h in hosts}
        for part, marks in _parts(hosts):
            for r in dbm.rows(self.db, f"SELECT host, uuid, vm_state, task_state, power_state FROM instances"
                                       f" WHERE host IN ({marks}) AND deleted=0", tuple(part)):
                out[r.pop("host")].append(r)
        return out

    async def live_uuids_on_host(self, ctx, host):
        return [r["uuid"] for r in dbm.rows(self.db, "SELECT uuid FROM instances WHERE host=? AND deleted=0",
                                            (host,))]

    async def guest_specs_for_host(self, ctx, host):
        return (await self.guest_specs_for_hosts(ctx, [host]))[host]

    async def guest_specs_for_hosts(self, ctx, hosts):
        """{host: the guests its driver should have (active or stopped instances)}."""
        out = {h: [] for h in hosts}
        for part, marks in _parts(hosts):
            for r in dbm.rows(self.db, f"SELECT * FROM instances WHERE host IN ({marks}) AND deleted=0 AND"
                                       " vm_state IN ('active','stopped')", tuple(part)):
                out[r["host"]].append(GuestSpec(
                    uuid=r["uuid"], name=r["name"], hostname=r["hostname"], project_id=r["project_id"],
                    availability_zone=r["availability_zone"] or "nova", vcpus=r["vcpus"],
                    memory_mb=r["memory_mb"], root_gb=r["root_gb"]).__dict__)
        return out

    async def power_state_changed(self, ctx, instance_uuid, host, old, new, vm_state):
        """nova's _sync_instance_power_state: a guest that stopped behind our back makes the
        instance stopped; one running while the instance is stopped is stopped again."""
        r = self.store.get(instance_uuid)
        if r is None or r["deleted"] or r["task_state"] is not None or r["host"] != host:
            return
        if (r["power_state"], r["vm_state"]) != (old, vm_state):  # synced since it was seen (a copy)
            return
        name = power_state.NAMES.get(new, str(new))
        if vm_state == states.ACTIVE and new in (power_state.SHUTDOWN, power_state.CRASHED, power_state.NOSTATE):
            self._sync_action(ctx, instance_uuid, host, f"power state sync: guest found {name}",
                              f"power_state {power_state.NAMES.get(old)} -> {name}; vm_state stopped")
            self.store.update(instance_uuid, power_state=new, vm_state=states.STOPPED)
        elif vm_state == states.STOPPED and new == power_state.RUNNING:
            self._sync_action(ctx, instance_uuid, host, "power state sync: guest found running while stopped",
                              "calling stop")
            self.store.update(instance_uuid, power_state=new, task_state=states.POWERING_OFF)
            self.compute_rpcapi.stop_instance(ctx, host, instance_uuid=instance_uuid)
        else:
            self.store.update(instance_uuid, power_state=new)

    def _sync_action(self, ctx, uuid, host, message, details):
        self.store.action_start(ctx, uuid, "stop", message)
        self.store.event_start(ctx, uuid, "compute__sync_power_states", host)
        self.store.event_finish(ctx, uuid, "compute__sync_power_states", "Success", details)
