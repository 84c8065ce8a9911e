"""CLI commands of the compute service: server, hypervisor, flavor."""
from __future__ import annotations

import argparse
import json

from backend.cli.client import ApiError, CliError, Client
from backend.cli.output import show_list, show_one

S = "compute"


def find_server(c: Client, ref: str) -> dict:
    # nova's name filter is a regex: anchor it, then keep exact matches only
    try:
        return c.get(S, f"/servers/{ref}")["server"]
    except ApiError as e:
        if e.status != 404:
            raise
    import re
    items = c.get(S, "/servers/detail", params={"name": f"^{re.escape(ref)}$"})["servers"]
    exact = [s for s in items if s["name"] == ref]
    if not exact:
        raise CliError(f"no server named or with id {ref!r}")
    if len(exact) > 1:
        raise CliError(f"more than one server is named {ref!r}: use its id")
    return exact[0]


def _addresses(s: dict) -> str:
    return "; ".join(f"{net}={', '.join(a['addr'] for a in addrs)}"
                     for net, addrs in (s.get("addresses") or {}).items())


def _names(c: Client) -> tuple[dict, dict]:
    flavors = {f["id"]: f["name"] for f in c.get(S, "/flavors")["flavors"]}
    images = {i["id"]: i["name"] for i in c.get("image", "/images")["images"]}
    return flavors, images


def server_row(s: dict, flavors: dict | None = None, images: dict | None = None) -> dict:
    flavors, images = flavors or {}, images or {}
    img = s.get("image") or {}
    fid = (s.get("flavor") or {}).get("id")
    out = {"id": s["id"], "name": s["name"], "status": s["status"],
           "task_state": s.get("OS-EXT-STS:task_state"), "vm_state": s.get("OS-EXT-STS:vm_state"),
           "power_state": s.get("OS-EXT-STS:power_state"), "networks": _addresses(s),
           "image": (f"{images.get(img['id'], '')} ({img['id']})".strip() if img
                     else "N/A (booted from volume)"),
           "flavor": f"{flavors.get(fid, '')} ({fid})".strip(),
           "availability_zone": s.get("OS-EXT-AZ:availability_zone"),
           "host": s.get("OS-EXT-SRV-ATTR:host"), "created": s.get("created"),
           "updated": s.get("updated"), "project_id": s.get("tenant_id"),
           "user_id": s.get("user_id"),
           "volumes_attached": ", ".join(v["id"] for v in s.get("os-extended-volumes:volumes_attached", []))}
    if s.get("fault"):
        out["fault"] = s["fault"].get("message")
    return out


def _wait_active(c: Client, sid: str, name: str) -> dict:
    def failed(s):
        if s["status"] == "ERROR":
            return f"went to ERROR: {(s.get('fault') or {}).get('message', 'no fault recorded')}"
    return c.wait(f"server {name}", lambda: c.get(S, f"/servers/{sid}")["server"],
                  lambda s: s["status"] == "ACTIVE", failed)


def server_create(c: Client, a) -> None:
    image = c.find("image", "/images", "image", a.image, wrapped=False)
    flavor = c.find(S, "/flavors", "flavor", a.flavor, list_path="/flavors")
    count = max(a.max or a.min, a.min)
    body = {"name": a.name, "flavorRef": flavor["id"], "min_count": a.min, "max_count": count}
    if a.boot_volume_size:
        body["block_device_mapping_v2"] = [{"boot_index": 0, "uuid": image["id"],
                                            "source_type": "image", "destination_type": "volume",
                                            "volume_size": a.boot_volume_size,
                                            "delete_on_termination": True}]
    else:
        body["imageRef"] = image["id"]
    if a.network:
        body["networks"] = [{"uuid": c.find("network", "/networks", "network", n)["id"]}
                            for n in a.network]
    if a.availability_zone:
        body["availability_zone"] = a.availability_zone
    if count > 1:
        # several servers: find them all by their reservation, wait for each
        body["return_reservation_id"] = True
        rid = c.post(S, "/servers", {"server": body})["reservation_id"]
        servers = c.get(S, "/servers/detail", params={"reservation_id": rid})["servers"]
        if a.wait:
            servers = [_wait_active(c, x["id"], x["name"]) for x in servers]
        flavors, images = _names(c)
        cols = [("ID", "id"), ("Name", "name"), ("Status", "status"), ("Networks", "networks")]
        show_list(a.format, cols, [server_row(x, flavors, images) for x in servers])
        return
    created = c.post(S, "/servers", {"server": body})["server"]
    s = _wait_active(c, created["id"], a.name) if a.wait else c.get(S, f"/servers/{created['id']}")["server"]
    show_one(a.format, server_row(s, *_names(c)))


