"""L2 commands (Neutron's linuxbridge agent): per network a bridge brq<net[:11]> with a
VXLAN interface vxlan-<vni> whose unicast flooding list names the other hosts with ports on
the network (l2population), a tap<port[:11]> per port made for the unprivileged user that
runs qemu. Every command checks all its arguments before it changes anything, and is
idempotent (a repeated plug or unplug is harmless). `list` reports what is ours on this host."""
import json
import os

from . import checks

COMMANDS: dict = {}
VXLAN_PORT = "4789"      # IANA's VXLAN port (the kernel's default is Linux's older 8472)
# Neutron's network MTU for VXLAN: a 1500-byte underlay less the outer IPv4, UDP and VXLAN
# headers; the VXLAN and every tap on the bridge get it
MTU = "1450"
FLOOD_MAC = "00:00:00:00:00:00"


def bridge_name(network_id: str) -> str:
    return "brq" + network_id[:11]


def tap_name(port_id: str) -> str:
    return "tap" + port_id[:11]


def vxlan_name(vni: int) -> str:
    return f"vxlan-{int(vni)}"


def command(name):
    def reg(fn):
        COMMANDS[name] = fn
        return fn
    return reg


# ---- reading the host --------------------------------------------------------------------
def _links(*args) -> list:
    proc = checks.run(["ip", "-j", "-d", "link", "show", *args], check=False)
    if proc.returncode != 0:
        return []
    return json.loads(proc.stdout or "[]")


def _link(name: str) -> dict | None:
    found = _links("dev", name)
    return found[0] if found else None


def _kind(link: dict) -> str:
    return (link.get("linkinfo") or {}).get("info_kind", "")


def _flood_list(vxlan: str) -> list:
    proc = checks.run(["bridge", "-j", "fdb", "show", "dev", vxlan], check=False)
    if proc.returncode != 0:
        return []
    return sorted({e["dst"] for e in json.loads(proc.stdout or "[]")
                   if e.get("mac") == FLOOD_MAC and e.get("dst")})


# ---- the pieces ---------------------------------------------------------------------------
# Each piece plans `ip` commands against one reading of the links; a command runs them in one
# `ip -batch` (one process instead of one per step: a plug is on every boot's path). Batch
# lines split on whitespace: every name and address in them passed the checks (no spaces).
def _by_name() -> dict:
    return {x["ifname"]: x for x in _links()}


def _run_batch(tool: str, lines: list) -> None:
    if lines:
        proc = checks.run([tool, "-batch", "-"], check=False, input="\n".join(lines) + "\n")
        if proc.returncode != 0:
            raise checks.CommandFailed(f"{tool} -batch failed ({proc.returncode}): "
                                       f"{(proc.stderr or proc.stdout).strip()[:400]}")


def _plan_bridge(links: dict, bridge: str) -> list:
    link = links.get(bridge)
    if link is not None and _kind(link) != "bridge":
        raise checks.CommandFailed(f"{bridge} exists and is not a bridge")
    return ([] if link else [f"link add {bridge} type bridge"]) + [f"link set {bridge} up"]


def _plan_vxlan(links: dict, bridge: str, vni: int, local: str) -> tuple[list, bool]:
    """(commands, whether the VXLAN is new: then it has no flooding list yet)."""
    name = f"vxlan-{vni}"
    link, out = links.get(name), []
    if link is not None:
        data = (link.get("linkinfo") or {}).get("info_data") or {}
        if _kind(link) != "vxlan" or data.get("id") != vni:
            raise checks.CommandFailed(f"{name} exists and is not VXLAN {vni}")
        if link.get("master") not in (None, bridge):
            raise checks.CommandFailed(f"{name} belongs to bridge {link['master']}, not {bridge}")
        if data.get("local") != local:  # the host's address changed: make it again
            out.append(f"link del {name}")
            link = None
    if link is None:
        out.append(f"link add {name} type vxlan id {vni} local {local} dstport {VXLAN_PORT}")
    return out + [f"link set {name} mtu {MTU} master {bridge} up"], link is None


