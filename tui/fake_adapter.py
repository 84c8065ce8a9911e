"""An in-memory adapter with fixed ids and times: the snapshot tests and the benchmark use
it so that what is drawn is deterministic. It answers with the facade's views, key for key
and type for type (tests/tui/test_fake_drift.py compares it with a real Cloud); functional
tests use the real facade instead."""
from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from backend.core.errors import BadRequest, NotFound, Unauthorized
from tui.adapter import Adapter, Event

NOW = datetime(2026, 11, 26, 15, 0, 0, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def fixed_clock() -> datetime:
    return NOW


USER = {"id": "u-admin", "name": "admin", "domain": {"id": "default", "name": "Default"}}
PROJECTS = [{"id": "p-admin", "name": "admin", "domain_id": "default", "description": "", "enabled": True,
             "tags": [], "parent_id": "default"},
            {"id": "p-demo", "name": "demo", "domain_id": "default", "description": "", "enabled": True,
             "tags": [], "parent_id": "default"}]
FLAVORS = [{"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 128, "disk": 1, "is_public": True, "swap": 0, "ephemeral": 0, "rxtx_factor": 1.0},
           {"id": "2", "name": "m1.small", "vcpus": 1, "ram": 256, "disk": 2, "is_public": True, "swap": 0, "ephemeral": 0, "rxtx_factor": 1.0},
           {"id": "3", "name": "m1.medium", "vcpus": 2, "ram": 512, "disk": 4, "is_public": True, "swap": 0, "ephemeral": 0, "rxtx_factor": 1.0}]
_SHA = "0" * 64
IMAGES = [{"id": "img-0001", "name": "tiny-linux", "status": "active", "disk_format": "raw",
           "container_format": "bare", "size": 9_437_184, "checksum": "0" * 32, "os_hash_algo": "sha256",
           "os_hash_value": _SHA, "sha256": _SHA, "min_ram": 96, "min_disk": 0,
           "visibility": "public", "owner": "p-admin", "properties": {}, "protected": False,
           "created_at": iso(NOW), "updated_at": iso(NOW), "tags": []}]
NETWORK = {"id": "net-0001", "name": "private", "project_id": "p-admin", "tenant_id": "p-admin", "shared": True,
           "status": "ACTIVE", "admin_state_up": True, "external": False, "subnets": ["sub-0001"],
           "created_at": iso(NOW), "provider:network_type": "vxlan", "provider:physical_network": None,
           "provider:segmentation_id": 4242}
# the network's DHCP port, on the network node (as neutron's DHCP agent makes it)
DHCP_PORT = {"id": "port-dhcp", "name": "", "network_id": "net-0001", "project_id": "p-admin", "tenant_id": "p-admin",
             "mac_address": "fa:16:3e:00:d0:01", "fixed_ips": [{"subnet_id": "sub-0001", "ip_address": "10.0.0.2"}],
             "device_id": "dhcp-net-0001", "device_owner": "network:dhcp", "binding_host_id": "controller",
             "status": "ACTIVE", "admin_state_up": True, "security_groups": [], "port_security_enabled": False,
             "binding:host_id": "controller", "binding:vnic_type": "normal", "binding:vif_type": "bridge"}
SUBNET = {"id": "sub-0001", "name": "private-subnet", "network_id": "net-0001", "project_id": "p-admin",
          "tenant_id": "p-admin", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1", "ip_version": 4,
          "enable_dhcp": True, "ipv6_ra_mode": None, "ipv6_address_mode": None,
          "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.254"}],
          "dns_nameservers": [], "host_routes": [], "created_at": iso(NOW)}


def hypervisor(name: str, state: str = "up", vcpus_used: int = 0, mem_used: int = 512,
               vms: int = 0, az: str = "nova") -> dict:
    return {"id": f"hv-{name}", "name": name, "state": state, "status": "enabled", "driver": "fake",
            "address": "127.0.0.1", "availability_zone": az, "vcpus": 4, "memory_mb": 4096,
            "disk_gb": 40, "vcpus_used": vcpus_used, "memory_mb_used": mem_used, "disk_gb_used": vms,
            "running_vms": vms, "cpu_allocation_ratio": 4.0, "ram_allocation_ratio": 1.0,
            "disk_allocation_ratio": 1.0, "reserved_host_memory_mb": 512, "hypervisor_type": "fake",
            "hypervisor_version": "1.0", "accelerator": "none", "last_heartbeat": NOW.timestamp(),
            "down_reason": None if state == "up" else "no heartbeat for 42 s", "failed_builds": 0}


