"""The compute manager of one host: claims, the build states, power actions, delete,
heartbeats and the power-state sync. Everything it stores goes through the conductor
(its client, conductor_api); ports, volumes and images come from their services' clients."""
from __future__ import annotations

import asyncio
import json
import logging

from backend.core import power_state, states
from backend.conductor.rpcapi import ConductorAPI
from backend.core.context import RequestContext
from backend.image.rpcapi import ImageAPI
from backend.messaging.trace import Step
from backend.network.rpcapi import NetworkAPI
from backend.virt.driver import DriverError, GuestSpec, ImageFile, InstanceNotFound
from backend.compute.build_cleanup import BuildCleanup, StaleBuild
from backend.compute.serial_console import SerialConsoleManager
from backend.compute.vifs import VifManager
from backend.compute.rebuild import ServerActionsManager
from backend.volume.rpcapi import VolumeAPI

log = logging.getLogger(__name__)
BUILD_EVENT = "compute__do_build_and_run_instance"  # upstream's event name


class BuildAborted(Exception):
    """The instance was deleted while it was being built."""


class _Stage:
    """The build stage whose instance-action event is open at the conductor."""
    event: str | None = None


class ComputeManager(BuildCleanup, SerialConsoleManager, VifManager, ServerActionsManager):
    def __init__(self, host, driver, bus, tracer, config):
        self.host = host.name
        self.host_cfg = host
        self.driver = driver
        self.conductor_api = ConductorAPI(bus)
        self.network_api = NetworkAPI(bus)
        self.image_api = ImageAPI(bus)
        self.volume_api = VolumeAPI(bus)
        self.tracer = tracer
        self.config = config
        self.topic = f"compute.{self.host}"
        self._locks: dict[str, asyncio.Lock] = {}
        self.up = False
        self._stopping = False
        self._building: dict[str, asyncio.Task] = {}
        self._vif_init()

    # ---- plumbing -----------------------------------------------------------------------
    def _lock(self, uuid) -> asyncio.Lock:
        return self._locks.setdefault(uuid, asyncio.Lock())

    async def start(self) -> None:
        """This host alone: its first report and init_host. The periodic heartbeat and power
        sync of a process's hosts run batched (backend.compute.host_reports.HostReporter)."""
        ctx = RequestContext.system()
        await self.heartbeat(ctx)
        if self.up:
            known = await self.conductor_api.guest_specs_for_host(ctx, host=self.host)
            await self.init_host([GuestSpec(**k) for k in known])

    async def init_host(self, known: list[GuestSpec]) -> None:
        try:
            await self.driver.init_host(known)
        except Exception as e:
            log.warning("init_host on %s failed: %s", self.host, e)

    async def stop(self) -> None:
        self._stopping = True
        await self.driver.close()

    async def heartbeat(self, ctx) -> None:
        await self.conductor_api.service_heartbeat(ctx, **await self.check_host())

    async def check_host(self) -> dict:
        """Probe the host: its report for the conductor's service_heartbeat(s)."""
        reason, caps = None, None
        try:
            if await self.driver.is_alive():
                if not self.up:  # (re)discover capacity when the host (re)appears
                    caps = await self.driver.get_host_capabilities()
            else:
                reason = f"host {self.host} does not answer"
        except Exception as e:
            reason = f"host {self.host} unreachable: {e}"
        self.up = reason is None
        return {"host": self.host, "up": self.up, "reason": reason, "caps": caps.__dict__ if caps else None}

    # ---- build ----------------------------------------------------------------------------
    def abort_build(self, instance_uuid) -> bool:
        """Cancel a build that is still running here (the build timeout); its lock is freed."""
        task = self._building.get(instance_uuid)
        if task is not None and not task.done():
            task.cancel()
            return True
        return False

    async def build_and_run_instance(self, ctx, instance_uuid, alternates, attempt=1):
        self._building[instance_uuid] = asyncio.current_task()
        try:
            await self._build_and_run(ctx, instance_uuid, alternates, attempt)
        finally:
            self._building.pop(instance_uuid, None)

    async def _build_and_run(self, ctx, instance_uuid, alternates, attempt):
        async with self._lock(instance_uuid):
            try:  # the build's own event starts with the claim and ends with the last stage
                async with Step(self.tracer, ctx, "compute", "build", instance_uuid, detail=self.host):
                    await self._build(ctx, instance_uuid, attempt)
            except StaleBuild as e:  # nothing of it is this copy's: nothing to clean up
                log.warning("a build of %s delivered again to %s is not run: %s", instance_uuid, self.host, e)
            except BuildAborted:
                if await self._moved_away(ctx, instance_uuid):
                    # taken from this host (it was deemed lost): the conductor released the
                    # cloud's part and may be building it elsewhere; only this host's part goes
                    await self._cleanup_here(ctx, instance_uuid)
                    return
                await self._cleanup(ctx, instance_uuid)
                await self.conductor_api.event_finish(ctx, instance_uuid=instance_uuid, event=BUILD_EVENT,
                                                      result="Error", details="deleted during build")
                await self.conductor_api.build_aborted(ctx, instance_uuid=instance_uuid)
            except Exception as e:
                reason = f"{type(e).__name__}: {e}" if not isinstance(e, DriverError) else str(e)
                if getattr(e, "code", None) == 503 and await self._ended_active(ctx, instance_uuid):
                    return  # the last step's reply was lost with the broker, not the step
                log.info("build of %s on %s failed: %s", instance_uuid, self.host, reason)
                await self._cleanup(ctx, instance_uuid, here=True)
                await self.conductor_api.event_finish(ctx, instance_uuid=instance_uuid, event=BUILD_EVENT,
                                                      result="Error", details=reason)
                self.conductor_api.build_failed(ctx, instance_uuid=instance_uuid, host=self.host,
                                                reason=reason, reschedulable=getattr(e, "reschedulable", False),
                                                alternates=alternates, attempt=attempt)

    async def _set(self, ctx, uuid, expected, **values):
        """Save through the conductor; a mismatch of task_state means a delete came in."""
        try:
            return await self.conductor_api.instance_update(ctx, instance_uuid=uuid, expected_task_state=expected,
                                                            **values)
        except LookupError as e:
            raise BuildAborted(str(e)) from None

    async def _build(self, ctx, uuid, attempt=None):
        """The build's stages, each an instance-action event at the conductor. A failure
        inside a stage ends that stage's event as Error."""
        stage = _Stage()
        try:
            await self._build_stages(ctx, uuid, stage, attempt)
        except BaseException as e:
            if stage.event:
                await self.conductor_api.event_finish(ctx, instance_uuid=uuid, event=stage.event, result="Error",
                                                      details=f"{type(e).__name__}: {e}")
            raise

    async def _progress(self, ctx, uuid, stage, *updates, start=None, finish_after=None, passed=()):
        """One conductor round trip between two stages: the open stage's event ends, the
        state changes ((expected task_state, values), in order) are saved, the next
        stage's event starts. A task_state mismatch means a delete came in."""
        finish, stage.event = stage.event, None
        try:
            await self.conductor_api.build_progress(
                ctx, uuid, finish=finish, start=start, host=self.host, finish_after=finish_after, passed=passed,
                updates=[dict(values, expected_task_state=expected) for expected, values in updates])
        except LookupError as e:
            raise BuildAborted(str(e)) from None
        stage.event = start

    async def _build_stages(self, ctx, uuid, stage, attempt=None):
        # the claim's trip also leaves scheduling for networking, unless the driver waits in
        # scheduling once the claim is made (a build held there is seen, and recovered, in it)
        held = self.driver.build_stage_holds(states.SCHEDULING)
        to_networking = [(states.SCHEDULING, {"task_state": None}), (None, {"task_state": states.NETWORKING})]
        async with Step(self.tracer, ctx, "compute", "claim", uuid, detail=self.host):
            inst = await self.conductor_api.instance_claim(
                ctx, instance_uuid=uuid, host=self.host, build_event=BUILD_EVENT,
                claim_event="compute_claim_resources", start=None if held else "compute_allocate_network",
                updates=[] if held else [dict(v, expected_task_state=e) for e, v in to_networking],
                attempt=attempt)
        if inst.get("stale"):
            raise StaleBuild(inst["stale"])
        if inst.get("cut"):  # its first copy's process stopped mid-build: a failed attempt
            raise DriverError(inst["cut"], reschedulable=True)
        if inst.get("aborted"):
            raise BuildAborted(inst["aborted"])
        if not held:
            stage.event = "compute_allocate_network"
        await self.driver.build_stage_done(uuid, states.SCHEDULING)
        if held:
            await self._progress(ctx, uuid, stage, *to_networking, start="compute_allocate_network")
        none = inst["requested_networks"] == "none"
        async with Step(self.tracer, ctx, "network", "allocate ports", uuid, detail="networks: none" if none else None):
            # networks "none": nothing to ask of the network service (nova's no_allocate)
            nw = [] if none else await self.network_api.allocate_for_instance(
                ctx, instance_uuid=uuid, project_id=inst["project_id"], host=self.host,
                requested=inst["requested_networks"], zone=inst["availability_zone"],
                vif_type=self.driver.vif_type, vtep=self.host_cfg.vtep)
        await self.driver.build_stage_done(uuid, states.NETWORKING)
        bdm_event = "compute_block_device_mapping"
        await self._progress(ctx, uuid, stage, (states.NETWORKING, {"task_state": states.BLOCK_DEVICE_MAPPING}),
                             start="compute_fetch_image" if inst["image_id"] else bdm_event)
        image = kernel = ramdisk = None
        props = {}
        if inst["image_id"]:
            async with Step(self.tracer, ctx, "image", "fetch image", uuid):
                f = await self.image_api.get_image_file(ctx, image_id=inst["image_id"], instance_uuid=uuid)
                props = f.pop("properties")
                image = ImageFile(**f)
                for prop in ("kernel_id", "ramdisk_id"):
                    if props.get(prop):
                        k = await self.image_api.get_image_file(ctx, image_id=props[prop], instance_uuid=uuid)
                        k.pop("properties")
                        if prop == "kernel_id":
                            kernel = ImageFile(**k)
                        else:
                            ramdisk = ImageFile(**k)
            if inst["boot_volume_size"]:  # otherwise the stage has nothing to do: its event goes with the next trip
                await self._progress(ctx, uuid, stage, start=bdm_event)
        root_volume = None
        async with Step(self.tracer, ctx, "volume", "block device mapping", uuid):
            if inst["boot_volume_size"]:
                vid = await self.volume_api.create_boot_volume(
                    ctx, instance_uuid=uuid, project_id=inst["project_id"], size=inst["boot_volume_size"],
                    image_id=inst["image_id"], host=self.host)
                await self._set(ctx, uuid, states.BLOCK_DEVICE_MAPPING, boot_volume_id=vid)
                async with Step(self.tracer, ctx, "hypervisor", "create volume", uuid):
                    await self.driver.create_volume(vid, inst["boot_volume_size"], image)
                await self.volume_api.mark_attached(ctx, volume_id=vid, instance_uuid=uuid, device="/dev/vda",
                                                    host=self.host)
                root_volume = {"volume_id": vid, "size_gb": inst["boot_volume_size"]}
        await self.driver.build_stage_done(uuid, states.BLOCK_DEVICE_MAPPING)
        await self._progress(ctx, uuid, stage, (states.BLOCK_DEVICE_MAPPING, {"task_state": states.SPAWNING}),
                             start="compute_spawn",
                             passed=[bdm_event] if inst["image_id"] and not inst["boot_volume_size"] else [])
        spec = GuestSpec(uuid=uuid, name=inst["name"], hostname=inst["hostname"], project_id=inst["project_id"],
                         availability_zone=inst["availability_zone"], vcpus=inst["vcpus"],
                         memory_mb=inst["memory_mb"], root_gb=inst["root_gb"],
                         image=None if root_volume else image, kernel=kernel, ramdisk=ramdisk,
                         kernel_cmdline=props.get("os_command_line"), network_info=nw,
                         root_volume=root_volume, metadata=json.loads(inst.get("metadata") or "{}"),
                         public_keys={inst["key_name"]: inst["key_data"]} if inst.get("key_data") else {},
                         user_data=inst.get("user_data"))
        async with Step(self.tracer, ctx, "network", "plug vifs", uuid, detail=self.host):
            await self.plug_vifs(ctx, uuid, nw, wait=True)
        async with Step(self.tracer, ctx, "hypervisor", "spawn", uuid, detail=self.host):
            await self.driver.spawn(spec)
        await self._progress(ctx, uuid, stage, (states.SPAWNING, {"vm_state": states.ACTIVE, "task_state": None,
                                                                  "power_state": power_state.RUNNING,
                                                                  "launched": True}),
                             finish_after=BUILD_EVENT)

    # ---- delete and power actions ------------------------------------------------------------
    async def terminate_instance(self, ctx, instance_uuid):
        async with self._lock(instance_uuid):
            await self.conductor_api.event_start(ctx, instance_uuid=instance_uuid, event="compute_terminate_instance",
                                                 host=self.host)
            try:
                async with Step(self.tracer, ctx, "hypervisor", "destroy", instance_uuid):
                    await self.driver.destroy(instance_uuid)
            except Exception as e:
                await self.conductor_api.event_finish(ctx, instance_uuid=instance_uuid,
                                                      event="compute_terminate_instance", result="Error",
                                                      details=str(e))
                await self.conductor_api.instance_error(ctx, instance_uuid=instance_uuid, host=self.host,
                                                        message=f"delete failed on {self.host}: {e}")
                return
            await self._cleanup(ctx, instance_uuid)
            await self.conductor_api.event_finish(ctx, instance_uuid=instance_uuid, event="compute_terminate_instance")
            await self.conductor_api.instance_destroyed(ctx, instance_uuid=instance_uuid)
        self._locks.pop(instance_uuid, None)

    async def get_console_output(self, ctx, instance_uuid, length=None):
        try:
            return await self.driver.get_console_output(instance_uuid, length)
        except InstanceNotFound:
            return ""

    async def delete_volume_backing(self, ctx, volume_id):
        await self.driver.delete_volume(volume_id)

    async def attach_volume(self, ctx, instance_uuid, volume_id, size_gb, device, create, image_id=None):
        async with self._lock(instance_uuid):
            if create and await self.driver.is_volume_attached(instance_uuid, volume_id):
                # a copy of this call whose first copy attached the volume and died before its
                # reply: the file is the guest's disk now, never made again (nor deleted below);
                # the attach itself is idempotent (it completes one cut before its launch args)
                create = False
            if create:  # a new volume gets its file on the host that uses it (a copy of its image)
                image = None
                if image_id:
                    f = await self.image_api.get_image_file(ctx, image_id=image_id, instance_uuid=instance_uuid)
                    f.pop("properties")
                    image = ImageFile(**f)
                await self.driver.create_volume(volume_id, size_gb, image)
            try:
                await self.driver.attach_volume(instance_uuid, volume_id, device)
            except Exception:
                if create:
                    await self.driver.delete_volume(volume_id)
                raise

    async def detach_volume(self, ctx, instance_uuid, volume_id):
        async with self._lock(instance_uuid):
            await self.driver.detach_volume(instance_uuid, volume_id)

    async def _reap_deleted(self, ctx, actual: dict, live: set | None = None) -> None:
        """Guests on the host that no live instance owns (deleted while the host was down):
        destroyed, as nova's running_deleted_instance_action=reap does. live: the uuids of
        the host's non-deleted instances, read after actual (None: read here)."""
        if not actual:
            return
        if live is None:
            live = set(await self.conductor_api.live_uuids_on_host(ctx, host=self.host))
        for uuid in actual:
            if uuid in live or uuid in self._building or self._lock(uuid).locked():
                continue
            log.warning("host %s: guest %s belongs to no live instance: destroying it", self.host, uuid)
            try:
                await self.driver.destroy(uuid)
            except Exception as e:
                log.warning("host %s: could not destroy orphan %s: %s", self.host, uuid, e)
            self._locks.pop(uuid, None)

    # ---- power-state sync (nova's _sync_power_states) ------------------------------------
    async def list_guests(self) -> dict | None:
        """The driver's guests {uuid: power_state}; None when the host cannot say."""
        try:
            return await self.driver.list_instances()
        except Exception as e:
            log.warning("power sync on %s: %s", self.host, e)
            return None

    async def sync_power_states(self, ctx, actual: dict | None = None, known: list[dict] | None = None) -> None:
        """actual: the driver's guests, listed before known (the host's non-deleted instances,
        read in one batch for all of a process's hosts by HostReporter); None: fetched here."""
        if not self.up:
            return
        if actual is None and (actual := await self.list_guests()) is None:
            return
        live = None if known is None else {r["uuid"] for r in known}
        await self._reap_deleted(ctx, actual, live)
        # a batch's listing may be older than its read by the slowest host's listing (seconds
        # when a link is cut): a build that ended meanwhile is in the read, not in the list.
        # So a difference is looked at again with a listing made after the read.
        listed_after = known is None
        if known is None:
            known = await self.conductor_api.instances_on_host(ctx, host=self.host)
        for inst in known:
            if inst["vm_state"] not in (states.ACTIVE, states.STOPPED, states.ERROR):
                continue
            uuid = inst["uuid"]
            if inst["task_state"] is not None or self._lock(uuid).locked():
                continue  # something is acting on it; the next sync will look again
            now = actual.get(uuid, power_state.NOSTATE)
            if now != inst["power_state"] and not listed_after:
                if (actual := await self.list_guests()) is None:
                    return
                listed_after = True
                now = actual.get(uuid, power_state.NOSTATE)
            if now == inst["power_state"] or self._lock(uuid).locked():
                continue
            await self.conductor_api.power_state_changed(ctx, instance_uuid=uuid, host=self.host,
                                                         old=inst["power_state"], new=now, vm_state=inst["vm_state"])
