"""The scheduler's client (nova's scheduler/rpcapi.py): the conductor asks where to build."""
from __future__ import annotations

from backend.messaging.bus import RPCClient


class SchedulerAPI(RPCClient):
    topic = "scheduler"

    async def select_destinations(self, ctx, instance_uuids, request_spec, instance_uuid=None) -> list[dict]:
        """One decision per instance, in order: {'selected', 'alternates', 'message', ...}."""
        return await self.bus.call(ctx, self.topic, "select_destinations", instance_uuids=instance_uuids,
                                   request_spec=request_spec, instance_uuid=instance_uuid)