def server(n: int, status: str = "ACTIVE", host: str | None = "compute-1", age_s: int = 600,
           project: str = "p-admin", fault: dict | None = None, task: str | None = None,
           name: str | None = None) -> dict:
    vm = {"ACTIVE": "active", "BUILD": "building", "ERROR": "error", "SHUTOFF": "stopped"}[status]
    power = {"ACTIVE": (1, "Running"), "SHUTOFF": (4, "Shutdown")}.get(status, (0, "NOSTATE"))
    created = NOW - timedelta(seconds=age_s)
    addr = {"private": [{"addr": f"10.0.{n // 250}.{n % 250 + 2}", "mac": f"fa:16:3e:00:{n // 256:02x}:{n % 256:02x}",
                         "version": 4, "type": "fixed"}]} if status in ("ACTIVE", "SHUTOFF") else {}
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "name": name or f"vm-{n:04d}",
            "hostname": name or f"vm-{n:04d}", "project_id": project, "user_id": "u-admin",
            "status": status, "vm_state": vm, "task_state": task, "power_state": power[0],
            "power_state_name": power[1], "host": host, "availability_zone": "nova",
            "flavor": {**{k: FLAVORS[0][k] for k in ("id", "name", "vcpus", "ram", "disk")}, "swap": 0, "ephemeral": 0},
            "image": {"id": "img-0001", "name": "tiny-linux"},
            "addresses": addr, "created": iso(created), "updated": iso(created),
            "launched_at": iso(created + timedelta(seconds=3)) if status == "ACTIVE" else None,
            "terminated_at": None, "boot_volume_id": None, "volumes_attached": [], "fault": fault,
            "reservation_id": f"r-{n:08d}", "metadata": {}, "deleted": False,
            "access_ip_v4": None, "access_ip_v6": None, "key_name": None, "security_groups": ["default"],
            "description": None, "launch_index": 0, "tags": [], "user_data": None, "kernel_id": "",
            "ramdisk_id": "", "host_status": "UP" if host else ""}