def server_list(c: Client, a) -> None:
    params = {"all_tenants": "1"} if a.all_projects else {}
    servers, url = [], "/servers/detail"
    while True:
        page = c.get(S, url, params=params)
        servers += page["servers"]
        nxt = [link["href"] for link in page.get("servers_links", []) if link["rel"] == "next"]
        if not nxt:
            break
        url, params = "/servers/detail?" + nxt[0].split("?", 1)[1], {}
    flavors, images = _names(c)
    rows = [server_row(s, flavors, images) for s in servers]
    cols = [("ID", "id"), ("Name", "name"), ("Status", "status"), ("Networks", "networks"),
            ("Image", "image"), ("Flavor", "flavor")]
    if a.long:
        cols += [("Task State", "task_state"), ("Power State", "power_state"),
                 ("Availability Zone", "availability_zone"), ("Host", "host")]
    show_list(a.format, cols, rows)


def server_show(c: Client, a) -> None:
    show_one(a.format, server_row(find_server(c, a.server), *_names(c)))


def server_delete(c: Client, a) -> None:
    for ref in a.server:
        s = find_server(c, ref)
        c.delete(S, f"/servers/{s['id']}")
        if a.wait:
            def gone():
                try:
                    c.get(S, f"/servers/{s['id']}")
                    return False
                except ApiError as e:
                    if e.status == 404:
                        return True
                    raise
            c.wait(f"deleting server {ref}", gone, lambda g: g)


def _action(body_of):
    def run(c: Client, a) -> None:
        s = find_server(c, a.server)
        c.post(S, f"/servers/{s['id']}/action", body_of(a))
        if getattr(a, "wait", False):
            want = "SHUTOFF" if "os-stop" in body_of(a) else "ACTIVE"
            c.wait(f"server {a.server}", lambda: c.get(S, f"/servers/{s['id']}")["server"],
                   lambda x: x["status"] == want and not x.get("OS-EXT-STS:task_state"),
                   lambda x: x["status"] == "ERROR" and "went to ERROR")
    return run


def server_events(c: Client, a) -> None:
    s = find_server(c, a.server)
    acts = c.get(S, f"/servers/{s['id']}/os-instance-actions")["instanceActions"]
    if a.long:
        rows = []
        for act in acts:
            full = c.get(S, f"/servers/{s['id']}/os-instance-actions/{act['request_id']}")["instanceAction"]
            for e in full.get("events", []):
                rows.append({**act, **e})
        show_list(a.format, [("Request ID", "request_id"), ("Action", "action"), ("Event", "event"),
                             ("Result", "result"), ("Host", "host"), ("Start Time", "start_time"),
                             ("Finish Time", "finish_time")], rows)
        return
    show_list(a.format, [("Request ID", "request_id"), ("Server ID", "instance_uuid"),
                         ("Action", "action"), ("Start Time", "start_time"),
                         ("Message", "message")], acts)


def server_console(c: Client, a) -> None:
    s = find_server(c, a.server)
    out = c.post(S, f"/servers/{s['id']}/action", {"os-getConsoleOutput": {"length": a.lines}},
                 ok=(200,))["output"]
    print(out, end="" if out.endswith("\n") or not out else "\n")


