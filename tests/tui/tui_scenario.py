"""A fixed cloud for the snapshot tests: four instances in the main states, a full launch
trace, scheduler decisions (one placed, one with no valid host), actions and a console."""
from __future__ import annotations

from datetime import timedelta

from tui.fake_adapter import NOW, FakeAdapter, iso, server

ACTIVE = "00000000-0000-4000-8000-000000000001"
BUILDING = "00000000-0000-4000-8000-000000000002"
FAILED = "00000000-0000-4000-8000-000000000003"
STOPPED = "00000000-0000-4000-8000-000000000004"

DOWN = "service down: no heartbeat for 42 s"
RAM_1 = "RAM: 2816 MB free of 4096 MB × 1.0 − 512 reserved − 768 used, 4096 MB requested"
RAM_2 = "RAM: 3072 MB free of 4096 MB × 1.0 − 512 reserved − 512 used, 4096 MB requested"
NO_HOST = (f"No valid host was found: 3 hosts considered; ComputeFilter removed 1 (compute-3: {DOWN}); "
           f"RamFilter removed 2 (compute-1: {RAM_1}; compute-2: {RAM_2})")
FAULT = {"code": 500, "message": NO_HOST,
         "details": f"ComputeFilter removed compute-3: {DOWN}\nRamFilter removed compute-1: {RAM_1}\n"
                    f"RamFilter removed compute-2: {RAM_2}",
         "host": None, "created": iso(NOW - timedelta(seconds=30))}


def _t(i: int, ms: float, service: str, kind: str = "step", step: str | None = None,
       phase: str | None = None, dur: float | None = None, topic=None, method=None, sid=ACTIVE,
       detail: str | None = None, ago_ms: int = 60_000) -> dict:
    """A trace record as the facade gives it: epoch seconds, string details."""
    ts = (NOW - timedelta(milliseconds=ago_ms) + timedelta(milliseconds=ms)).timestamp()
    return {"id": i, "ts": ts, "request_id": "req-0001", "instance_uuid": sid, "service": service,
            "kind": kind, "topic": topic, "method": method, "step": step, "phase": phase,
            "duration_ms": dur, "detail": detail}


def launch_trace(sid: str = ACTIVE, running: bool = False) -> list[dict]:
    """The launch's steps as the backend names them (the conductor's event and instance
    updates left out). The running one started 200 ms before the fixed clock, so the spawn is
    mid-way."""
    ago = 200 if running else 60_000
    t = lambda i, ms, *a, **k: _t(i, ms, *a, sid=sid, ago_ms=ago, **k)  # noqa: E731
    q = lambda i, ms, kind, topic, method, dur=None: t(i, ms, "queue", kind=kind, topic=topic,  # noqa: E731
                                                       method=method, dur=dur)
    recs = [
        t(1, 4, "identity", step="token validated", phase="end", dur=4, detail="admin in admin (admin,member)"),
        t(2, 20, "compute-api", step="request checked", phase="end", dur=15,
          detail="policy, quota, image, flavor, network"),
        t(3, 30, "compute-api", step="instance recorded", phase="end", detail="building/scheduling/NOSTATE"),
        q(4, 31, "cast", "conductor", "build_instances"),
        t(5, 33, "conductor", step="schedule", phase="start"),
        q(6, 34, "call", "scheduler", "select_destinations"),
        t(7, 35, "scheduler", step="filter and weigh", phase="start"),
        t(8, 47, "scheduler", step="filter and weigh", phase="end", dur=12),
        q(9, 47, "reply", "scheduler", "select_destinations", dur=13),
        t(10, 48, "conductor", step="schedule", phase="end", dur=15),
        q(11, 49, "cast", "compute.compute-1", "build_and_run_instance"),
        t(12, 50, "compute", step="build", phase="start", detail="compute-1"),
        t(13, 51, "compute", step="claim", phase="start", detail="compute-1"),
        q(14, 52, "call", "conductor", "instance_claim"),
        q(15, 56, "reply", "conductor", "instance_claim", dur=4),
        t(16, 57, "compute", step="claim", phase="end", dur=6, detail="compute-1"),
        t(17, 58, "network", step="allocate ports", phase="start"),
        q(18, 59, "call", "network", "allocate_for_instance"),
        q(19, 70, "reply", "network", "allocate_for_instance", dur=11),
        t(20, 71, "network", step="allocate ports", phase="end", dur=13),
        t(21, 72, "image", step="fetch image", phase="start"),
        q(22, 73, "call", "image", "get_image_file"),
        q(23, 130, "reply", "image", "get_image_file", dur=57),
        t(24, 131, "image", step="fetch image", phase="end", dur=59),
        t(25, 132, "volume", step="block device mapping", phase="start"),
        t(26, 140, "volume", step="block device mapping", phase="end", dur=8),
        t(27, 141, "hypervisor", step="spawn", phase="start", detail="compute-1"),
    ]
    if not running:
        recs += [t(28, 260, "hypervisor", step="spawn", phase="end", dur=119, detail="compute-1"),
                 t(29, 262, "compute", step="build", phase="end", dur=212, detail="compute-1")]
    return recs


