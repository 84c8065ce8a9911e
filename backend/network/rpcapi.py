"""The network service's client for compute (nova's network API towards neutron)."""
from __future__ import annotations

from backend.messaging.bus import RPCClient


class NetworkAPI(RPCClient):
    topic = "network"

    async def allocate_for_instance(self, ctx, instance_uuid, project_id, host, requested, zone="nova") -> list:
        """The instance's ports, made and bound to the host: its network_info."""
        return await self.bus.call(ctx, self.topic, "allocate_for_instance", instance_uuid=instance_uuid,
                                   project_id=project_id, host=host, requested=requested, zone=zone)

    async def deallocate_for_instance(self, ctx, instance_uuid) -> None:
        await self.bus.call(ctx, self.topic, "deallocate_for_instance", instance_uuid=instance_uuid)