def _console_attach(c: Client, a) -> None:
    from backend.cli.console import server_console_attach
    server_console_attach(c, a)


def server_explain(c: Client, a) -> None:
    import json
    s = find_server(c, a.server)
    decisions = c.get(S, f"/servers/{s['id']}/os-pocketstack-explain")["decisions"]
    if a.format == "json":
        print(json.dumps(decisions, indent=2))
        return
    if not decisions:
        print(f"server {a.server}: no scheduling decision recorded (yet)")
    for d in decisions:
        req = d.get("requested") or {}
        print(f"attempt {d.get('attempt')}: {d.get('hosts_considered')} host(s) considered for "
              f"{req.get('vcpus')} vCPU, {req.get('memory_mb')} MB RAM, {req.get('disk_gb')} GB disk"
              + (f" in zone {req['availability_zone']}" if req.get("availability_zone") else ""))
        for f in d.get("filters", []):
            removed = f.get("removed") or []
            print(f"  {f['name']}: removed {len(removed)}, {f.get('remaining')} remaining")
            for r in removed:
                print(f"    - {r['host']}: {r['reason']}")
        for w in d.get("weights", []):
            parts = ", ".join(f"{k}={v:.3f}" for k, v in (w.get("by_weigher") or {}).items())
            print(f"  weight {w['host']}: {w['total']:.3f} ({parts})")
        if d.get("selected"):
            alts = ", ".join(d.get("alternates") or []) or "none"
            print(f"  selected {d['selected']} (alternates: {alts})")
        if d.get("message"):
            print(f"  {d['message']}")


def server_trace(c: Client, a) -> None:
    s = find_server(c, a.server)
    items = c.get(S, f"/servers/{s['id']}/os-pocketstack-trace")["trace"]
    if a.format != "json":
        import datetime
        for t in items:
            if isinstance(t.get("ts"), (int, float)):
                t["ts"] = datetime.datetime.fromtimestamp(t["ts"], datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]
            if isinstance(t.get("duration_ms"), (int, float)):
                t["duration_ms"] = f"{t['duration_ms']:.3f}"
    show_list(a.format, [("Time", "ts"), ("Service", "service"), ("Kind", "kind"),
                         ("Topic", "topic"), ("Method", "method"), ("Step", "step"),
                         ("Phase", "phase"), ("ms", "duration_ms")], items)


def server_flow(c: Client, a) -> None:
    """The launch as the six steps of the seed, as the app's Flow tab shows it."""
    s = find_server(c, a.server)
    flow = c.get(S, f"/servers/{s['id']}/os-pocketstack-flow")["flow"]
    if a.format == "json":
        print(json.dumps(flow, indent=2))
        return
    running = f", step {flow['current_step']} running" if flow.get("current_step") else ""
    print(f"server {a.server}: launch {flow['status']}{running} (request {flow.get('request_id')})")
    tok = flow.get("token") or {}
    for st in flow["steps"]:
        took = "" if st["duration_ms"] is None else f" at +{st['offset_ms']:.2f} ms, took {st['duration_ms']:.2f} ms"
        print(f"{st['number']}. {st['title']}: {st['status']}{took}")
        if st["number"] == 1 and tok.get("user"):
            print(f"   token of {tok['user']} on project {tok['project']} with roles {', '.join(tok['roles'])}, "
                  f"scoped at {tok['scoped_at']}, validated by {tok['validated_by']}")
        for label, items in (("services", st["services"]), ("queues", st["queues"])):
            if items:
                print(f"   {label}: {', '.join(items)}")
        if st["states"]:
            print("   states: " + " -> ".join(f"{x['vm_state']}/{x['task_state']}/{x['power_state']}"
                                             for x in st["states"]))
        for r in st["runs"] if len(st["runs"]) > 1 else []:
            print(f"   attempt {r['attempt']} on {r['host'] or '-'}: {r['status']}"
                  + (f" ({r['fault']})" if r.get("fault") else ""))
        if st["fault"]:
            print(f"   fault: {st['fault']}")
        for m in st["messages"] if a.messages else []:
            what = (f"{m['topic']}.{m['method']}" if m["kind"] in ("cast", "call", "reply")
                    else " ".join(x for x in (m["service"], m["step"], m["phase"]) if x))
            print(f"     {m['kind']:<5} {what}" + (f"  {m['detail']}" if m.get("detail") else ""))


