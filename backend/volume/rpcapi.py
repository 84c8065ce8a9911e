"""The volume service's client for compute (nova's volume API towards cinder)."""
from __future__ import annotations

from backend.messaging.bus import RPCClient


class VolumeAPI(RPCClient):
    topic = "volume"

    async def create_boot_volume(self, ctx, instance_uuid, project_id, size, image_id, host) -> str:
        return await self.bus.call(ctx, self.topic, "create_boot_volume", instance_uuid=instance_uuid,
                                   project_id=project_id, size=size, image_id=image_id, host=host)

    async def mark_attached(self, ctx, volume_id, instance_uuid, device, host) -> None:
        await self.bus.call(ctx, self.topic, "mark_attached", volume_id=volume_id, instance_uuid=instance_uuid,
                            device=device, host=host)

    async def release_for_instance(self, ctx, instance_uuid, host=None) -> list[str]:
        """Delete-on-termination volumes go, others detach: the ids whose backing files go.
        host: only the volumes on that host or on none yet (a failed attempt's)."""
        return await self.bus.call(ctx, self.topic, "release_for_instance", instance_uuid=instance_uuid,
                                   host=host)