def _plan_tap(links: dict, tap: str, bridge: str, user: str) -> list:
    link = links.get(tap)
    if link is not None and _kind(link) != "tun":
        raise checks.CommandFailed(f"{tap} exists and is not a tap")
    return ([] if link else [f"tuntap add dev {tap} mode tap user {user}"]) + \
        [f"link set {tap} mtu {MTU} master {bridge} up"]


def _set_flood(vxlan: str, peers: list, new: bool = False) -> None:
    """The flooding list becomes exactly peers (BUM traffic is sent to each of them)."""
    have = set() if new else set(_flood_list(vxlan))
    gone = [f"fdb del {FLOOD_MAC} dev {vxlan} dst {dst}" for dst in sorted(have - set(peers))]
    if gone:  # -force: an entry another run removed meanwhile is as good as removed
        checks.run(["bridge", "-force", "-batch", "-"], check=False, input="\n".join(gone) + "\n")
    _run_batch("bridge", [f"fdb append {FLOOD_MAC} dev {vxlan} dst {dst}" for dst in peers if dst not in have])


def _plug(bridge: str, vni: int, local: str, peers: list, tap: str | None = None, user: str = "") -> None:
    """The network (bridge, VXLAN, flooding list) and, with tap, the port's tap on it. Every
    check against what exists is made before the first change."""
    links = _by_name()
    plan = _plan_bridge(links, bridge)
    vx, new = _plan_vxlan(links, bridge, vni, local)
    plan += vx
    if tap:
        plan += _plan_tap(links, tap, bridge, user)
    _run_batch("ip", plan)
    _set_flood(f"vxlan-{vni}", peers, new)


def _remove_tap(tap: str) -> bool:
    link = _link(tap)
    if link is None:
        return False
    if _kind(link) != "tun":
        raise checks.CommandFailed(f"{tap} is not a tap: not removed")
    checks.run(["ip", "link", "del", tap])
    return True


def _remove_network(bridge: str, vni: int) -> dict:
    """The bridge and its VXLAN go when nothing else is on the bridge."""
    link = _link(bridge)
    name = f"vxlan-{vni}"
    if link is None:
        vx = _link(name)
        if vx is not None and _kind(vx) == "vxlan" and vx.get("master") is None:
            checks.run(["ip", "link", "del", name])
        return {"removed": True, "ports": []}
    if _kind(link) != "bridge":
        raise checks.CommandFailed(f"{bridge} is not a bridge: not removed")
    others = sorted(x["ifname"] for x in _links("master", bridge) if x["ifname"] != name)
    if others:
        return {"removed": False, "ports": others}
    if _link(name) is not None:
        checks.run(["ip", "link", "del", name])
    checks.run(["ip", "link", "del", bridge])
    return {"removed": True, "ports": []}


# ---- argument sets ------------------------------------------------------------------------
def _bridge(v):
    return checks.interface(v, ("brq",))


def _tap(v):
    return checks.interface(v, ("tap",))


def _peers(values, local=None):
    peers = []
    for v in values:
        ip = checks.ipv4(v)
        if ip != local and ip not in peers:
            peers.append(ip)
    return peers


# ---- commands -----------------------------------------------------------------------------
@command("plug-network")
def plug_network(args):
    """plug-network BRIDGE VNI LOCAL_IP [PEER_IP...]: the bridge, its VXLAN and flooding list."""
    checks.nargs(args, 3, None, "plug-network BRIDGE VNI LOCAL_IP [PEER_IP...]")
    bridge, vni, local = _bridge(args[0]), checks.vni(args[1]), checks.ipv4(args[2])
    _plug(bridge, vni, local, _peers(args[3:], local))
    return 0