def hypervisor_rows(c: Client) -> list[dict]:
    out = []
    # nova's view plus pocketstack's keys (zone, driver, allocation ratios)
    for h in c.get(S, "/os-pocketstack-hypervisors")["hypervisors"]:
        out.append({"id": h["id"], "name": h["hypervisor_hostname"], "state": h["state"],
                    "status": h["status"], "zone": h.get("pocketstack:availability_zone"),
                    "driver": h.get("pocketstack:driver") or h.get("hypervisor_type"),
                    "address": h.get("host_ip"),
                    "vcpus": f"{h['vcpus_used']}/{h['vcpus']}",
                    "memory_mb": f"{h['memory_mb_used']}/{h['memory_mb']}",
                    "disk_gb": f"{h['local_gb_used']}/{h['local_gb']}",
                    "running_vms": h["running_vms"], "accelerator": h.get("pocketstack:accelerator"),
                    "cpu_allocation_ratio": h.get("pocketstack:cpu_allocation_ratio"),
                    "ram_allocation_ratio": h.get("pocketstack:ram_allocation_ratio"),
                    "disk_allocation_ratio": h.get("pocketstack:disk_allocation_ratio"),
                    "down_reason": (h.get("service") or {}).get("disabled_reason")})
    return out


def hypervisor_list(c: Client, a) -> None:
    show_list(a.format, [("ID", "id"), ("Hypervisor Hostname", "name"), ("State", "state"),
                         ("Status", "status"), ("Zone", "zone"), ("Driver", "driver"),
                         ("vCPUs used/total", "vcpus"), ("RAM MB used/total", "memory_mb"),
                         ("Disk GB used/total", "disk_gb"), ("VMs", "running_vms")],
              hypervisor_rows(c))


def hypervisor_show(c: Client, a) -> None:
    for h in hypervisor_rows(c):
        if a.hypervisor in (str(h["id"]), h["name"]):
            return show_one(a.format, h)
    raise CliError(f"no hypervisor named or with id {a.hypervisor!r}")


FLAVOR_COLS = [("ID", "id"), ("Name", "name"), ("RAM", "ram"), ("Disk", "disk"),
               ("VCPUs", "vcpus"), ("Is Public", "os-flavor-access:is_public")]


def _flavor(f: dict) -> dict:
    return {k: f.get(k) for _, k in FLAVOR_COLS}


def flavor_list(c: Client, a) -> None:
    show_list(a.format, FLAVOR_COLS, c.get(S, "/flavors/detail")["flavors"])


def flavor_show(c: Client, a) -> None:
    f = c.find(S, "/flavors", "flavor", a.flavor, list_path="/flavors")
    show_one(a.format, _flavor(c.get(S, f"/flavors/{f['id']}")["flavor"]))


def flavor_create(c: Client, a) -> None:
    body = {"name": a.name, "vcpus": a.vcpus, "ram": a.ram, "disk": a.disk,
            "os-flavor-access:is_public": not a.private}
    if a.id:
        body["id"] = a.id
    show_one(a.format, _flavor(c.post(S, "/flavors", {"flavor": body})["flavor"]))


def flavor_delete(c: Client, a) -> None:
    f = c.find(S, "/flavors", "flavor", a.flavor, list_path="/flavors")
    c.delete(S, f"/flavors/{f['id']}")


