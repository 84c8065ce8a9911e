"""L3 commands (Neutron's L3 agent) on the network node: the external bridge (devstack's
br-ex: a bridge holding the external subnets' gateway addresses, never forwarded beyond this
machine), and per router a namespace qrouter-<id> with a qg- leg on the external bridge, qr-
legs on the tenant networks' bridges, SNAT for the internal subnets and per floating IP its
address on qg- with DNAT/SNAT (nftables, inside the namespace only). Each leg is a veth pair:
qr-/qg-<port> in the namespace, tap<port> on the bridge, as Neutron's linuxbridge names them.

Every command checks all its arguments before it changes anything and is idempotent;
`sync-router` makes the namespace exactly what its arguments say (legs, addresses, default
route, NAT rules), so the agent only ever states the whole wanted router."""
import json
import subprocess

from . import checks

COMMANDS: dict = {}
NAT_TABLE = "pocketstack_l3"          # the one nftables table inside each router namespace
EXT_TABLE_PREFIX = "pocketstack_ext_"  # on the host: keeps the external bridge to this machine


def command(name):
    def reg(fn):
        COMMANDS[name] = fn
        return fn
    return reg


# ---- argument checks ----------------------------------------------------------------------
def _router_ns(v):
    ns = checks.netns(v, ("qrouter-",))
    if len(ns) != len("qrouter-") + 8 or any(c not in "0123456789abcdef-" for c in ns[8:]):
        raise checks.BadArgument(f"bad router namespace {v!r}: must be qrouter-<8 characters of the router id>")
    return ns


def _ext_bridge(v):
    return checks.interface(v, ("psx",))


def _leg(values, inner_prefix, bridge_check):
    inner, outer, bridge, mac, addr = values
    return {"inner": checks.interface(inner, (inner_prefix,)), "outer": checks.interface(outer, ("tap",)),
            "bridge": bridge_check(bridge), "mac": checks.mac(mac), "addr": checks.ipv4_cidr(addr)}


def _parse_sync(args) -> dict:
    """sync-router NS [--gateway QG TAP BRIDGE MAC ADDR/LEN NEXTHOP] [--leg QR TAP BRIDGE MAC ADDR/LEN]...
    [--snat CIDR]... [--fip FLOATING FIXED]..."""
    usage = ("sync-router NS [--gateway QG TAP BRIDGE MAC ADDR/LEN NEXTHOP] [--leg QR TAP BRIDGE MAC ADDR/LEN]... "
             "[--snat CIDR]... [--fip FLOATING_IP FIXED_IP]...")
    checks.nargs(args, 1, None, usage)
    spec = {"ns": _router_ns(args[0]), "gateway": None, "legs": [], "snat": [], "fips": []}
    sizes = {"--gateway": 6, "--leg": 5, "--snat": 1, "--fip": 2}
    i = 1
    while i < len(args):
        flag = args[i]
        if flag not in sizes:
            raise checks.BadArgument(f"unknown option {flag!r}; expected {usage}")
        vals = args[i + 1:i + 1 + sizes[flag]]
        if len(vals) != sizes[flag]:
            raise checks.BadArgument(f"{flag} takes {sizes[flag]} values")
        if flag == "--gateway":
            if spec["gateway"]:
                raise checks.BadArgument("--gateway given twice")
            spec["gateway"] = dict(_leg(vals[:5], "qg-", _ext_bridge), nexthop=checks.ipv4(vals[5]))
        elif flag == "--leg":
            spec["legs"].append(_leg(vals, "qr-", lambda v: checks.interface(v, ("brq",))))
        elif flag == "--snat":
            spec["snat"].append(checks.ipv4_cidr(vals[0], strict=True))
        else:
            spec["fips"].append((checks.ipv4(vals[0]), checks.ipv4(vals[1])))
        i += 1 + sizes[flag]
    names = [x["inner"] for x in spec["legs"]] + [x["outer"] for x in spec["legs"]]
    if spec["gateway"]:
        names += [spec["gateway"]["inner"], spec["gateway"]["outer"]]
    if len(set(names)) != len(names):
        raise checks.BadArgument("an interface is named twice")
    if (spec["snat"] or spec["fips"]) and not spec["gateway"]:
        raise checks.BadArgument("--snat and --fip need --gateway")
    if len({f for f, _ in spec["fips"]}) != len(spec["fips"]):
        raise checks.BadArgument("a floating IP is given twice")
    return spec


