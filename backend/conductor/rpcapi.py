"""The conductor's client (nova's conductor/rpcapi.py): the build orchestration for the
compute API and recovery, and compute's only path to the database. Casts return at once;
calls wait for the reply."""
from __future__ import annotations

from backend.messaging.bus import RPCClient

ANY = "__any__"  # instance_update without a task_state check


class ConductorAPI(RPCClient):
    topic = "conductor"

    # ---- build orchestration (casts) --------------------------------------------------------
    def build_instances(self, ctx, instance_uuids, request_spec, instance_uuid=None) -> None:
        self.bus.cast(ctx, self.topic, "build_instances", instance_uuids=instance_uuids,
                      request_spec=request_spec, instance_uuid=instance_uuid)

    def build_failed(self, ctx, instance_uuid, host, reason, reschedulable, alternates, attempt=None) -> None:
        """attempt: the number the failed build's cast carried (a second copy is told by it)."""
        self.bus.cast(ctx, self.topic, "build_failed", instance_uuid=instance_uuid, host=host, reason=reason,
                      reschedulable=reschedulable, alternates=alternates, attempt=attempt)

    async def build_aborted(self, ctx, instance_uuid) -> None:
        await self.bus.call(ctx, self.topic, "build_aborted", instance_uuid=instance_uuid)

    # ---- compute's database access (calls) --------------------------------------------------
    async def instance_update(self, ctx, instance_uuid, expected_task_state=ANY, **values) -> dict:
        """LookupError when the instance is gone or not in expected_task_state."""
        return await self.bus.call(ctx, self.topic, "instance_update", instance_uuid=instance_uuid,
                                   expected_task_state=expected_task_state, **values)

    async def instance_get(self, ctx, instance_uuid) -> dict | None:
        return await self.bus.call(ctx, self.topic, "instance_get", instance_uuid=instance_uuid)

    async def end_task(self, ctx, instance_uuid, tasks=None, **values) -> None:
        """tasks: the task_states the action may have left (another is a later action's)."""
        await self.bus.call(ctx, self.topic, "end_task", instance_uuid=instance_uuid, tasks=tasks, **values)

    async def instance_claim(self, ctx, instance_uuid, host, build_event=None, claim_event=None, updates=(),
                             start=None, attempt=None) -> dict:
        """The claim; build_event started and claim_event started and finished in the same trip,
        then (as build_progress) the state changes of updates made and start's event begun.
        attempt: the number the build's cast carried. {'stale': why} or {'cut': why} for a
        second copy of a build (ConductorManager._build_again)."""
        return await self.bus.call(ctx, self.topic, "instance_claim", instance_uuid=instance_uuid, host=host,
                                   build_event=build_event, claim_event=claim_event, updates=list(updates),
                                   start=start, attempt=attempt)

    async def build_progress(self, ctx, instance_uuid, finish=None, updates=(), start=None, host=None,
                             finish_after=None, passed=()) -> None:
        """Between two build stages, one trip: finish's event ends, the events of passed (stages
        with nothing to do) start and end, updates ({'expected_task_state': ..., **values} each,
        LookupError on a mismatch) are made in order, start's event begins."""
        await self.bus.call(ctx, self.topic, "build_progress", instance_uuid=instance_uuid, finish=finish,
                            updates=list(updates), start=start, host=host, finish_after=finish_after,
                            passed=list(passed))

    async def instance_release(self, ctx, instance_uuid, host=None) -> None:
        """The instance's claims; only its claim on host when host is given."""
        await self.bus.call(ctx, self.topic, "instance_release", instance_uuid=instance_uuid, host=host)

    async def instance_destroyed(self, ctx, instance_uuid) -> None:
        await self.bus.call(ctx, self.topic, "instance_destroyed", instance_uuid=instance_uuid)

    async def instance_error(self, ctx, instance_uuid, host, message) -> None:
        await self.bus.call(ctx, self.topic, "instance_error", instance_uuid=instance_uuid, host=host,
                            message=message)

    async def instance_fault(self, ctx, instance_uuid, host, message) -> None:
        await self.bus.call(ctx, self.topic, "instance_fault", instance_uuid=instance_uuid, host=host,
                            message=message)

    async def event_start(self, ctx, instance_uuid, event, host=None) -> None:
        await self.bus.call(ctx, self.topic, "event_start", instance_uuid=instance_uuid, event=event, host=host)

    async def event_finish(self, ctx, instance_uuid, event, result="Success", details=None) -> None:
        await self.bus.call(ctx, self.topic, "event_finish", instance_uuid=instance_uuid, event=event,
                            result=result, details=details)

    async def instances_on_host(self, ctx, host) -> list[dict]:
        return await self.bus.call(ctx, self.topic, "instances_on_host", host=host)

    async def live_uuids_on_host(self, ctx, host) -> list[str]:
        return await self.bus.call(ctx, self.topic, "live_uuids_on_host", host=host)

    async def guest_specs_for_host(self, ctx, host) -> list[dict]:
        return await self.bus.call(ctx, self.topic, "guest_specs_for_host", host=host)

    async def power_state_changed(self, ctx, instance_uuid, host, old, new, vm_state) -> None:
        await self.bus.call(ctx, self.topic, "power_state_changed", instance_uuid=instance_uuid, host=host,
                            old=old, new=new, vm_state=vm_state)

    async def service_heartbeat(self, ctx, host, up, reason=None, caps=None) -> None:
        await self.bus.call(ctx, self.topic, "service_heartbeat", host=host, up=up, reason=reason, caps=caps)

    async def service_heartbeats(self, ctx, reports: list[dict]) -> None:
        """A compute process's hosts' reports ({host, up, reason, caps} each) in one message."""
        await self.bus.call(ctx, self.topic, "service_heartbeats", reports=reports)

    async def instances_on_hosts(self, ctx, hosts: list[str]) -> dict[str, list[dict]]:
        return await self.bus.call(ctx, self.topic, "instances_on_hosts", hosts=hosts)

    async def guest_specs_for_hosts(self, ctx, hosts: list[str]) -> dict[str, list[dict]]:
        return await self.bus.call(ctx, self.topic, "guest_specs_for_hosts", hosts=hosts)
