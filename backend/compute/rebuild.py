"""The compute host's side of the power actions (stop/start/reboot, pause/unpause,
suspend/resume) and rebuild (nova's ComputeManager.stop_instance ... rebuild_instance).

Rebuild is the same instance booted again from its new image: the guest is destroyed (its
ports, volumes and claim stay), the task_state goes rebuilding -> rebuild_block_device_mapping
-> rebuild_spawning as nova's, the guest is spawned from the image (a volume-backed server
from its boot volume), its data volumes are attached again, and a server that was stopped is
powered off again. A failure leaves the instance in error with a fault, as nova's."""
from __future__ import annotations

import json
import logging

from backend.core import power_state, states
from backend.messaging.trace import Step
from backend.virt.driver import GuestSpec, ImageFile

log = logging.getLogger("backend.compute.manager")
REBUILD_EVENT = "compute_rebuild_instance"  # upstream's event name


class ServerActionsManager:
    """A part of ComputeManager: self.driver, conductor_api, image_api, network_api, tracer,
    host, _lock and replug_vifs are its."""

    async def _power_action(self, ctx, uuid, event, action, done: dict, task, steps=()):
        """task: the task_state the API set for the action; steps: (expected, next) task_states
        walked before the action. A copy of the cast delivered again (the host's process died
        before its ack) finds the instance past them: done, or a later action begun, which it
        must not undo. One the first copy left in a step goes on from that step."""
        async with self._lock(uuid):
            r = await self.conductor_api.instance_get(ctx, instance_uuid=uuid)
            walk = [task] + [nxt for _, nxt in steps]
            if r is None or r["deleted"] or r["task_state"] not in walk:
                log.info("%s of %s on %s not run: the instance is in task_state %s", event, uuid, self.host,
                         r and r["task_state"])
                return
            steps = list(steps)[walk.index(r["task_state"]):]
            await self.conductor_api.event_start(ctx, instance_uuid=uuid, event=event, host=self.host)
            try:
                for expected, nxt in steps:
                    await self.conductor_api.instance_update(ctx, instance_uuid=uuid, expected_task_state=expected,
                                                             task_state=nxt)
                await action()
                state = await self.driver.get_power_state(uuid)
            except Exception as e:
                await self.conductor_api.event_finish(ctx, instance_uuid=uuid, event=event, result="Error",
                                                      details=str(e))
                # as upstream: a failed power action leaves the vm_state and clears the task
                await self.conductor_api.end_task(ctx, instance_uuid=uuid, tasks=walk)
                await self.conductor_api.instance_fault(ctx, instance_uuid=uuid, host=self.host,
                                                        message=f"{event} failed: {e}")
                return
            await self.conductor_api.end_task(ctx, instance_uuid=uuid, tasks=walk, power_state=state, **done)
            await self.conductor_api.event_finish(ctx, instance_uuid=uuid, event=event)

    async def stop_instance(self, ctx, instance_uuid):
        await self._power_action(ctx, instance_uuid, "compute_stop_instance",
                                 lambda: self.driver.power_off(instance_uuid), {"vm_state": states.STOPPED},
                                 states.POWERING_OFF)

    async def start_instance(self, ctx, instance_uuid):
        async def start():
            await self.replug_vifs(ctx, instance_uuid)
            await self.driver.power_on(instance_uuid)
        await self._power_action(ctx, instance_uuid, "compute_start_instance", start, {"vm_state": states.ACTIVE},
                                 states.POWERING_ON)

    async def reboot_instance(self, ctx, instance_uuid, reboot_type):
        hard = reboot_type == "HARD"
        steps = ([(states.REBOOTING_HARD, states.REBOOT_PENDING_HARD),
                  (states.REBOOT_PENDING_HARD, states.REBOOT_STARTED_HARD)] if hard else
                 [(states.REBOOTING, states.REBOOT_PENDING), (states.REBOOT_PENDING, states.REBOOT_STARTED)])
        async def reboot():
            await self.replug_vifs(ctx, instance_uuid)
            await self.driver.reboot(instance_uuid, reboot_type)
        await self._power_action(ctx, instance_uuid, "compute_reboot_instance", reboot,
                                 {"vm_state": states.ACTIVE}, states.REBOOTING_HARD if hard else states.REBOOTING,
                                 steps)

    async def pause_instance(self, ctx, instance_uuid):
        await self._power_action(ctx, instance_uuid, "compute_pause_instance",
                                 lambda: self.driver.pause(instance_uuid), {"vm_state": states.PAUSED},
                                 states.PAUSING)

    async def unpause_instance(self, ctx, instance_uuid):
        await self._power_action(ctx, instance_uuid, "compute_unpause_instance",
                                 lambda: self.driver.unpause(instance_uuid), {"vm_state": states.ACTIVE},
                                 states.UNPAUSING)

    async def suspend_instance(self, ctx, instance_uuid):
        await self._power_action(ctx, instance_uuid, "compute_suspend_instance",
                                 lambda: self.driver.suspend(instance_uuid), {"vm_state": states.SUSPENDED},
                                 states.SUSPENDING)

    async def resume_instance(self, ctx, instance_uuid):
        async def resume():
            await self.replug_vifs(ctx, instance_uuid)
            await self.driver.resume(instance_uuid)
        await self._power_action(ctx, instance_uuid, "compute_resume_instance", resume, {"vm_state": states.ACTIVE},
                                 states.RESUMING)

    async def _image_files(self, ctx, uuid, image_id):
        """(image, kernel, ramdisk, properties) of a boot image, as the build fetches them."""
        f = await self.image_api.get_image_file(ctx, image_id=image_id, instance_uuid=uuid)
        props = f.pop("properties")
        parts = {}
        for prop in ("kernel_id", "ramdisk_id"):
            if props.get(prop):
                k = await self.image_api.get_image_file(ctx, image_id=props[prop], instance_uuid=uuid)
                k.pop("properties")
                parts[prop] = ImageFile(**k)
        return ImageFile(**f), parts.get("kernel_id"), parts.get("ramdisk_id"), props

    async def rebuild_instance(self, ctx, instance_uuid, image_id, root_volume=None, volumes=()):
        uuid = instance_uuid
        async with self._lock(uuid):
            await self.conductor_api.event_start(ctx, instance_uuid=uuid, event=REBUILD_EVENT, host=self.host)
            try:
                async with Step(self.tracer, ctx, "compute", "rebuild", uuid, detail=self.host):
                    await self._rebuild(ctx, uuid, image_id, root_volume, volumes)
            except LookupError as e:  # deleted meanwhile: the delete owns the instance now
                await self.conductor_api.event_finish(ctx, instance_uuid=uuid, event=REBUILD_EVENT,
                                                      result="Error", details=str(e))
                return
            except Exception as e:
                await self.conductor_api.event_finish(ctx, instance_uuid=uuid, event=REBUILD_EVENT,
                                                      result="Error", details=f"{type(e).__name__}: {e}")
                await self.conductor_api.instance_error(ctx, instance_uuid=uuid, host=self.host,
                                                        message=f"rebuild failed on {self.host}: {e}")
                return
            await self.conductor_api.event_finish(ctx, instance_uuid=uuid, event=REBUILD_EVENT)

    async def _rebuild(self, ctx, uuid, image_id, root_volume, volumes):
        update = self.conductor_api.instance_update
        inst = await update(ctx, instance_uuid=uuid, expected_task_state=states.REBUILDING,
                            task_state=states.REBUILD_BLOCK_DEVICE_MAPPING)
        was_stopped = inst["vm_state"] == states.STOPPED
        async with Step(self.tracer, ctx, "hypervisor", "destroy", uuid, detail=self.host):
            await self.driver.destroy(uuid)
        image = kernel = ramdisk = None
        props = {}
        if root_volume is None:
            async with Step(self.tracer, ctx, "image", "fetch image", uuid):
                image, kernel, ramdisk, props = await self._image_files(ctx, uuid, image_id)
        await update(ctx, instance_uuid=uuid, expected_task_state=states.REBUILD_BLOCK_DEVICE_MAPPING,
                     task_state=states.REBUILD_SPAWNING)
        nw = await self.network_api.get_instance_nw_info(ctx, instance_uuid=uuid)
        spec = GuestSpec(uuid=uuid, name=inst["name"], hostname=inst["hostname"], project_id=inst["project_id"],
                         availability_zone=inst["availability_zone"], vcpus=inst["vcpus"],
                         memory_mb=inst["memory_mb"], root_gb=inst["root_gb"], image=image, kernel=kernel,
                         ramdisk=ramdisk, kernel_cmdline=props.get("os_command_line"), network_info=nw,
                         root_volume=root_volume, metadata=json.loads(inst.get("metadata") or "{}"),
                         public_keys={inst["key_name"]: inst["key_data"]} if inst.get("key_data") else {},
                         user_data=inst.get("user_data"))
        await self.replug_vifs(ctx, uuid)
        async with Step(self.tracer, ctx, "hypervisor", "spawn", uuid, detail=self.host):
            await self.driver.spawn(spec)
        for v in volumes:
            await self.driver.attach_volume(uuid, v["volume_id"], v["device"])
        if was_stopped:  # nova: a stopped server is rebuilt and left stopped
            await self.driver.power_off(uuid)
        state = await self.driver.get_power_state(uuid)
        await update(ctx, instance_uuid=uuid, expected_task_state=states.REBUILD_SPAWNING, task_state=None,
                     vm_state=states.STOPPED if was_stopped else states.ACTIVE,
                     power_state=state if state != power_state.NOSTATE else power_state.RUNNING, launched=True)
