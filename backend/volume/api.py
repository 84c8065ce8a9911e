"""Volume (cinder): volumes are qcow2 files on the compute host that uses them. A new
volume is 'available' with no host; it gets a host (and its file) when it is first
attached or when compute makes it as a boot volume. Statuses as cinder: creating,
available, reserved, attaching, in-use, detaching, deleting, error."""
from __future__ import annotations

import uuid

from backend.compute import rpcapi as compute_rpcapi
from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.identity import check_name
from backend.volume.types import DEFAULT, DEFAULT_TYPE_ID, VolumeTypes

MAX_VOLUME_GB = 1000
MAX_METADATA_ITEMS = 128


def check_metadata(metadata) -> dict:
    """cinder's rule: string keys of 1-255 characters, string values of at most 255."""
    if not isinstance(metadata, dict):
        raise BadRequest("volume metadata must be an object of string keys and values")
    if len(metadata) > MAX_METADATA_ITEMS:
        raise BadRequest(f"volume metadata has more than {MAX_METADATA_ITEMS} items")
    for k, v in metadata.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 255:
            raise BadRequest(f"volume metadata key {k!r} must be a string of 1 to 255 characters")
        if not isinstance(v, str) or len(v) > 255:
            raise BadRequest(f"volume metadata value of {k!r} must be a string of at most 255 characters")
    return dict(metadata)


