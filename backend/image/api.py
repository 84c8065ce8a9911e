"""Image (glance): image records and their data, stored under the state directory.
Upload computes size, md5 (glance's `checksum`) and sha256 (`os_hash_value`); the
drivers verify the sha256 again after copying an image to a host.

Image data is untrusted (OSSA-2024-001): it is inspected as it streams in (backend.core.image_inspect)
and refused with 400 before the image becomes active when its real format is not the declared
one, it names a backing file, a data file or vmdk extent files, or it is too large a disk."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import uuid
from pathlib import Path

from backend.core import db as dbm
from backend.core import quota
from backend.core import image_inspect
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound, RequestTooLarge
from backend.identity import check_name
from backend.image.members import ImageMembers

DISK_FORMATS = ("raw", "qcow2", "aki", "ari", "ami", "iso", "vmdk", "vdi", "vhd", "vhdx")
CONTAINER_FORMATS = ("bare", "ovf", "aki", "ari", "ami", "ova", "docker")
VISIBILITIES = ("public", "private", "shared", "community")
PROPERTY_KEYS_RESERVED = {"id", "name", "status", "size", "checksum", "owner", "visibility", "disk_format",
                          "container_format", "min_ram", "min_disk", "created_at", "updated_at",
                          "os_hash_algo", "os_hash_value", "file", "self", "schema", "locations", "direct_url"}
MAX_IMAGE_BYTES = 20 * 1024 ** 3
MAX_TAGS = 128  # glance's image_tag_quota


def check_tags(tags) -> list[str]:
    """glance's tags: a list of distinct strings of 1-255 characters (order kept)."""
    if not isinstance(tags, list):
        raise BadRequest("'tags' must be a list of strings")
    out: list[str] = []
    for t in tags:
        if not isinstance(t, str) or not 1 <= len(t) <= 255:
            raise BadRequest(f"image tag {t!r} must be a string of 1 to 255 characters")
        if t not in out:
            out.append(t)
    if len(out) > MAX_TAGS:
        raise RequestTooLarge(f"an image has at most {MAX_TAGS} tags")
    return out
log = logging.getLogger(__name__)