@command("set-flood")
def set_flood(args):
    """set-flood VNI [PEER_IP...]: replace the flooding list; nothing when the VXLAN is absent
    (the host left the network meanwhile)."""
    checks.nargs(args, 1, None, "set-flood VNI [PEER_IP...]")
    vni = checks.vni(args[0])
    peers = _peers(args[1:])
    link = _link(f"vxlan-{vni}")
    if link is None or _kind(link) != "vxlan":
        print(json.dumps({"vxlan": None}))
        return 0
    local = ((link.get("linkinfo") or {}).get("info_data") or {}).get("local")
    _set_flood(f"vxlan-{vni}", [p for p in peers if p != local])
    print(json.dumps({"vxlan": f"vxlan-{vni}"}))
    return 0


@command("unplug-network")
def unplug_network(args):
    """unplug-network BRIDGE VNI: remove the bridge and VXLAN unless ports remain on it."""
    checks.nargs(args, 2, 2, "unplug-network BRIDGE VNI")
    bridge, vni = _bridge(args[0]), checks.vni(args[1])
    print(json.dumps(_remove_network(bridge, vni)))
    return 0


@command("plug-port")
def plug_port(args):
    """plug-port BRIDGE VNI LOCAL_IP TAP USER [PEER_IP...]: the network, then the tap on it."""
    checks.nargs(args, 5, None, "plug-port BRIDGE VNI LOCAL_IP TAP USER [PEER_IP...]")
    bridge, vni, local = _bridge(args[0]), checks.vni(args[1]), checks.ipv4(args[2])
    tap, user = _tap(args[3]), checks.user(args[4])
    _plug(bridge, vni, local, _peers(args[5:], local), tap, user)
    return 0


@command("plug-tap")
def plug_tap(args):
    """plug-tap TAP BRIDGE USER: a tap for USER on an existing bridge."""
    checks.nargs(args, 3, 3, "plug-tap TAP BRIDGE USER")
    tap, bridge, user = _tap(args[0]), _bridge(args[1]), checks.user(args[2])
    links = _by_name()
    if bridge not in links or _kind(links[bridge]) != "bridge":
        raise checks.CommandFailed(f"no bridge {bridge}: plug the network first")
    _run_batch("ip", _plan_tap(links, tap, bridge, user))
    return 0


@command("unplug-port")
def unplug_port(args):
    """unplug-port TAP BRIDGE VNI: the tap, then the network when it was its last port."""
    checks.nargs(args, 3, 3, "unplug-port TAP BRIDGE VNI")
    tap, bridge, vni = _tap(args[0]), _bridge(args[1]), checks.vni(args[2])
    _remove_tap(tap)
    print(json.dumps(_remove_network(bridge, vni)))
    return 0


def _dnsmasq_pids() -> list:
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == "dnsmasq":
                        pids.append(int(p))
            except OSError:
                pass
    return sorted(pids)


@command("list")
def list_(args):
    """list: JSON of every bridge, VXLAN, tap, namespace and dnsmasq of ours on this host."""
    checks.nargs(args, 0, 0, "list (no arguments)")
    out = {"bridges": {}, "vxlans": {}, "taps": {}}
    for link in _links():
        name, kind = link.get("ifname", ""), _kind(link)
        if name.startswith("brq") and kind == "bridge":
            out["bridges"][name] = {"ports": []}
        elif name.startswith("vxlan-") and kind == "vxlan":
            data = (link.get("linkinfo") or {}).get("info_data") or {}
            out["vxlans"][name] = {"vni": data.get("id"), "local": data.get("local"),
                                   "master": link.get("master"), "flood": _flood_list(name)}
        elif name.startswith("tap") and kind == "tun":
            out["taps"][name] = {"master": link.get("master"), "mtu": link.get("mtu")}
    for name, v in list(out["vxlans"].items()) + list(out["taps"].items()):
        if v["master"] in out["bridges"]:
            out["bridges"][v["master"]]["ports"].append(name)
    proc = checks.run(["ip", "netns", "list"], check=False)
    out["netns"] = sorted(line.split()[0] for line in proc.stdout.splitlines()
                          if line.startswith(checks.NETNS_PREFIXES))
    out["dnsmasq"] = _dnsmasq_pids()
    print(json.dumps(out, sort_keys=True))
    return 0