class VolumeService(VolumeTypes):
    def __init__(self, db, bus, config):
        self.db = db
        self.compute_rpcapi = compute_rpcapi.ComputeAPI(bus)
        self.config = config

    @staticmethod
    def view(v) -> dict:
        att = [{"server_id": v["attached_to"], "device": v["device"], "volume_id": v["id"],
                "attachment_id": v["id"]}] if v["attached_to"] else []
        return {"id": v["id"], "name": v["name"], "description": v["description"], "project_id": v["project_id"],
                "size": v["size"], "status": v["status"], "host": v["host"], "bootable": bool(v["bootable"]),
                "image_id": v["image_id"], "attachments": att, "created_at": v["created_at"],
                "updated_at": v["updated_at"], "user_id": v["user_id"],
                "metadata": dbm.jload(v["metadata"], {}), "volume_type_id": v["volume_type_id"]}

    def _typed(self, views: list[dict]) -> list[dict]:
        """Each view with its type's name (volume_type), __DEFAULT__ when it has none."""
        names = {t["id"]: t["name"] for t in dbm.rows(self.db, "SELECT id, name FROM volume_types")}
        for v in views:
            v["volume_type"] = names.get(v["volume_type_id"], DEFAULT["name"])
        return views

    def find(self, ctx, ref) -> dict:
        v = dbm.row(self.db, "SELECT * FROM volumes WHERE id=?", (ref,))
        if v is None:
            cands = dbm.rows(self.db, "SELECT * FROM volumes WHERE name=? AND project_id=?", (ref, ctx.project_id))
            if len(cands) > 1:
                raise Conflict(f"more than one volume is named {ref!r}; use its id")
            v = cands[0] if cands else None
        if v is None or not (ctx.is_admin or v["project_id"] == ctx.project_id):
            raise NotFound(f"volume {ref!r} not found")
        return v

    def list(self, ctx, all_projects=False):
        if all_projects and ctx.is_admin:
            rs = dbm.rows(self.db, "SELECT * FROM volumes ORDER BY created_at")
        else:
            rs = dbm.rows(self.db, "SELECT * FROM volumes WHERE project_id=? ORDER BY created_at", (ctx.project_id,))
        return self._typed([self.view(v) for v in rs])

    def get(self, ctx, ref):
        return self._typed([self.view(self.find(ctx, ref))])[0]

    def create(self, ctx, size, name="", description="", *, project_id=None, status="available", host=None,
               image_id=None, bootable=False, delete_on_termination=False, metadata=None, volume_type=None):
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_VOLUME_GB:
            raise BadRequest(f"volume size must be an integer from 1 to {MAX_VOLUME_GB} GB, not {size!r}")
        if not isinstance(name, str) or len(name) > 255:
            raise BadRequest("volume name must be a string of at most 255 characters")
        check_name("volume", name, empty=True)
        if not isinstance(description, str) or len(description) > 255:
            raise BadRequest("volume description must be a string of at most 255 characters")
        metadata = check_metadata(metadata or {})
        type_id = self.find_type(ctx, volume_type)["id"]  # a private type: not found for members
        type_id = None if type_id == DEFAULT_TYPE_ID else type_id
        vid = str(uuid.uuid4())
        now = dbm.now_iso()
        pid = project_id or ctx.project_id
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, pid, {"volumes": 1, "gigabytes": size}, "volume")
            limit = quota.limits(self.db, self.config, pid, "volume")["per_volume_gigabytes"]
            if limit != quota.UNLIMITED and size > limit:
                raise quota.over_quota("volume", pid, [("per_volume_gigabytes", limit, 0, size)])
            self.db["volumes"].insert({"id": vid, "name": name, "description": description,
                                       "project_id": pid, "size": size, "status": status,
                                       "host": host, "bootable": int(bootable), "image_id": image_id,
                                       "delete_on_termination": int(delete_on_termination),
                                       "user_id": ctx.user_id, "metadata": dbm.jdump(metadata),
                                       "volume_type_id": type_id,
                                       "created_at": now, "updated_at": now})
        return self._typed([self.view(dbm.row(self.db, "SELECT * FROM volumes WHERE id=?", (vid,)))])[0]

    @staticmethod
    def image_for_volume(ctx, images, ref: str, size: int) -> str:
        """The id of the image a volume of size GB is made from (cinder's imageRef), checked as
        cinder checks it: visible to the caller, active, not larger than the volume, the volume
        not smaller than its min_disk."""
        try:
            img = images.find(ctx, str(ref))
        except (NotFound, Conflict):
            raise BadRequest("Invalid image identifier or unable to access requested image.") from None
        if img["status"] != "active":
            raise BadRequest(f"Image {img['id']} is not active.")
        gb = -(-(img["size"] or 0) // 1024 ** 3)
        if isinstance(size, int) and gb > size:
            raise BadRequest(f"Size of specified image {gb} GB is larger than volume size {size} GB.")
        if isinstance(size, int) and img["min_disk"] and size < img["min_disk"]:
            raise BadRequest(f"Volume size {size}GB cannot be smaller than the image minDisk size "
                             f"{img['min_disk']}GB.")
        return img["id"]

    def update(self, ctx, ref, changes: dict) -> dict:
        """cinder's PUT: name, description, metadata (replaces the volume's)."""
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")
        values = {}
        for k in ("name", "description"):
            if k in changes:
                v = changes[k] if changes[k] is not None else ""
                if not isinstance(v, str) or len(v) > 255:
                    raise BadRequest(f"volume {k} must be a string of at most 255 characters")
                values[k] = v
        if "name" in values:
            check_name("volume", values["name"], empty=True)
        if "metadata" in changes:
            values["metadata"] = dbm.jdump(check_metadata(changes["metadata"]))
        with dbm.transaction(self.db):
            v = self.find(ctx, ref)
            if values:
                self.set(v["id"], **values)
        return self.get(ctx, v["id"])

    def update_metadata(self, ctx, ref, metadata: dict, replace: bool = False) -> dict:
        """Merge metadata into the volume's (replace: it becomes exactly metadata); a value
        of None removes its key. Returns the volume's metadata."""
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")
        with dbm.transaction(self.db):
            v = self.find(ctx, ref)
            have = {} if replace else dbm.jload(v["metadata"], {})
            drop = [k for k, x in metadata.items() if x is None]
            have.update(check_metadata({k: x for k, x in metadata.items() if x is not None}))
            for k in drop:
                if k not in have:
                    raise NotFound(f"Volume {v['id']} has no metadata with key {k}.")
                del have[k]
            self.set(v["id"], metadata=dbm.jdump(check_metadata(have)))
        return have

    def set(self, volume_id, **fields):
        fields["updated_at"] = dbm.now_iso()
        dbm.update(self.db, "volumes", volume_id, fields)

    async def delete(self, ctx, ref):
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")
        v = self.find(ctx, ref)
        if v["attached_to"] or v["status"] in ("in-use", "attaching", "reserved"):
            raise Conflict(f"volume {ref!r} is attached to instance {v['attached_to']}; detach it first")
        if v["status"] not in ("available", "error", "error_deleting"):
            raise Conflict(f"volume {ref!r} cannot be deleted while {v['status']}")
        await self._destroy(ctx, v)

    async def _destroy(self, ctx, v):
        if v["host"]:
            self.set(v["id"], status="deleting")
            if self.compute_rpcapi.has_host(v["host"]):
                try:
                    await self.compute_rpcapi.delete_volume_backing(ctx, v["host"], volume_id=v["id"])
                except Exception as e:  # as cinder: error_deleting, and a later delete may retry
                    self.set(v["id"], status="error_deleting")
                    raise Conflict(f"volume {v['id']} could not be deleted on host {v['host']}: {e}") from None
        self.db.conn.execute("DELETE FROM volumes WHERE id=?", (v["id"],))

    # ---- queue endpoints (compute during block_device_mapping and delete) -------------
    async def create_boot_volume(self, ctx, instance_uuid, project_id, size, image_id, host):
        # one an earlier copy of this call made (a call is delivered again when the process
        # serving it died before its ack): taken up, not made (and counted in the quota) twice
        earlier = dbm.row(self.db, "SELECT id FROM volumes WHERE attached_to=? AND host=? AND status='creating'"
                                   " AND bootable=1 AND delete_on_termination=1 AND description=?",
                          (instance_uuid, host, f"boot volume of {instance_uuid}"))
        if earlier is not None:
            return earlier["id"]
        v = self.create(ctx, size, name="", description=f"boot volume of {instance_uuid}", project_id=project_id,
                        status="creating", host=host, image_id=image_id, bootable=True,
                        delete_on_termination=True)
        self.set(v["id"], attached_to=instance_uuid)  # reserved by the instance until attached
        return v["id"]

    async def mark_attached(self, ctx, volume_id, instance_uuid, device, host):
        self.set(volume_id, status="in-use", attached_to=instance_uuid, device=device, host=host)

    async def mark_detached(self, ctx, volume_id, instance_uuid=None):
        self.set(volume_id, status="available", attached_to=None, device=None)

    async def release_for_instance(self, ctx, instance_uuid, host=None):
        """On delete or failed build: delete-on-termination volumes go, others detach.
        Returns the ids of volumes whose backing files the caller must remove. host: only the
        volumes on that host or on none yet (a failed attempt's: a copy of this call delivered
        again after a reschedule leaves the next attempt's boot volume alone).
        A copy of this call whose first copy deleted the rows and lost its reply still names
        the boot volume: the instance keeps its boot_volume_id, whose row is gone. Its file
        can only be where it was made: the caller's rm of an id it does not have is a no-op."""
        gone = []
        where, args = ("attached_to=?", (instance_uuid,)) if host is None else \
            ("attached_to=? AND (host=? OR host IS NULL)", (instance_uuid, host))
        # one statement, as before: the volumes, then the boot volume an earlier copy deleted
        for v in dbm.rows(self.db, f"SELECT id, delete_on_termination, 0 AS deleted FROM volumes WHERE {where}"
                                   " UNION ALL SELECT boot_volume_id, 1, 1 FROM instances WHERE uuid=? AND"
                                   " boot_volume_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM volumes"
                                   " WHERE id=instances.boot_volume_id)", (*args, instance_uuid)):
            if v["deleted"]:
                gone.append(v["id"])
            elif v["delete_on_termination"]:
                self.db.conn.execute("DELETE FROM volumes WHERE id=?", (v["id"],))
                gone.append(v["id"])
            else:
                self.set(v["id"], status="available", attached_to=None, device=None)
        return gone
