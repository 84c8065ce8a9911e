"""The network service's client for compute (nova's network API towards neutron)."""
from __future__ import annotations

from backend.messaging.bus import RPCClient


class NetworkAPI(RPCClient):
    topic = "network"

    async def allocate_for_instance(self, ctx, instance_uuid, project_id, host, requested, zone="nova",
                                    vif_type="other", vtep=None) -> list:
        """The instance's ports, made and bound to the host: its network_info."""
        return await self.bus.call(ctx, self.topic, "allocate_for_instance", instance_uuid=instance_uuid,
                                   project_id=project_id, host=host, requested=requested, zone=zone,
                                   vif_type=vif_type, vtep=vtep)

    async def get_instance_nw_info(self, ctx, instance_uuid) -> list:
        return await self.bus.call(ctx, self.topic, "get_instance_nw_info", instance_uuid=instance_uuid)

    async def update_device_up(self, ctx, instance_uuid, host, port_ids) -> None:
        """The host wired the ports: ACTIVE, and network-vif-plugged comes back to the host."""
        await self.bus.call(ctx, self.topic, "update_device_up", instance_uuid=instance_uuid, host=host,
                            port_ids=port_ids)

    async def deallocate_for_instance(self, ctx, instance_uuid, host=None) -> None:
        """host: only the ports bound to that host (a failed attempt's)."""
        await self.bus.call(ctx, self.topic, "deallocate_for_instance", instance_uuid=instance_uuid, host=host)
