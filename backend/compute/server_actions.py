"""Server actions beyond stop/start/reboot, as nova's compute API takes them: pause/unpause,
suspend/resume and rebuild. The states each is allowed in are backend.core.actions' rule;
the compute host does the work (backend.compute.rebuild.ServerActionsManager)."""
from __future__ import annotations

from backend.core import actions, states
from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, NotFound
from backend.core.inputs import check_metadata


class ServerActions:
    """A part of ComputeAPI: self.db, store, image, compute_rpcapi, _act, _instance and
    _host_must_be_up are its."""

    async def pause(self, ctx, server_id):
        self._act(ctx, server_id, "pause", "pause", states.PAUSING, "pause_instance")

    async def unpause(self, ctx, server_id):
        self._act(ctx, server_id, "unpause", "unpause", states.UNPAUSING, "unpause_instance")

    async def suspend(self, ctx, server_id):
        self._act(ctx, server_id, "suspend", "suspend", states.SUSPENDING, "suspend_instance")

    async def resume(self, ctx, server_id):
        self._act(ctx, server_id, "resume", "resume", states.RESUMING, "resume_instance")

    async def rebuild(self, ctx, server_id, image, name=None, metadata=None, access_ips=None,
                      description=...) -> dict:
        """nova's rebuild: the same instance (ports, volumes, flavor, host) booted again from
        `image`; name, metadata (replaced whole), access IPs and description change with it."""
        self._need_write(ctx)
        r = self._instance(ctx, server_id)
        why = actions.state_refusal("rebuild", r["vm_state"], r["task_state"], bool(r["host"]))
        if why:
            raise Conflict(f"Cannot 'rebuild' instance {r['uuid']} while it is in vm_state {r['vm_state']}, "
                           f"task_state {r['task_state']}: {why}")
        if description not in (None, ...):
            from backend.compute.api import check_description  # api.py imports this module
            check_description(description)
        if metadata is not None:
            check_metadata(metadata, "rebuild.metadata")
            quota.check(self.db, self.config, r["project_id"], {"metadata_items": len(metadata)}, "compute",
                        used={"metadata_items": 0})
        try:
            img = self.image.find(ctx, str(image))
        except NotFound:
            raise BadRequest("Cannot find image for rebuild") from None
        if img["status"] != "active":
            raise BadRequest(f"Image {img['id']} is not active.")
        if img["disk_format"] in ("aki", "ari"):
            raise BadRequest(f"image {img['name']!r} is a kernel or ramdisk image and cannot boot alone")
        root_volume = None
        if r["boot_volume_id"]:
            if img["id"] != r["image_id"]:
                raise BadRequest("Unable to rebuild with a different image for a volume-backed server.")
            root_volume = {"volume_id": r["boot_volume_id"], "size_gb": r["boot_volume_size"]}
        else:
            if img["min_ram"] and r["memory_mb"] < img["min_ram"]:
                raise BadRequest("Flavor's memory is too small for requested image.")
            if img["min_disk"] and r["root_gb"] < img["min_disk"]:
                raise BadRequest("Flavor's disk is too small for requested image. Flavor disk is "
                                 f"{r['root_gb'] * 1024 ** 3} bytes, minimum size is "
                                 f"{img['min_disk'] * 1024 ** 3} bytes.")
            if img["size"] and r["root_gb"] and r["root_gb"] * 1024 ** 3 < img["size"]:
                raise BadRequest("Flavor's disk is too small for requested image. Flavor disk is "
                                 f"{r['root_gb'] * 1024 ** 3} bytes, image is {img['size']} bytes.")
        self._host_must_be_up(r["host"], "rebuild")
        volumes = [{"volume_id": v["id"], "size_gb": v["size"], "device": v["device"]} for v in dbm.rows(
            self.db, "SELECT id, size, device FROM volumes WHERE attached_to=? ORDER BY device", (r["uuid"],))
            if v["id"] != r["boot_volume_id"]]
        values = {"image_id": img["id"], "task_state": states.REBUILDING}
        if name is not None:
            values["name"] = name
        if metadata is not None:
            values["metadata"] = dbm.jdump(metadata)
        values.update({f"access_ip_v{v}": ip for v, ip in (access_ips or {}).items()})
        if description is not ...:
            values["description"] = description
        self.store.action_start(ctx, r["uuid"], "rebuild")
        self.store.update(r["uuid"], **values)
        self.compute_rpcapi.rebuild_instance(ctx, r["host"], instance_uuid=r["uuid"], image_id=img["id"],
                                             root_volume=root_volume, volumes=volumes)
        return self.get(ctx, r["uuid"])