class ImageService(ImageMembers):
    def __init__(self, db, config):
        self.db = db
        self.config = config
        config.images_dir.mkdir(parents=True, exist_ok=True)

    def view(self, r) -> dict:
        props = dbm.jload(r["properties"], {})
        return {"id": r["id"], "name": r["name"], "status": r["status"], "disk_format": r["disk_format"],
                "container_format": r["container_format"], "size": r["size"], "checksum": r["checksum"],
                "os_hash_algo": "sha256" if r["sha256"] else None, "os_hash_value": r["sha256"],
                "sha256": r["sha256"], "min_ram": r["min_ram"], "min_disk": r["min_disk"],
                "visibility": r["visibility"], "owner": r["owner"], "properties": props,
                "protected": False, "created_at": r["created_at"], "updated_at": r["updated_at"],
                "tags": dbm.jload(r["tags"], [])}

    def _visible(self, ctx, r, member_status=("pending", "accepted", "rejected")) -> bool:
        if ctx.is_admin or r["visibility"] in ("public", "community") or r["owner"] == ctx.project_id:
            return True
        return r["visibility"] == "shared" and self.member_status(r["id"], ctx.project_id) in member_status

    def find(self, ctx, ref: str) -> dict:
        r = dbm.row(self.db, "SELECT * FROM images WHERE id=?", (ref,))
        if r is None:
            cands = [x for x in dbm.rows(self.db, "SELECT * FROM images WHERE name=? ORDER BY created_at", (ref,))
                     if self._visible(ctx, x)]
            if len(cands) > 1:
                raise Conflict(f"more than one image is named {ref!r}; use its id")
            r = cands[0] if cands else None
        if r is None or not self._visible(ctx, r):
            raise NotFound(f"image {ref!r} not found")
        return r

    def _owned(self, ctx, ref):
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")
        r = self.find(ctx, ref)
        if r["owner"] != ctx.project_id and not ctx.is_admin:
            raise Forbidden(f"image {ref!r} belongs to another project")
        return r

    def list(self, ctx, filters):
        """filters: attributes, and member_status (glance's: shared images of other projects
        are listed once accepted, unless pending, rejected or all is asked)."""
        filters = dict(filters)
        wanted = filters.pop("member_status", "accepted")
        if wanted not in ("accepted", "pending", "rejected", "all"):
            raise BadRequest(f"member_status must be accepted, pending, rejected or all, not {wanted!r}")
        statuses = ("pending", "accepted", "rejected") if wanted == "all" else (wanted,)
        out = [self.view(r) for r in dbm.rows(self.db, "SELECT * FROM images ORDER BY created_at")
               if self._visible(ctx, r, statuses)]
        for k, v in filters.items():
            out = [i for i in out if str(i.get(k, i["properties"].get(k))) == str(v)]
        return out

    def get(self, ctx, ref):
        return self.view(self.find(ctx, ref))

    def _check_fields(self, ctx, disk_format, container_format, visibility, min_ram, min_disk, properties):
        if disk_format not in DISK_FORMATS:
            raise BadRequest(f"disk_format {disk_format!r} is not one of {', '.join(DISK_FORMATS)}")
        if container_format not in CONTAINER_FORMATS:
            raise BadRequest(f"container_format {container_format!r} is not one of {', '.join(CONTAINER_FORMATS)}")
        if visibility not in VISIBILITIES:
            raise BadRequest(f"visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}")
        if visibility == "public" and not ctx.is_admin:
            raise Forbidden("only an admin may publish a public image")
        for k, v in (("min_ram", min_ram), ("min_disk", min_disk)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise BadRequest(f"{k} must be a non-negative integer")
        if not isinstance(properties, dict):
            raise BadRequest("properties must be a mapping")
        for k, v in properties.items():
            if k in PROPERTY_KEYS_RESERVED:
                raise BadRequest(f"property {k!r} is reserved")
            if not isinstance(k, str) or not k or len(k) > 255:
                raise BadRequest(f"property name {k!r} is invalid")
            if not isinstance(v, str) or len(v) > 65535:
                raise BadRequest(f"property {k!r} must be a string")

    def create(self, ctx, name, disk_format, container_format, visibility, min_ram, min_disk, properties,
               image_id=None, tags=None, owner=None):
        """owner: another project than the caller's (admins only, as glance)."""
        if not ctx.can_write:
            raise Forbidden("the reader role cannot change anything")
        owner = self._check_owner(ctx, owner)
        check_name("image", name)
        tags = check_tags(tags or [])
        self._check_fields(ctx, disk_format, container_format, visibility, min_ram, min_disk, properties)
        if image_id is not None:
            try:
                image_id = str(uuid.UUID(str(image_id)))
            except ValueError:
                raise BadRequest(f"image id {image_id!r} is not a UUID") from None
            if dbm.row(self.db, "SELECT 1 x FROM images WHERE id=?", (image_id,)):
                raise Conflict(f"an image with id {image_id} already exists")
        iid = image_id or str(uuid.uuid4())
        now = dbm.now_iso()
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, owner, {"image_count_total": 1}, "image")
            self.db["images"].insert({"id": iid, "name": name, "owner": owner, "status": "queued",
                                      "disk_format": disk_format, "container_format": container_format,
                                      "visibility": visibility, "min_ram": min_ram, "min_disk": min_disk,
                                      "properties": dbm.jdump(properties), "tags": dbm.jdump(tags),
                                      "created_at": now, "updated_at": now})
        return self.get(ctx, iid)

    @staticmethod
    def _check_owner(ctx, owner):
        if owner is None or owner == ctx.project_id:
            return ctx.project_id
        if not isinstance(owner, str) or not owner or len(owner) > 255:
            raise BadRequest("'owner' must be a project id (a string of at most 255 characters)")
        if not ctx.is_admin:
            raise Forbidden("only an admin may give an image another owner than the caller's project")
        return owner

    def update(self, ctx, ref, changes: dict):
        r = self._owned(ctx, ref)
        fields = {"name": r["name"], "visibility": r["visibility"], "min_ram": r["min_ram"],
                  "min_disk": r["min_disk"], "disk_format": r["disk_format"],
                  "container_format": r["container_format"]}
        props = dbm.jload(r["properties"], {})
        tags = dbm.jload(r["tags"], [])
        for k, v in changes.items():
            if k == "tags":
                tags = check_tags(v)
            elif k == "owner":
                fields["owner"] = self._check_owner(ctx, v)
            elif k in fields:
                fields[k] = v
            elif k in PROPERTY_KEYS_RESERVED:
                raise BadRequest(f"attribute {k!r} is read-only")
            elif v is None:
                props.pop(k, None)
            else:
                props[k] = v
        check_name("image", fields["name"])
        if r["status"] != "queued" and (fields["disk_format"] != r["disk_format"] or
                                        fields["container_format"] != r["container_format"]):
            raise Conflict("disk_format and container_format cannot change once data is uploaded")
        self._check_fields(ctx, fields["disk_format"], fields["container_format"], fields["visibility"],
                           fields["min_ram"], fields["min_disk"], props)
        self.db["images"].update(r["id"], {**fields, "properties": dbm.jdump(props), "tags": dbm.jdump(tags),
                                           "updated_at": dbm.now_iso()})
        return self.get(ctx, r["id"])

    def add_tag(self, ctx, ref, tag):
        with dbm.transaction(self.db):
            r = self._owned(ctx, ref)
            tags = dbm.jload(r["tags"], [])
            if tag not in tags:
                tags = check_tags(tags + [tag])
                self.db["images"].update(r["id"], {"tags": dbm.jdump(tags), "updated_at": dbm.now_iso()})

    def delete_tag(self, ctx, ref, tag):
        with dbm.transaction(self.db):
            r = self._owned(ctx, ref)
            tags = dbm.jload(r["tags"], [])
            if tag not in tags:
                raise NotFound(f"Tag {tag} not found")
            tags.remove(tag)
            self.db["images"].update(r["id"], {"tags": dbm.jdump(tags), "updated_at": dbm.now_iso()})

    def set_active(self, ctx, ref, active: bool):
        """glance's deactivate/reactivate: a deactivated image keeps its data, but only an
        admin may download it (or boot from it); repeating either is a no-op."""
        with dbm.transaction(self.db):
            r = self._owned(ctx, ref)
            if r["status"] not in ("active", "deactivated"):
                verb = "reactivate" if active else "deactivate"
                raise BadRequest(f"Not allowed to {verb} image in status '{r['status']}'")
            status = "active" if active else "deactivated"
            if r["status"] != status:
                self.db["images"].update(r["id"], {"status": status, "updated_at": dbm.now_iso()})

    async def upload(self, ctx, ref, data):
        r = self._owned(ctx, ref)
        if r["status"] != "queued":
            raise Conflict(f"image {ref!r} already has data (status {r['status']})")
        self.db["images"].update(r["id"], {"status": "saving"})
        final = self.config.images_dir / r["id"]
        tmp = final.with_suffix(".part")
        sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
        inspector = image_inspect.StreamInspector()
        try:
            with open(tmp, "wb") as f:
                os.chmod(tmp, 0o600)
                async for chunk in quota.limit_upload(_chunks(data), self.db, self.config, r["owner"]):
                    size += len(chunk)
                    if size > MAX_IMAGE_BYTES:
                        raise RequestTooLarge(f"image data is larger than {MAX_IMAGE_BYTES} bytes")
                    sha.update(chunk)
                    md5.update(chunk)
                    inspector.feed(chunk)
                    f.write(chunk)
            limit = self.config.image_max_virtual_size
            try:  # the header inspector first; qemu-img only on data that passed it
                image_inspect.check(inspector, r["disk_format"], limit)
                await asyncio.to_thread(image_inspect.qemu_img_check, tmp, r["disk_format"], limit)
            except image_inspect.UnsafeImage as e:
                raise BadRequest(f"image data refused: {e}") from None
            quota.claim_image_size(self.db, self.config, r["id"], r["owner"], size)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            self.db.conn.execute("UPDATE images SET status='queued' WHERE id=? AND status='saving'", (r["id"],))
            raise
        done = self.db.conn.execute(
            "UPDATE images SET status='active', size=?, checksum=?, sha256=?, path=?, updated_at=?"
            " WHERE id=? AND status='saving'",
            (size, md5.hexdigest(), sha.hexdigest(), str(final), dbm.now_iso(), r["id"])).rowcount
        if not done:  # the row went away under the upload (an admin's direct change): keep nothing
            final.unlink(missing_ok=True)
            raise Conflict(f"image {r['id']} was deleted during the upload")
        return self.get(ctx, r["id"])

    def download(self, ctx, ref):
        r = self.find(ctx, ref)
        if r["status"] == "deactivated" and not ctx.is_admin:
            raise Forbidden(f"image {r['id']} is deactivated: only an admin may download it")
        if r["status"] not in ("active", "deactivated") or not r["path"]:
            raise Conflict(f"image {ref!r} has no data (status {r['status']})")
        return self.view(r), Path(r["path"])

    def delete(self, ctx, ref):
        r = self._owned(ctx, ref)
        if r["status"] == "saving":  # the upload owns the file until it ends
            raise Conflict(f"image {r['name']!r} is being uploaded (status saving); delete it after "
                           "the upload ends")
        used = dbm.row(self.db, "SELECT count(*) c FROM instances WHERE image_id=? AND deleted=0", (r["id"],))["c"]
        if used:
            raise Conflict(f"image {r['name']!r} is in use by {used} instance(s)")
        self.db.conn.execute("DELETE FROM images WHERE id=?", (r["id"],))
        if r["path"]:
            Path(r["path"]).unlink(missing_ok=True)

    def reconcile(self) -> None:
        """After a restart: an upload cut by the stop leaves its image 'queued' (no data, as
        glance) and no partial file."""
        cut = self.db.conn.execute("UPDATE images SET status='queued', updated_at=? WHERE status='saving'",
                                   (dbm.now_iso(),)).rowcount
        parts = list(self.config.images_dir.glob("*.part"))
        for p in parts:
            p.unlink(missing_ok=True)
        if cut or parts:
            log.warning("%d image upload(s) cut by a restart: back to queued, %d partial file(s) removed",
                        cut, len(parts))

    # ---- queue endpoint: compute fetches image files during 'spawning' -------------------
    async def get_image_file(self, ctx, image_id, instance_uuid=None):
        r = dbm.row(self.db, "SELECT * FROM images WHERE id=?", (image_id,))
        # the build runs with the requester's context: it may only read what they may see
        if not r or not self._visible(ctx, r):
            raise NotFound(f"image {image_id} not found")
        if r["status"] != "active":
            raise NotFound(f"image {image_id} has no data")
        return {"id": r["id"], "path": r["path"], "sha256": r["sha256"], "size": r["size"],
                "disk_format": r["disk_format"], "properties": dbm.jload(r["properties"], {})}


async def _chunks(data, size: int = 1 << 20):
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
    elif isinstance(data, (str, Path)):
        with open(data, "rb") as f:
            while chunk := f.read(size):
                yield chunk
    elif hasattr(data, "__aiter__"):
        async for chunk in data:
            yield chunk
    elif hasattr(data, "read"):
        while chunk := data.read(size):
            yield chunk
    else:
        for chunk in data:
            yield chunk