# ---- reading the host and namespaces ----------------------------------------------------------
def _namespaces() -> list:
    proc = checks.run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def _links(ns=None, *args) -> list:
    pre = ["ip", "-n", ns] if ns else ["ip"]
    proc = checks.run(pre + ["-j", "-d", "link", "show", *args], check=False)
    return json.loads(proc.stdout or "[]") if proc.returncode == 0 else []


def _link(name, ns=None):
    found = _links(ns, "dev", name)
    return found[0] if found else None


def _addrs(name, ns=None) -> list:
    pre = ["ip", "-n", ns] if ns else ["ip"]
    proc = checks.run(pre + ["-j", "-4", "addr", "show", "dev", name], check=False)
    if proc.returncode != 0:
        return []
    return [f"{a['local']}/{a['prefixlen']}" for link in json.loads(proc.stdout or "[]")
            for a in link.get("addr_info", []) if a.get("family") == "inet"]


def _set_addrs(name, wanted: list, ns=None) -> None:
    pre = ["ip", "-n", ns] if ns else ["ip"]
    have = _addrs(name, ns)
    for a in have:
        if a not in wanted:
            checks.run(pre + ["addr", "del", a, "dev", name])
    for a in wanted:
        if a not in have:
            checks.run(pre + ["addr", "add", a, "dev", name])


def _nft(ns, text: str) -> None:
    argv = ["ip", "netns", "exec", ns, "nft", "-f", "-"] if ns else ["nft", "-f", "-"]
    proc = subprocess.run(argv, input=text, capture_output=True, text=True, shell=False)
    if proc.returncode != 0:
        raise checks.CommandFailed(f"nft -f - failed ({proc.returncode}): {proc.stderr.strip()[:400]}")


def _nft_tables(ns=None) -> list:
    argv = (["ip", "netns", "exec", ns] if ns else []) + ["nft", "-j", "list", "tables"]
    proc = checks.run(argv, check=False)
    if proc.returncode != 0:
        return []
    return sorted(f"{t['table']['family']} {t['table']['name']}" for t in json.loads(proc.stdout or "{}").get(
        "nftables", []) if "table" in t)


# ---- the pieces ---------------------------------------------------------------------------
def _ensure_ns(ns) -> None:
    if ns not in _namespaces():
        checks.run(["ip", "netns", "add", ns])
    checks.run(["ip", "-n", ns, "link", "set", "lo", "up"])
    checks.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])


def _ensure_leg(ns, leg, extra=()) -> None:
    bridge = _link(leg["bridge"])
    if bridge is None or (bridge.get("linkinfo") or {}).get("info_kind") != "bridge":
        raise checks.CommandFailed(f"no bridge {leg['bridge']}: join the network first")
    mtu = str(bridge.get("mtu") or 1500)
    inner = _link(leg["inner"], ns)
    if inner is None:
        if _link(leg["outer"]) is not None:  # a stale half of an earlier leg
            checks.run(["ip", "link", "del", leg["outer"]])
        checks.run(["ip", "link", "add", leg["outer"], "mtu", mtu, "type", "veth", "peer", "name", leg["inner"],
                    "mtu", mtu, "netns", ns])
    checks.run(["ip", "-n", ns, "link", "set", leg["inner"], "address", leg["mac"], "mtu", mtu, "up"])
    checks.run(["ip", "link", "set", leg["outer"], "mtu", mtu, "master", leg["bridge"], "up"])
    _set_addrs(leg["inner"], [leg["addr"], *extra], ns)


def _ruleset(spec) -> str:
    gw = spec["gateway"]
    pre, post = [], []
    if gw:
        qg, gw_ip = gw["inner"], gw["addr"].split("/")[0]
        for fip, fixed in spec["fips"]:
            pre.append(f"ip daddr {fip} dnat to {fixed}")
            post.append(f'ip saddr {fixed} oifname "{qg}" snat to {fip}')
        for cidr in spec["snat"]:
            post.append(f'ip saddr {cidr} oifname "{qg}" snat to {gw_ip}')
    body = "\n".join([
        f"table ip {NAT_TABLE}", f"delete table ip {NAT_TABLE}", f"table ip {NAT_TABLE} {{",
        "  chain prerouting {", "    type nat hook prerouting priority dstnat; policy accept;",
        *(f"    {r}" for r in pre), "  }",
        "  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;",
        *(f"    {r}" for r in post), "  }", "}"])
    return body + "\n"