FILTERS = ["IgnoreHosts", "ComputeFilter", "AvailabilityZoneFilter", "RamFilter", "CoreFilter", "DiskFilter",
           "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter"]
WEIGHERS = ["BuildFailureWeigher", "CPUWeigher", "DiskWeigher", "NumInstancesWeigher", "RAMWeigher"]


def _filters(removed: dict[str, list[tuple[str, str]]], considered: int = 3) -> list[dict]:
    out, left = [], considered
    for name in FILTERS:
        gone = removed.get(name, [])
        left -= len(gone)
        out.append({"name": name, "removed": [{"host": h, "reason": r} for h, r in gone], "remaining": left})
    return out


def _weights(host: str, values: list[float]) -> dict:
    return {"host": host, "total": sum(values), "by_weigher": dict(zip(WEIGHERS, values))}


def placed_decision(sid: str = ACTIVE) -> list[dict]:
    return [{"alternates": ["compute-2"], "attempt": 1, "created": iso(NOW - timedelta(seconds=60)),
             "filters": _filters({"ComputeFilter": [("compute-3", DOWN)]}),
             "hosts_considered": 3, "instance_uuid": sid, "message": None,
             "requested": {"availability_zone": None, "disk_gb": 1, "memory_mb": 128, "vcpus": 1},
             "selected": "compute-1",
             "weights": [_weights("compute-1", [0.0, 1.0, 1.0, 0.0, 1.0]),
                         _weights("compute-2", [0.0, 0.25, 0.5, 1.0, 0.0])],
             "build_attempts": []}]


def no_host_decision(sid: str = FAILED) -> list[dict]:
    return [{"alternates": [], "attempt": 1, "created": iso(NOW - timedelta(seconds=30)),
             "filters": _filters({"ComputeFilter": [("compute-3", DOWN)],
                                  "RamFilter": [("compute-1", RAM_1), ("compute-2", RAM_2)]}),
             "hosts_considered": 3, "instance_uuid": sid, "message": NO_HOST,
             "requested": {"availability_zone": None, "disk_gb": 4, "memory_mb": 4096, "vcpus": 2},
             "selected": None, "weights": [], "build_attempts": []}]


def actions(sid: str = ACTIVE) -> list[dict]:
    t = lambda s: iso(NOW - timedelta(seconds=s))  # noqa: E731
    ev = lambda name, host=None: {"event": name, "start_time": t(60), "finish_time": t(59),  # noqa: E731
                                  "result": "Success", "host": host, "details": None}
    return [{"action": "create", "instance_uuid": sid, "request_id": "req-0001", "user_id": "u-admin",
             "project_id": "p-admin", "start_time": t(60), "finish_time": t(59), "message": None,
             "events": [ev("conductor_schedule_and_build_instances"),
                        ev("compute__do_build_and_run_instance", "compute-1"),
                        ev("compute_claim_resources", "compute-1"),
                        ev("compute_allocate_network", "compute-1"),
                        ev("compute_fetch_image", "compute-1"),
                        ev("compute_block_device_mapping", "compute-1"),
                        ev("compute_spawn", "compute-1")]}]


