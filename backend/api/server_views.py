"""Nova's server view at the request's microversion (kept lean: GET /servers/detail renders
1,000 of these): the 2.1 keys, then what later microversions add — extended server
attributes for admins (2.3), locked (2.9), host_status for admins (2.16), description (2.19),
tags (2.26), the flavor embedded (2.47)."""
from __future__ import annotations

import hashlib
import uuid

from starlette.requests import Request

from backend.api import microversion
from backend.api.common import base, iso
from backend.core.errors import NotFound


def is_uuid(s: str) -> bool:
    try:
        uuid.UUID(s)
        return True
    except (ValueError, AttributeError, TypeError):
        return False


async def is_admin(request: Request, token: str) -> bool:
    t = await request.app.state.cloud.validate_token(token)
    return bool(t.get("is_admin"))


class ServerRenderer:
    def __init__(self, request: Request, admin: bool):
        root = base(request)
        self.version = microversion.of(request)
        self.self_prefix = f"{root}/compute/v2.1/servers/"
        self.book_prefix = f"{root}/compute/servers/"
        self.flavor_prefix = f"{root}/compute/flavors/"
        self.image_prefix = f"{root}/compute/images/"
        self.admin = admin
        self._host_ids: dict = {}

    def links(self, sid: str) -> list[dict]:
        return [{"rel": "self", "href": self.self_prefix + sid},
                {"rel": "bookmark", "href": self.book_prefix + sid}]

    def brief(self, s: dict) -> dict:
        return {"id": s["id"], "name": s["name"], "links": self.links(s["id"])}

    def full(self, s: dict) -> dict:
        sid, host, pid = s["id"], s.get("host"), s.get("project_id")
        # nova shows no image for a server booted from a volume
        img = None if s.get("boot_volume_id") else s.get("image")
        fid = str((s.get("flavor") or {}).get("id"))
        addresses = {net: [{"version": a.get("version", 4), "addr": a["addr"],
                            "OS-EXT-IPS:type": a.get("type", "fixed"),
                            "OS-EXT-IPS-MAC:mac_addr": a.get("mac")} for a in addrs]
                     for net, addrs in (s.get("addresses") or {}).items()}
        status = s["status"]
        created = _ts(s.get("created"))
        self_href = self.self_prefix + sid
        out = {
            "id": sid, "name": s["name"], "status": status,
            "tenant_id": pid, "user_id": s.get("user_id"),
            "metadata": s.get("metadata") or {},
            "hostId": self._host_id(pid, host),
            "image": ({"id": img["id"], "links": [{"rel": "bookmark",
                                                  "href": self.image_prefix + img["id"]}]}
                      if img else ""),
            "flavor": {"id": fid, "links": [{"rel": "bookmark", "href": self.flavor_prefix + fid}]},
            "created": created, "updated": _ts(s.get("updated")) or created,
            "addresses": addresses, "accessIPv4": s.get("access_ip_v4") or "",
            "accessIPv6": s.get("access_ip_v6") or "",
            "links": [{"rel": "self", "href": self_href},
                      {"rel": "bookmark", "href": self.book_prefix + sid}],
            "OS-DCF:diskConfig": "MANUAL",
            "OS-EXT-AZ:availability_zone": s.get("availability_zone") or "",
            "config_drive": "True", "key_name": s.get("key_name"),
            "OS-SRV-USG:launched_at": _ts(s.get("launched_at")),
            "OS-SRV-USG:terminated_at": _ts(s.get("terminated_at")),
            "OS-EXT-STS:task_state": s.get("task_state"),
            "OS-EXT-STS:vm_state": s.get("vm_state"),
            "OS-EXT-STS:power_state": s.get("power_state", 0),
            "os-extended-volumes:volumes_attached": [
                {"id": v["id"], "delete_on_termination": bool(v.get("delete_on_termination"))}
                if self.version >= (2, 3) else {"id": v["id"]} for v in s.get("volumes_attached") or ()],
            # omitted, as nova does, when the server is in no group
            **({"security_groups": [{"name": n} for n in s["security_groups"]]} if s.get("security_groups") else {}),
        }
        if status in ("BUILD", "ACTIVE"):
            out["progress"] = 100 if status == "ACTIVE" else 0
        if self.admin:
            out["OS-EXT-SRV-ATTR:host"] = host
            out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = host
            out["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{sid[:8]}"
        fault = s.get("fault")
        if fault and status == "ERROR":
            f = {"code": fault.get("code", 500), "message": fault.get("message", ""),
                 "created": iso(fault.get("created"))}
            # nova shows details to admins, and to everyone when it is not a 500
            if self.admin or f["code"] != 500:
                f["details"] = fault.get("details") or ""
            out["fault"] = f
        if self.version >= (2, 3):
            self._later(s, out)
        return out

    def _later(self, s: dict, out: dict) -> None:
        """The keys microversions 2.3 to 2.47 add (nova's servers view, same policies)."""
        v = self.version
        if self.admin:  # os-extended-server-attributes is admin-only
            out.update({"OS-EXT-SRV-ATTR:hostname": s.get("hostname"),
                        "OS-EXT-SRV-ATTR:reservation_id": s.get("reservation_id"),
                        "OS-EXT-SRV-ATTR:launch_index": s.get("launch_index") or 0,
                        "OS-EXT-SRV-ATTR:kernel_id": s.get("kernel_id") or "",
                        "OS-EXT-SRV-ATTR:ramdisk_id": s.get("ramdisk_id") or "",
                        "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda" if s.get("host") else None,
                        "OS-EXT-SRV-ATTR:user_data": s.get("user_data")})
        if v >= (2, 9):
            out["locked"] = False  # there is no lock action: no server is ever locked
        if v >= (2, 16) and self.admin:
            out["host_status"] = s.get("host_status", "")
        if v >= (2, 19):
            out["description"] = s.get("description")
        if v >= (2, 26):
            out["tags"] = list(s.get("tags") or [])
        if v >= (2, 47):
            f = s.get("flavor") or {}
            out["flavor"] = {"vcpus": f.get("vcpus"), "ram": f.get("ram"), "disk": f.get("disk"),
                             "ephemeral": f.get("ephemeral") or 0, "swap": f.get("swap") or 0,
                             "original_name": f.get("name"), "extra_specs": {}}

    def _host_id(self, project_id, host) -> str:
        # nova: sha224(project + host), so a tenant can tell co-located servers apart
        if not host:
            return ""
        key = (project_id, host)
        hid = self._host_ids.get(key)
        if hid is None:
            hid = self._host_ids[key] = hashlib.sha224(f"{project_id}{host}".encode()).hexdigest()
        return hid


def _ts(v):
    return v if v is None or v.__class__ is str else iso(v)


def _server_id(request: Request) -> str:
    sid = request.path_params["id"]
    if not is_uuid(sid):
        # names are not ids: clients fall back to ?name= on this 404
        raise NotFound(f"Instance {sid} could not be found.")
    return sid