# ---- commands -----------------------------------------------------------------------------
@command("ensure-external")
def ensure_external(args):
    """ensure-external BRIDGE ADDR/LEN...: the external bridge with exactly these addresses,
    and a host table that drops whatever would be forwarded to or from it."""
    checks.nargs(args, 2, None, "ensure-external BRIDGE ADDR/LEN [ADDR/LEN...]")
    bridge, addrs = _ext_bridge(args[0]), [checks.ipv4_cidr(a) for a in args[1:]]
    link = _link(bridge)
    if link is None:
        checks.run(["ip", "link", "add", bridge, "type", "bridge"])
    elif (link.get("linkinfo") or {}).get("info_kind") != "bridge":
        raise checks.CommandFailed(f"{bridge} exists and is not a bridge")
    checks.run(["ip", "link", "set", bridge, "up"])
    _set_addrs(bridge, addrs)
    table = EXT_TABLE_PREFIX + bridge
    _nft(None, "\n".join([
        f"table inet {table}", f"delete table inet {table}", f"table inet {table} {{",
        "  chain forward {", "    type filter hook forward priority filter; policy accept;",
        f'    iifname "{bridge}" drop', f'    oifname "{bridge}" drop', "  }", "}"]) + "\n")
    return 0


@command("remove-external")
def remove_external(args):
    """remove-external BRIDGE: the bridge and its host table, unless a router leg is still on it."""
    checks.nargs(args, 1, 1, "remove-external BRIDGE")
    bridge = _ext_bridge(args[0])
    link = _link(bridge)
    if link is not None:
        others = sorted(x["ifname"] for x in _links(None, "master", bridge))
        if others:
            print(json.dumps({"removed": False, "ports": others}))
            return 0
        checks.run(["ip", "link", "del", bridge])
    if f"inet {EXT_TABLE_PREFIX}{bridge}" in _nft_tables():
        checks.run(["nft", "delete", "table", "inet", EXT_TABLE_PREFIX + bridge])
    print(json.dumps({"removed": True, "ports": []}))
    return 0


@command("sync-router")
def sync_router(args):
    """Make the router's namespace exactly what the arguments say (see _parse_sync)."""
    spec = _parse_sync(args)
    ns = spec["ns"]
    _ensure_ns(ns)
    wanted = {x["inner"] for x in spec["legs"]} | ({spec["gateway"]["inner"]} if spec["gateway"] else set())
    for link in _links(ns):
        name = link.get("ifname", "")
        if name.startswith(("qr-", "qg-")) and name not in wanted:
            checks.run(["ip", "-n", ns, "link", "del", name])  # its tap half goes with it
    for leg in spec["legs"]:
        _ensure_leg(ns, leg)
    gw = spec["gateway"]
    if gw:
        _ensure_leg(ns, gw, [f"{fip}/32" for fip, _ in spec["fips"]])
        checks.run(["ip", "-n", ns, "route", "replace", "default", "via", gw["nexthop"], "dev", gw["inner"]])
    else:
        checks.run(["ip", "-n", ns, "route", "del", "default"], check=False)
    _nft(ns, _ruleset(spec))
    return 0


@command("unplug-router")
def unplug_router(args):
    """unplug-router NS: the namespace goes, with its legs (both veth halves) and NAT table."""
    checks.nargs(args, 1, 1, "unplug-router NS")
    ns = _router_ns(args[0])
    if ns in _namespaces():
        for link in _links(ns):
            if link.get("ifname", "").startswith(("qr-", "qg-")):
                checks.run(["ip", "-n", ns, "link", "del", link["ifname"]])
        checks.run(["ip", "netns", "del", ns])
    return 0


@command("list-routers")
def list_routers(args):
    """list-routers: JSON of every router namespace (its legs with addresses, its nft tables,
    its default route) and every external bridge with its addresses."""
    checks.nargs(args, 0, 0, "list-routers (no arguments)")
    out = {"routers": {}, "external": {}}
    for ns in _namespaces():
        if not ns.startswith("qrouter-"):
            continue
        legs = {link["ifname"]: _addrs(link["ifname"], ns) for link in _links(ns)
                if link.get("ifname", "").startswith(("qr-", "qg-"))}
        route = checks.run(["ip", "-n", ns, "-j", "route", "show", "default"], check=False)
        out["routers"][ns] = {"legs": legs, "nft": _nft_tables(ns),
                              "default": [r.get("gateway") for r in json.loads(route.stdout or "[]")]}
    for link in _links():
        name = link.get("ifname", "")
        if name.startswith("psx") and (link.get("linkinfo") or {}).get("info_kind") == "bridge":
            out["external"][name] = {"addresses": _addrs(name),
                                     "ports": sorted(x["ifname"] for x in _links(None, "master", name))}
    out["host_nft"] = [t for t in _nft_tables() if t.split()[1].startswith(EXT_TABLE_PREFIX)]
    print(json.dumps(out, sort_keys=True))
    return 0
