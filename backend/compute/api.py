"""The compute API (nova-api): the create (server_create.ServerCreate: checks token, role,
quota and every field, writes the instance as building/scheduling/NOSTATE with its 'create'
action, casts the build to the conductor and returns at once), the power actions, delete,
flavors, hypervisors, server groups, and the read side (actions, decisions, trace, console)."""
from __future__ import annotations

import re
import uuid as uuidlib

from backend.compute import rpcapi as compute_rpcapi
from backend.conductor.rpcapi import ConductorAPI
from backend.core import db as dbm
from backend.core import servicegroup
from backend.core import power_state, quota, states
from backend.core import actions
from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound
from backend.identity import check_name
from backend.compute.views import ComputeViews
from backend.compute.server_metadata import ServerMetadata
from backend.compute.keypairs import KeyPairs
from backend.compute.admin_actions import AdminActions
from backend.compute.secgroups import ServerSecurityGroups
from backend.compute.server_tags import ServerTags
from backend.compute.flavor_specs import FlavorExtraSpecs
from backend.compute.flavor_access import FlavorAccess
from backend.compute.server_actions import ServerActions
# check_description and MAX_COUNT: imported from here elsewhere
from backend.compute.server_create import MAX_COUNT, ServerCreate, _int, check_description  # noqa: F401