def register(groups, fmt: argparse.ArgumentParser) -> None:
    srv = groups.add_parser("server", help="servers (instances)").add_subparsers(dest="cmd", required=True)
    p = srv.add_parser("create", parents=[fmt], help="launch a server")
    p.add_argument("name")
    p.add_argument("--image", required=True)
    p.add_argument("--flavor", required=True)
    p.add_argument("--network", action="append", help="network name or id (repeatable)")
    p.add_argument("--boot-volume-size", type=int, metavar="GB",
                   help="boot from a new volume of this size made from the image")
    p.add_argument("--availability-zone")
    p.add_argument("--min", type=int, default=1)
    p.add_argument("--max", type=int, default=None)
    p.add_argument("--wait", action="store_true", help="wait until ACTIVE (fail on ERROR)")
    p.set_defaults(func=server_create)
    p = srv.add_parser("list", parents=[fmt])
    p.add_argument("--all-projects", action="store_true")
    p.add_argument("--long", action="store_true")
    p.set_defaults(func=server_list)
    for name, fn in (("show", server_show), ("explain", server_explain), ("trace", server_trace)):
        p = srv.add_parser(name, parents=[fmt])
        p.add_argument("server")
        p.set_defaults(func=fn)
    p = srv.add_parser("flow", parents=[fmt], help="the launch as the six steps, with states and queues")
    p.add_argument("server")
    p.add_argument("--messages", action="store_true", help="every bus message under its step")
    p.set_defaults(func=server_flow)
    p = srv.add_parser("delete")
    p.add_argument("server", nargs="+")
    p.add_argument("--wait", action="store_true")
    p.set_defaults(func=server_delete)
    for name, body in (("stop", lambda a: {"os-stop": None}), ("start", lambda a: {"os-start": None}),
                       ("reboot", lambda a: {"reboot": {"type": "HARD" if a.hard else "SOFT"}})):
        p = srv.add_parser(name)
        p.add_argument("server")
        p.add_argument("--wait", action="store_true")
        if name == "reboot":
            p.add_argument("--hard", action="store_true")
        p.set_defaults(func=_action(body))
    ev = srv.add_parser("event").add_subparsers(dest="sub", required=True)
    p = ev.add_parser("list", parents=[fmt])
    p.add_argument("server")
    p.add_argument("--long", action="store_true", help="every event of every action")
    p.set_defaults(func=server_events)
    con = srv.add_parser("console").add_subparsers(dest="sub", required=True)
    p = con.add_parser("log")
    p.add_argument("server")
    p.add_argument("--lines", type=int, default=None)
    p.set_defaults(func=server_console)
    p = con.add_parser("attach", help="the serial console in this terminal (ctrl-] detaches)")
    p.add_argument("server")
    p.set_defaults(func=_console_attach)

    hyp = groups.add_parser("hypervisor", help="compute hosts").add_subparsers(dest="cmd", required=True)
    hyp.add_parser("list", parents=[fmt]).set_defaults(func=hypervisor_list)
    p = hyp.add_parser("show", parents=[fmt])
    p.add_argument("hypervisor")
    p.set_defaults(func=hypervisor_show)

    fl = groups.add_parser("flavor", help="flavors").add_subparsers(dest="cmd", required=True)
    fl.add_parser("list", parents=[fmt]).set_defaults(func=flavor_list)
    p = fl.add_parser("show", parents=[fmt])
    p.add_argument("flavor")
    p.set_defaults(func=flavor_show)
    p = fl.add_parser("create", parents=[fmt])
    p.add_argument("name")
    p.add_argument("--vcpus", type=int, required=True)
    p.add_argument("--ram", type=int, required=True, metavar="MB")
    p.add_argument("--disk", type=int, default=0, metavar="GB")
    p.add_argument("--id")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=flavor_create)
    p = fl.add_parser("delete")
    p.add_argument("flavor")
    p.set_defaults(func=flavor_delete)
