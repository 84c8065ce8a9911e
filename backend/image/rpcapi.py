"""The image service's client for compute (nova's image API towards glance)."""
from __future__ import annotations

from backend.messaging.bus import RPCClient


class ImageAPI(RPCClient):
    topic = "image"

    async def get_image_file(self, ctx, image_id, instance_uuid=None) -> dict:
        """Where the image's data is and what it is: ImageFile's fields plus 'properties'."""
        return await self.bus.call(ctx, self.topic, "get_image_file", image_id=image_id,
                                   instance_uuid=instance_uuid)