def build() -> FakeAdapter:
    a = FakeAdapter()
    for s in (server(1, "ACTIVE", age_s=3600 * 5, name="web-1"),
              server(2, "BUILD", host="compute-2", age_s=20, task="spawning", name="db-1"),
              server(3, "ERROR", host=None, age_s=30, fault=FAULT, name="big-1"),
              server(4, "SHUTOFF", host="compute-1", age_s=86400 * 2, name="old-1")):
        a.servers[s["id"]] = s
    a.servers[FAILED]["flavor"] = {"id": "3", "name": "m1.medium", "vcpus": 2, "ram": 4096, "disk": 4,
                                 "swap": 0, "ephemeral": 0}
    a.traces = {ACTIVE: launch_trace(), BUILDING: launch_trace(BUILDING, running=True)}
    a.decisions = {ACTIVE: placed_decision(), FAILED: no_host_decision()}
    a.actions = {ACTIVE: actions()}
    a.console = {ACTIVE: "SeaBIOS (version 1.16.2)\nBooting from ROM...\n[    0.000000] Linux version 6.1.0\n"
                         "pocketstack guest web-1 up: 10.0.0.3\nPOCKETSTACK-BOOT-OK\n"}
    return a


def hostile(name: str) -> FakeAdapter:
    """The scenario with every string the API gives replaced by `name` behind a short prefix
    of its own ('srv' + name for the instance, 'img' + name for the image, ...), so that each
    place can be found on screen."""
    import json
    a = build()
    a.f_create_volume(None, 1, name="vol" + name)
    a.user["name"] = "usr" + name
    a.projects_list[0]["name"] = "prj" + name
    a.projects_list[1]["name"] = "prz" + name  # sorted after the first
    a.servers[FAILED]["fault"] = dict(FAULT, message="flt" + name, details="dtl" + name)
    a.console = {sid: f"con{name}\n" for sid in a.servers}
    a.hosts["compute-3"]["down_reason"] = "dwn" + name
    swap = {"web-1": "srv", "tiny-linux": "img", "m1.tiny": "fl", "private": "net", "compute-1": "host",
            "nova": "az", DOWN: "why", "policy, quota, image, flavor, network": "trc",
            "filter and weigh": "stp", "compute_spawn": "evt", "req-0001": "req"}
    for attr in ("servers", "hosts", "traces", "decisions", "actions", "images", "flavors", "networks"):
        text = json.dumps(getattr(a, attr))
        for old, prefix in swap.items():
            text = text.replace(json.dumps(old), json.dumps(prefix + name))
        setattr(a, attr, json.loads(text))
    a.hosts = {h["name"]: h for h in a.hosts.values()}
    a.actions[ACTIVE][0]["message"] = "msg" + name
    return a


def wired() -> FakeAdapter:
    """The scenario with neutron's L3 on 'private': a router with its interface (10.0.0.1) and
    a gateway on the external 'public', a floating IP on web-1's port."""
    import copy
    from tui.fake_adapter import NETWORK, SUBNET
    a = build()
    pub = dict(copy.deepcopy(NETWORK), id="net-0002", name="public", shared=False, external=True,
               subnets=["sub-0002"], **{"provider:segmentation_id": 77})
    a.networks.append(pub)
    a.subnets.append(dict(copy.deepcopy(SUBNET), id="sub-0002", name="public-subnet", network_id="net-0002",
                          cidr="172.24.4.0/24", gateway_ip="172.24.4.1",
                          allocation_pools=[{"start": "172.24.4.2", "end": "172.24.4.254"}]))
    a.routers = [{"id": "rtr-0001", "name": "router1", "status": "ACTIVE"}]

    def leg(pid, net, sub, ip, owner, device, mac):
        return dict(copy.deepcopy(a.ports[0]), id=pid, network_id=net, device_id=device, device_owner=owner,
                    mac_address=mac, fixed_ips=[{"subnet_id": sub, "ip_address": ip}], binding_host_id=None,
                    **{"binding:host_id": "", "binding:vif_type": "unbound"})
    a.ports += [leg("port-rtr1", "net-0001", "sub-0001", "10.0.0.1", "network:router_interface", "rtr-0001",
                    "fa:16:3e:00:a0:01"),
                leg("port-rtgw", "net-0002", "sub-0002", "172.24.4.2", "network:router_gateway", "rtr-0001",
                    "fa:16:3e:00:a0:02"),
                leg("port-fip1", "net-0002", "sub-0002", "172.24.4.10", "network:floatingip", "fip-0001",
                    "fa:16:3e:00:a0:03")]
    a.floatingips = [{"port_id": "port-0001", "floating_ip_address": "172.24.4.10"}]
    web = a.servers[ACTIVE]["addresses"]["private"]
    web.append(dict(web[0], addr="172.24.4.10", type="floating"))
    return a
