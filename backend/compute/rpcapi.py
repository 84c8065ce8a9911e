"""The compute hosts' client (nova's compute/rpcapi.py): every message goes to the topic of
one host, compute.<host>. Casts for the long actions, calls where an answer is needed."""
from __future__ import annotations

from backend.messaging.bus import RPCClient


def topic_of(host: str) -> str:
    return f"compute.{host}"


class ComputeAPI(RPCClient):
    def has_host(self, host: str) -> bool:
        """Whether a compute manager serves the host (it is in hosts.yaml)."""
        return self.bus.has_topic(topic_of(host))

    def build_and_run_instance(self, ctx, host, instance_uuid, alternates, attempt=1, undelivered=None) -> None:
        """undelivered(why): no process of the host took the build (see Bus.cast)."""
        self.bus.cast(ctx, topic_of(host), "build_and_run_instance", undelivered=undelivered,
                      instance_uuid=instance_uuid, alternates=alternates, attempt=attempt)

    async def cleanup_build(self, ctx, host, instance_uuid) -> None:
        """Remove what a cut build made on the host (its guest above all): recovery's, when the
        host is served by another process."""
        await self.bus.call(ctx, topic_of(host), "cleanup_build", timeout=120, instance_uuid=instance_uuid)

    def terminate_instance(self, ctx, host, instance_uuid) -> None:
        self.bus.cast(ctx, topic_of(host), "terminate_instance", instance_uuid=instance_uuid)

    def stop_instance(self, ctx, host, instance_uuid) -> None:
        self.bus.cast(ctx, topic_of(host), "stop_instance", instance_uuid=instance_uuid)

    def start_instance(self, ctx, host, instance_uuid) -> None:
        self.bus.cast(ctx, topic_of(host), "start_instance", instance_uuid=instance_uuid)

    def reboot_instance(self, ctx, host, instance_uuid, reboot_type) -> None:
        self.bus.cast(ctx, topic_of(host), "reboot_instance", instance_uuid=instance_uuid,
                      reboot_type=reboot_type)

    def pause_instance(self, ctx, host, instance_uuid) -> None:
        self.bus.cast(ctx, topic_of(host), "pause_instance", instance_uuid=instance_uuid)

    def unpause_instance(self, ctx, host, instance_uuid) -> None:
        self.bus.cast(ctx, topic_of(host), "unpause_instance", instance_uuid=instance_uuid)

    def suspend_instance(self, ctx, host, instance_uuid) -> None:
        self.bus.cast(ctx, topic_of(host), "suspend_instance", instance_uuid=instance_uuid)

    def resume_instance(self, ctx, host, instance_uuid) -> None:
        self.bus.cast(ctx, topic_of(host), "resume_instance", instance_uuid=instance_uuid)

    def rebuild_instance(self, ctx, host, instance_uuid, image_id, root_volume, volumes) -> None:
        self.bus.cast(ctx, topic_of(host), "rebuild_instance", instance_uuid=instance_uuid, image_id=image_id,
                      root_volume=root_volume, volumes=volumes)

    async def get_console_output(self, ctx, host, instance_uuid, length=None) -> str:
        return await self.bus.call(ctx, topic_of(host), "get_console_output", timeout=30,
                                   instance_uuid=instance_uuid, length=length)

    async def get_serial_console(self, ctx, host, instance_uuid) -> dict:
        return await self.bus.call(ctx, topic_of(host), "get_serial_console", timeout=30,
                                   instance_uuid=instance_uuid)

    async def open_serial_relay(self, ctx, host, instance_uuid, holder) -> dict:
        """A cluster: the owning compute process relays the console (backend/compute/console_relay.py)."""
        return await self.bus.call(ctx, topic_of(host), "open_serial_relay", timeout=30,
                                   instance_uuid=instance_uuid, holder=holder)

    async def attach_volume(self, ctx, host, instance_uuid, volume_id, size_gb, device, create,
                            image_id=None) -> None:
        await self.bus.call(ctx, topic_of(host), "attach_volume", timeout=120, instance_uuid=instance_uuid,
                            volume_id=volume_id, size_gb=size_gb, device=device, create=create,
                            image_id=image_id)

    async def detach_volume(self, ctx, host, instance_uuid, volume_id) -> None:
        await self.bus.call(ctx, topic_of(host), "detach_volume", timeout=60, instance_uuid=instance_uuid,
                            volume_id=volume_id)

    async def delete_volume_backing(self, ctx, host, volume_id) -> None:
        await self.bus.call(ctx, topic_of(host), "delete_volume_backing", timeout=60, volume_id=volume_id)

    def external_instance_event(self, ctx, host, instance_uuid, name, tag) -> None:
        """nova's os-server-external-events towards the host (network-vif-plugged)."""
        self.bus.cast(ctx, topic_of(host), "external_instance_event", instance_uuid=instance_uuid,
                      name=name, tag=tag)

    def update_network_peers(self, ctx, host, network_id, segmentation_id, peers, seq) -> None:
        """l2population: the host's flooding list of the network becomes peers (newest seq wins)."""
        self.bus.cast(ctx, topic_of(host), "update_network_peers", network_id=network_id,
                      segmentation_id=segmentation_id, peers=peers, seq=seq)