class ComputeAPI(ServerCreate, ComputeViews, ServerMetadata, KeyPairs, AdminActions, ServerTags, ServerSecurityGroups,
                 FlavorExtraSpecs, FlavorAccess, ServerActions):
    def __init__(self, db, bus, tracer, store, network, image, volume, config):
        self.db, self.bus, self.tracer, self.store = db, bus, tracer, store
        self.conductor_api, self.compute_rpcapi = ConductorAPI(bus), compute_rpcapi.ComputeAPI(bus)
        self.network, self.image, self.volume, self.config = network, image, volume, config

    # ---- helpers -------------------------------------------------------------------------
    @staticmethod
    def _need_project(ctx):
        if not ctx.project_id:
            raise Forbidden("the token is not scoped to a project")

    def _need_write(self, ctx):
        self._need_project(ctx)
        why = actions.role_refusal(ctx.roles)  # the words the app shows on a disabled action
        if why:
            raise Forbidden(why)

    def _instance(self, ctx, server_id) -> dict:
        self._need_project(ctx)
        r = self.store.get(server_id) if isinstance(server_id, str) else None
        if r is None or r["deleted"] or (r["project_id"] != ctx.project_id and not ctx.is_admin):
            raise NotFound(f"instance {server_id} could not be found")
        return r

    def find_flavor(self, ref) -> dict:
        f = (dbm.row(self.db, "SELECT * FROM flavors WHERE id=?", (str(ref),)) or
             dbm.row(self.db, "SELECT * FROM flavors WHERE name=?", (str(ref),)))
        if not f:
            raise NotFound(f"flavor {ref!r} could not be found")
        return f

    # ---- actions ---------------------------------------------------------------------------
    def _act(self, ctx, server_id, action, rule, task_state, method, **kw):
        self._need_write(ctx)
        r = self._instance(ctx, server_id)
        # nova's check_instance_state, in the one place the app reads it too
        why = actions.state_refusal(rule, r["vm_state"], r["task_state"], bool(r["host"]))
        if why:
            raise Conflict(f"Cannot '{action}' instance {r['uuid']} while it is in vm_state {r['vm_state']}, "
                           f"task_state {r['task_state']}: {why}")
        self._host_must_be_up(r["host"], action)
        self.store.action_start(ctx, r["uuid"], action)
        self.store.update(r["uuid"], task_state=task_state)
        getattr(self.compute_rpcapi, method)(ctx, r["host"], instance_uuid=r["uuid"], **kw)

    def _host_must_be_up(self, host, action):
        n = dbm.row(self.db, "SELECT * FROM compute_nodes WHERE host=?", (host,))
        if not n or not servicegroup.is_up(n, self.config):
            raise Conflict(f"Cannot '{action}': compute host {host} is down")

    async def stop(self, ctx, server_id):
        self._act(ctx, server_id, "stop", "stop", states.POWERING_OFF, "stop_instance")

    async def start(self, ctx, server_id):
        self._act(ctx, server_id, "start", "start", states.POWERING_ON, "start_instance")

    async def reboot(self, ctx, server_id, hard):
        if hard:
            self._act(ctx, server_id, "reboot", "reboot_hard", states.REBOOTING_HARD, "reboot_instance",
                      reboot_type="HARD")
        else:
            self._act(ctx, server_id, "reboot", "reboot", states.REBOOTING, "reboot_instance",
                      reboot_type="SOFT")

    def rename(self, ctx, server_id, name=None, access_ips=None, description=...):
        """nova's PUT /servers/{id}: the display name (the guest's hostname stays), the
        access IPs ({4: ip or None, 6: ...}, only the versions given change) and the
        description (2.19; None clears it, left out keeps it)."""
        self._need_write(ctx)
        if name is not None:
            check_name("server", name)
        if description not in (None, ...):
            check_description(description)
        r = self._instance(ctx, server_id)
        values = {f"access_ip_v{v}": ip for v, ip in (access_ips or {}).items()}
        if description is not ...:
            values["description"] = description
        if name is not None:
            values["name"] = name
        if values:
            self.store.update(r["uuid"], **values)
        return self.get(ctx, r["uuid"])

    async def delete(self, ctx, server_id):
        self._need_write(ctx)
        r = self._instance(ctx, server_id)
        if r["task_state"] == states.DELETING:
            return  # already on its way (nova answers 204 again)
        self.store.action_start(ctx, r["uuid"], "delete")
        self.store.update(r["uuid"], task_state=states.DELETING)
        host_ok = False
        if r["host"]:
            try:
                self._host_must_be_up(r["host"], "delete")
                host_ok = True
            except Conflict:
                pass
        if host_ok:
            self.compute_rpcapi.terminate_instance(ctx, r["host"], instance_uuid=r["uuid"])
        elif r["vm_state"] == states.BUILDING and r["host"]:
            pass  # the build sees 'deleting' at its next step and cleans up
        else:
            await self.local_delete(ctx, r)

    async def local_delete(self, ctx, r):
        """No compute host can act (never scheduled, or host down): release everything the
        database holds for it, as nova's _local_delete does."""
        await self.network.deallocate_for_instance(ctx, r["uuid"])
        await self.volume.release_for_instance(ctx, r["uuid"])
        self.db.conn.execute("DELETE FROM claims WHERE instance_uuid=?", (r["uuid"],))
        self.store.update(r["uuid"], vm_state=states.DELETED, task_state=None, deleted=1,
                          power_state=power_state.NOSTATE, terminated_at=dbm.now_iso())

    async def console_output(self, ctx, server_id, length):
        r = self._instance(ctx, server_id)
        if not ctx.can_write:  # nova's os-console-output policy: project member or admin
            raise Forbidden("the reader role cannot read console output (it needs member)")
        if length is not None:
            length = _int("length", length, -1, 100000)
            if length == -1:
                length = None
        if not r["host"] or r["vm_state"] in (states.BUILDING, states.ERROR):
            raise Conflict(f"instance {r['uuid']} has no console yet (vm_state {r['vm_state']})")
        self._host_must_be_up(r["host"], "console")
        return await self.compute_rpcapi.get_console_output(ctx, r["host"], instance_uuid=r["uuid"], length=length)

    async def attach_volume(self, ctx, server_id, volume_ref):
        self._need_write(ctx)
        r = self._instance(ctx, server_id)
        v = self.volume.find(ctx, volume_ref)
        if v["status"] != "available" or v["attached_to"]:
            raise Conflict(f"volume {volume_ref!r} is {v['status']}, not available")
        if r["vm_state"] not in (states.ACTIVE, states.STOPPED) or r["task_state"]:
            raise Conflict(f"cannot attach a volume while the instance is {r['vm_state']}/{r['task_state']}")
        if v["host"] and v["host"] != r["host"]:
            raise Conflict(f"volume {volume_ref!r} lives on host {v['host']}, the instance on {r['host']}")
        self._host_must_be_up(r["host"], "attach volume")
        taken = {x["device"] for x in dbm.rows(self.db, "SELECT device FROM volumes WHERE attached_to=?",
                                               (r["uuid"],))}
        free = [f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"/dev/vd{c}" not in taken]
        if not free:
            raise Conflict(f"instance {r['uuid']} has no free disk slot")
        device = free[0]
        self.store.action_start(ctx, r["uuid"], "attach_volume")
        self.volume.set(v["id"], status="attaching", attached_to=r["uuid"], device=device)
        try:
            # a volume without a host gets its file now, from its image if it was made from one
            await self.compute_rpcapi.attach_volume(ctx, r["host"], instance_uuid=r["uuid"], volume_id=v["id"],
                                                    size_gb=v["size"], device=device, create=not v["host"],
                                                    image_id=None if v["host"] else v["image_id"])
        except Exception as e:
            self.volume.set(v["id"], status="available", attached_to=None, device=None)
            raise Conflict(f"attaching volume {v['id']} failed on {r['host']}: {e}") from None
        await self.volume.mark_attached(ctx, v["id"], r["uuid"], device, r["host"])
        self.store.publish(r["uuid"])
        return {"id": v["id"], "volumeId": v["id"], "serverId": r["uuid"], "device": device}

    async def detach_volume(self, ctx, server_id, volume_ref):
        self._need_write(ctx)
        r = self._instance(ctx, server_id)
        v = self.volume.find(ctx, volume_ref)
        if v["attached_to"] != r["uuid"]:
            raise NotFound(f"volume {volume_ref!r} is not attached to instance {r['uuid']}")
        if r["boot_volume_id"] == v["id"]:
            raise Conflict("the boot volume cannot be detached")
        if v["status"] != "in-use":
            raise Conflict(f"volume {volume_ref!r} is {v['status']}, not in-use")
        self._host_must_be_up(r["host"], "detach volume")
        self.store.action_start(ctx, r["uuid"], "detach_volume")
        self.volume.set(v["id"], status="detaching")
        try:
            await self.compute_rpcapi.detach_volume(ctx, r["host"], instance_uuid=r["uuid"], volume_id=v["id"])
        except Exception as e:
            self.db.conn.execute("UPDATE volumes SET status='in-use' WHERE id=? AND status='detaching'", (v["id"],))
            raise Conflict(f"detaching volume {v['id']} failed on {r['host']}: {e}") from None
        await self.volume.mark_detached(ctx, v["id"])
        self.store.publish(r["uuid"])

    # ---- flavors, server groups ---------------------------------------------------------------
    def create_flavor(self, ctx, name, vcpus, ram, disk, flavor_id, is_public, swap=0, ephemeral=0,
                      rxtx_factor=1.0):
        if not ctx.is_admin:
            raise Forbidden("only an admin may create flavors")
        check_name("flavor", name)
        vcpus, ram, disk = _int("vcpus", vcpus, 1, 1024), _int("ram", ram, 1, 16 * 1024 * 1024), \
            _int("disk", disk, 0, 100000)
        fid = str(flavor_id) if flavor_id not in (None, "", "auto") else str(uuidlib.uuid4())
        if not re.fullmatch(r"[\w.\- ]{1,255}", fid):
            raise BadRequest(f"flavor id {fid!r} has invalid characters")
        if dbm.row(self.db, "SELECT 1 x FROM flavors WHERE id=? OR name=?", (fid, name)):
            raise Conflict(f"a flavor with name {name!r} or id {fid!r} already exists")
        self.db["flavors"].insert({"id": fid, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk,
                                   "is_public": int(bool(is_public)), "created_at": dbm.now_iso(),
                                   # kept and shown as nova does; guests get no swap or ephemeral disk
                                   "swap": _int("swap", swap, 0, 2 ** 31 - 1),
                                   "ephemeral_gb": _int("ephemeral", ephemeral, 0, 2 ** 31 - 1),
                                   "rxtx_factor": float(rxtx_factor)})
        return self.flavor_view(self.find_flavor(fid))

    def delete_flavor(self, ctx, ref):
        if not ctx.is_admin:
            raise Forbidden("only an admin may delete flavors")
        f = self.find_flavor(ref)
        with dbm.transaction(self.db):
            self.db.conn.execute("DELETE FROM flavor_projects WHERE flavor_id=?", (f["id"],))
            self.db.conn.execute("DELETE FROM flavors WHERE id=?", (f["id"],))

    def create_server_group(self, ctx, name, policy):
        self._need_write(ctx)
        check_name("server group", name)
        if policy not in ("affinity", "anti-affinity"):
            raise BadRequest(f"policy must be 'affinity' or 'anti-affinity', not {policy!r}")
        gid = str(uuidlib.uuid4())
        with dbm.transaction(self.db):
            quota.check(self.db, self.config, ctx.project_id, {"server_groups": 1}, "compute")
            self.db["server_groups"].insert({"id": gid, "name": name, "project_id": ctx.project_id,
                                             "user_id": ctx.user_id, "policy": policy,
                                             "created_at": dbm.now_iso()})
        return self.group_view(dbm.row(self.db, "SELECT * FROM server_groups WHERE id=?", (gid,)))

    def delete_server_group(self, ctx, group_id):
        self._need_write(ctx)
        g = dbm.row(self.db, "SELECT * FROM server_groups WHERE id=?", (group_id,))
        if not g or (g["project_id"] != ctx.project_id and not ctx.is_admin):
            raise NotFound(f"server group {group_id} not found")
        self.db.conn.execute("DELETE FROM server_groups WHERE id=?", (group_id,))