class FakeAdapter(Adapter):
    """Scripted cloud: `servers`, `hosts`, `traces`, `decisions` … are plain attributes the
    tests set; `emit()` pushes an event as the backend would (synchronously)."""

    def __init__(self) -> None:
        super().__init__()
        self.where = "fake"
        self.password = "secret"
        self.projects_list = copy.deepcopy(PROJECTS)
        self.user = copy.deepcopy(USER)
        self.flavors = copy.deepcopy(FLAVORS)
        self.images = copy.deepcopy(IMAGES)
        self.networks = [copy.deepcopy(NETWORK)]
        self.subnets = [copy.deepcopy(SUBNET)]
        self.ports = [copy.deepcopy(DHCP_PORT)]   # ports of no instance (DHCP, routers' legs)
        self.routers: list[dict] = []             # {id, name, status}
        self.floatingips: list[dict] = []         # {port_id, floating_ip_address}
        self.servers: dict[str, dict] = {}
        self.hosts = {h["name"]: h for h in (hypervisor("compute-1", vcpus_used=2, mem_used=768, vms=2),
                                              hypervisor("compute-2"),
                                              hypervisor("compute-3", state="down"))}
        self.traces: dict[str, list[dict]] = {}
        self.decisions: dict[str, list[dict]] = {}
        self.actions: dict[str, list[dict]] = {}
        self.console: dict[str, str] = {}
        self.volumes: list[dict] = []
        self.calls: list[tuple[str, tuple]] = []
        self.fail: dict[str, Exception] = {}   # facade method -> the error it raises
        self.next_id = 9000
        self.subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def emit(self, event: Event) -> None:
        for cb in list(self.subscribers):
            cb(event)

    def _token(self, project: dict | None) -> dict:
        return {"token": f"tok-{project['id'] if project else 'unscoped'}", "issued_at": iso(NOW),
                "expires_at": iso(NOW + timedelta(hours=1)), "methods": ["password"], "user": self.user,
                "project": {"id": project["id"], "name": project["name"],
                            "domain": {"id": "default", "name": "Default"}} if project else None,
                "roles": [{"id": "r-admin", "name": "admin"}, {"id": "r-member", "name": "member"}] if project else [],
                "is_admin": bool(project), "system": False, "domain": None}

    async def _invoke(self, method: str, *args, **kwargs) -> Any:
        self.calls.append((method, args))
        if method in self.fail:
            raise self.fail[method]
        fn = getattr(self, f"f_{method}", None)
        if fn is None:
            raise NotFound(f"the fake has no {method}")
        return copy.deepcopy(fn(*args, **kwargs))

    # ---- the facade, as far as the app uses it ----------------------------------------
    def f_login(self, user, password, project=None):
        if user != "admin" or password != self.password:
            raise Unauthorized("The request you have made requires authentication.")
        return self._token(None)

    def f_auth_projects(self, tok):
        return self.projects_list

    def f_scope(self, tok, project):
        p = next((p for p in self.projects_list if project in (p["id"], p["name"])), None)
        if p is None:
            raise Unauthorized(f"no role on project {project}")
        return self._token(p)

    def f_revoke_token(self, tok, subject=None):
        return None

    def _mine(self, tok):
        pid = tok.removeprefix("tok-")
        return [s for s in self.servers.values() if s["project_id"] == pid]

    def f_list_servers(self, tok, all_projects=False, filters=None, limit=None, marker=None):
        out = list(self.servers.values()) if all_projects else self._mine(tok)
        host = (filters or {}).get("host")
        return [s for s in out if not host or s["host"] == host]

    def f_get_server(self, tok, sid):
        if sid not in self.servers:
            raise NotFound(f"Instance {sid} could not be found.")
        return self.servers[sid]

    def f_create_server(self, tok, name, image, flavor, networks=None, boot_volume_size=None,
                        availability_zone=None, min_count=1, max_count=1, **kw):
        if name == "bad":
            raise BadRequest("Invalid name")
        out = []
        for i in range(max_count):
            self.next_id += 1
            s = server(self.next_id, "BUILD", host=None, age_s=0, task="scheduling",
                       project=tok.removeprefix("tok-"),
                       name=name if max_count == 1 else f"{name}-{i + 1}")
            self.servers[s["id"]] = s
            out.append(s)
        return out

    def _act(self, sid, **changes):
        s = self.f_get_server(None, sid)
        s.update(changes)

    def f_delete_server(self, tok, sid):
        self._act(sid, task_state="deleting")

    def f_stop_server(self, tok, sid):
        self._act(sid, task_state="powering-off")

    def f_start_server(self, tok, sid):
        self._act(sid, task_state="powering-on")

    def f_reboot_server(self, tok, sid, hard=False):
        self._act(sid, task_state="rebooting_hard" if hard else "rebooting")

    def f_list_instance_actions(self, tok, sid):
        return [{k: v for k, v in a.items() if k != "events"} for a in self.actions.get(sid, [])]

    def f_get_instance_action(self, tok, sid, rid):
        return next(a for a in self.actions.get(sid, []) if a["request_id"] == rid)

    def f_get_console_output(self, tok, sid, length=None):
        return self.console.get(sid, "")

    def f_explain_server(self, tok, sid):
        return self.decisions.get(sid, [])

    def f_get_trace(self, tok, sid):
        return self.traces.get(sid, [])

    def f_get_flow(self, tok, sid):
        # the backend's own grouping over the scripted views, on the fixed clock
        from backend.facade import Cloud
        return Cloud.flow_of(self.f_get_server(tok, sid), self.traces.get(sid, []), self.actions.get(sid, []),
                             now=NOW.timestamp())

    def f_list_flavors(self, tok):
        return self.flavors

    def f_list_images(self, tok, filters=None):
        return self.images

    def f_list_networks(self, tok, filters=None):
        return self.networks

    def f_list_subnets(self, tok, filters=None):
        return self.subnets

    def f_list_ports(self, tok, filters=None):
        # a stopped guest's tap is gone: its port is DOWN until it starts again
        out = [{"id": f"port-{s['id'][-4:]}", "name": "", "network_id": "net-0001", "project_id": s["project_id"],
                "tenant_id": s["project_id"], "mac_address": a["mac"],
                "fixed_ips": [{"subnet_id": "sub-0001", "ip_address": a["addr"]}],
                "device_id": s["id"], "device_owner": "compute:nova", "binding_host_id": s["host"],
                "status": "ACTIVE" if s["status"] == "ACTIVE" else "DOWN", "admin_state_up": True,
                "security_groups": ["sg-default"], "port_security_enabled": True,
                "binding:host_id": s["host"] or "", "binding:vnic_type": "normal",
                "binding:vif_type": "bridge" if s["host"] else "unbound"}
               # every scripted address is on net-0001, whatever the network is called
               for s in self.servers.values() for addrs in s["addresses"].values() for a in addrs
               if a.get("type") != "floating"] + self.ports
        return [p for p in out if all(p.get(k) == v for k, v in (filters or {}).items())]

    def f_list_network_wiring(self, tok):
        from backend.facade.network_wiring import wiring_of  # the facade's own composition
        return wiring_of(self.networks, self.f_list_ports(tok), self.floatingips, self.routers, admin=True,
                         node="controller")

    def f_list_volumes(self, tok, all_projects=False):
        return self.volumes

    def f_create_volume(self, tok, size, name="", description="", metadata=None, volume_type=None):
        self.next_id += 1
        v = {"id": f"vol-{self.next_id}", "name": name, "description": description, "project_id": "p-admin",
             "size": size, "status": "available", "host": None, "bootable": False, "image_id": None,
             "attachments": [], "created_at": iso(NOW), "updated_at": iso(NOW), "user_id": "u-admin",
             "metadata": dict(metadata or {}), "volume_type_id": None, "volume_type": "__DEFAULT__"}
        self.volumes.append(v)
        return v

    def f_delete_volume(self, tok, vid):
        self.volumes = [v for v in self.volumes if v["id"] != vid]

    def f_list_hypervisors(self, tok):
        return list(self.hosts.values())

    def f_glossary(self, tok):
        from backend.core.glossary import entries  # the backend's own words: pure data
        return entries()
