"""The create of the compute API (nova-api's servers POST): checks token, role, quota and
every field, writes the instance(s) as building/scheduling/NOSTATE with the 'create' action,
casts the build to the conductor and answers the views at once. A mixin of ComputeAPI."""
from __future__ import annotations

import time
import uuid as uuidlib

from backend.core import db as dbm
from backend.core import power_state, quota, states
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.core.inputs import parse_int
from backend.core.instances import sanitize_hostname
from backend.identity import check_name
from backend.compute.server_tags import check_tags
from backend.compute.user_data import check_user_data
from backend.compute.host_hints import host_hints
from backend.messaging.flow import token_detail

MAX_COUNT = 100


def check_description(d) -> str:
    """nova's server description (2.19): at most 255 printable characters."""
    if not isinstance(d, str):
        raise BadRequest("'server.description' must be a string or null")
    if len(d) > 255:
        raise BadRequest("'server.description' is longer than 255 characters")
    if not d.isprintable():
        raise BadRequest("'server.description' must hold printable characters only")
    return d


def _int(name, v, lo, hi):
    return parse_int(v, name, lo, hi)


class ServerCreate:
    # ---- create ----------------------------------------------------------------------------
    async def create(self, ctx, *, name, image, flavor, networks, boot_volume_size, availability_zone,
                     min_count, max_count, scheduler_hints, metadata, key_name=None, access_ips=None, user_data=None,
                     tags=None, description=None, security_groups=None):
        self._need_write(ctx)
        self.bus.check_available()  # no broker: 503 before anything is written
        tags = check_tags(tags or [])
        if description is not None:
            check_description(description)
        user_data = check_user_data(user_data)
        kp = None if key_name is None else self.keypair_for_server(ctx, key_name)
        t0 = time.perf_counter()
        req = self._validate_create(ctx, name, image, flavor, networks, boot_volume_size, availability_zone,
                                    min_count, max_count, scheduler_hints, metadata)
        sg_ids = self.resolve_server_groups(ctx, security_groups)
        validate_ms = (time.perf_counter() - t0) * 1000
        now = dbm.now_iso()
        reservation = "r-" + uuidlib.uuid4().hex[:8]
        f, img = req["flavor"], req["image"]
        with dbm.transaction(self.db):
            # counted and inserted under one write lock: concurrent creates cannot overshoot
            count = self._check_quota(ctx, req, metadata, boot_volume_size)
            uuids = [str(uuidlib.uuid4()) for _ in range(count)]
            for i, u in enumerate(uuids):
                nm = name if count == 1 else f"{name}-{i + 1}"
                self.db["instances"].insert({
                    "uuid": u, "name": nm, "hostname": sanitize_hostname(nm), "project_id": ctx.project_id,
                    "user_id": ctx.user_id, "image_id": img["id"] if img else None, "flavor_id": f["id"],
                    "vcpus": f["vcpus"], "memory_mb": f["ram"], "root_gb": f["disk"], "flavor_name": f["name"],
                    "vm_state": states.BUILDING, "task_state": states.SCHEDULING,
                    "power_state": power_state.NOSTATE, "availability_zone": availability_zone,
                    "requested_az": availability_zone, "requested_networks": dbm.jdump(req["networks"]),
                    "boot_volume_size": boot_volume_size, "server_group_id": req["group_id"],
                    "reservation_id": reservation, "metadata": dbm.jdump(metadata), "attempts": "[]",
                    "created_at": now, "updated_at": now, "deleted": 0, "build_started": time.time(),
                    "key_name": kp and kp["name"], "key_data": kp and kp["public_key"],
                    **{f"access_ip_v{v}": (access_ips or {}).get(v) for v in (4, 6)},
                    "user_data": user_data, "description": description, "launch_index": i})
                if tags:  # a new instance has none to replace
                    self.write_tags(u, tags)
                self.network.set_server_groups(u, sg_ids, ports=False)
                self.store.action_start(ctx, u, "create")
        for u in uuids:
            self.store.publish(u)
            # the steps before the instance existed, recorded against it for its timeline
            for service, step, ms, detail in (
                    ("identity", "token validated", ctx.validate_ms, token_detail(ctx)),
                    ("compute-api", "request checked", validate_ms, "policy, quota, image, flavor, network"),
                    ("compute-api", "instance recorded", None, "building/scheduling/NOSTATE")):
                self.tracer.record(service=service, kind="step", request_id=ctx.request_id, instance_uuid=u,
                                   step=step, phase="end", duration_ms=ms, detail=detail)
        spec = {"vcpus": f["vcpus"], "memory_mb": f["ram"], "disk_gb": 0 if boot_volume_size else f["disk"],
                "availability_zone": availability_zone,
                "image_properties": dbm.jload(img["properties"], {}) if img else {},
                "group_id": req["group_id"], "group_policy": req["group_policy"],
                "same_host": req["same_host"], "different_host": req["different_host"]}
        self.conductor_api.build_instances(ctx, instance_uuids=uuids, request_spec=spec, instance_uuid=uuids[0])
        return self.store.views_for(uuids, ctx.is_admin)

    def _validate_create(self, ctx, name, image, flavor, networks, bvs, az, min_count, max_count, hints, metadata):
        check_name("server", name)
        if flavor is None or flavor == "":
            raise BadRequest("flavor is required")
        # nova: a create naming a missing flavor or image is a bad request (400), not a 404
        try:
            f = self.find_flavor(flavor)
        except NotFound:
            raise BadRequest(f"Flavor {flavor} could not be found.") from None
        if not self.may_see_flavor(ctx, f):
            raise BadRequest(f"Flavor {flavor} could not be found.")
        img = None
        if image not in (None, ""):
            try:
                img = self.image.find(ctx, str(image))
            except NotFound:
                raise BadRequest(f"Can not find requested image: {image}") from None
            if img["status"] != "active":
                raise BadRequest(f"image {img['name']!r} is not active (status {img['status']})")
            if img["disk_format"] in ("aki", "ari"):
                raise BadRequest(f"image {img['name']!r} is a kernel or ramdisk image and cannot boot alone")
            props = dbm.jload(img["properties"], {})
            for prop in ("kernel_id", "ramdisk_id"):
                if props.get(prop):
                    try:
                        part = self.image.find(ctx, str(props[prop]))
                    except NotFound:
                        raise BadRequest(f"image {img['name']!r} names {prop} {props[prop]}, "
                                         "which is not an image you can use") from None
                    if part["status"] != "active":
                        raise BadRequest(f"{prop} image {part['name']!r} has no data")
        elif not bvs:
            raise BadRequest("an image is required unless booting from a volume")
        if bvs is not None:
            bvs = _int("boot volume size", bvs, 1, 1000)
        if img:
            if img["min_ram"] and f["ram"] < img["min_ram"]:
                raise BadRequest(f"flavor {f['name']}'s memory ({f['ram']} MB) is smaller than the image's "
                                 f"min_ram ({img['min_ram']} MB)")
            disk = bvs or f["disk"]
            if img["min_disk"] and disk < img["min_disk"]:
                raise BadRequest(f"disk of {disk} GB is smaller than the image's min_disk ({img['min_disk']} GB)")
            if img["size"] and disk * 1024 ** 3 < img["size"]:
                raise BadRequest(f"disk of {disk} GB is smaller than the image ({img['size']} bytes)")
        if az is not None:
            if not isinstance(az, str) or not az:
                raise BadRequest("availability_zone must be a non-empty string")
            if not dbm.row(self.db, "SELECT 1 x FROM compute_nodes WHERE availability_zone=? AND configured=1",
                           (az,)):
                raise BadRequest(f"availability zone {az!r} does not exist")
        min_count = _int("min_count", min_count, 1, MAX_COUNT)
        max_count = _int("max_count", max_count, 1, MAX_COUNT)
        if min_count > max_count:
            raise BadRequest(f"min_count ({min_count}) is larger than max_count ({max_count})")
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255
                                                     and len(v) <= 255 for k, v in metadata.items()):
            raise BadRequest("metadata must map strings (1-255 characters) to strings (at most 255)")
        nets = self._validate_networks(ctx, networks, max_count)
        group_id = group_policy = None
        if not isinstance(hints, dict):
            raise BadRequest("scheduler hints must be a mapping")
        unknown = set(hints) - {"group", "same_host", "different_host"}
        if unknown:
            raise BadRequest(f"unknown scheduler hint(s): {', '.join(sorted(unknown))}")
        if hints.get("group"):
            g = dbm.row(self.db, "SELECT * FROM server_groups WHERE id=?", (str(hints["group"]),))
            if not g or (g["project_id"] != ctx.project_id and not ctx.is_admin):
                raise BadRequest(f"server group {hints['group']!r} not found")
            group_id, group_policy = g["id"], g["policy"]
        return {"flavor": f, "image": img, "networks": nets, "min_count": min_count, "max_count": max_count,
                "group_id": group_id, "group_policy": group_policy, **host_hints(hints)}

    def _validate_networks(self, ctx, networks, max_count):
        if networks in (None, "auto"):
            self.network.auto_network(ctx, ctx.project_id)  # 400 now rather than a failed build
            return "auto"
        if networks == "none":
            return "none"
        if not isinstance(networks, list) or not networks:
            raise BadRequest("networks must be 'auto', 'none' or a non-empty list")
        out = []
        for n in networks:
            if not isinstance(n, dict) or not (set(n) <= {"uuid", "port", "fixed_ip"}) or not n:
                raise BadRequest(f"bad network request {n!r}: use uuid, port or fixed_ip")
            if n.get("port"):
                p = self.network.get_port(ctx, str(n["port"]))
                if p["device_id"]:
                    raise Conflict(f"port {p['id']} is already in use")
                if max_count > 1:
                    raise BadRequest("a port cannot be given to more than one instance (max_count > 1)")
                out.append({"port": p["id"]})
            elif n.get("uuid"):
                net = self.network.get_network(ctx, str(n["uuid"]))
                if not net["subnets"]:
                    raise BadRequest(f"network {net['name']!r} has no subnet")
                item = {"uuid": net["id"]}
                if n.get("fixed_ip") and net["project_id"] != ctx.project_id and not ctx.is_admin:
                    # neutron's create_port:fixed_ips:ip_address is for the network's owner
                    raise Forbidden(f"only an admin may choose a fixed IP on network {net['name']!r}, "
                                    "which belongs to another project")
                if n.get("fixed_ip"):
                    if max_count > 1:
                        raise BadRequest("a fixed IP cannot be given to more than one instance")
                    item["fixed_ip"] = str(n["fixed_ip"])
                out.append(item)
            else:
                raise BadRequest(f"bad network request {n!r}: a uuid or a port is needed")
        return out

    def _check_quota(self, ctx, req, metadata, boot_volume_size) -> int:
        """How many of min..max_count instances fit the project's quotas: nova's, the ports
        they will need (as nova's validate_networks) and boot volumes. Too few: 403 naming
        each resource with its limit, usage and the amount requested."""
        pid = ctx.project_id
        if metadata:  # per instance, so nothing is used before
            quota.check(self.db, self.config, pid, {"metadata_items": len(metadata)}, "compute",
                        used={"metadata_items": 0})
        f, nets = req["flavor"], req["networks"]
        per = {"instances": 1, "cores": f["vcpus"], "ram": f["ram"],
               "port": 0 if nets == "none" else 1 if nets == "auto" else sum(1 for n in nets if "port" not in n)}
        used = {}
        if req["group_id"]:
            per["server_group_members"] = 1
            used["server_group_members"] = dbm.row(
                self.db, "SELECT count(*) n FROM instances WHERE server_group_id=? AND deleted=0",
                (req["group_id"],))["n"]
        if boot_volume_size:
            per.update(volumes=1, gigabytes=boot_volume_size)
        return quota.fit(self.db, self.config, pid, per, req["min_count"], req["max_count"], "compute", used)
