"""DHCP commands (Neutron's DHCP agent): per network a namespace qdhcp-<network id> joined to
the network's bridge by a veth (tap<port[:11]> on the bridge, ns-<port[:11]> inside, with
the DHCP port's MAC and address), and in it one dnsmasq that hands each port its fixed IP by
MAC (--dhcp-hostsfile, --dhcp-range=<subnet>,static) and serves nothing else (no DNS).

Its files live under STATE_DIR/<network id>/ (host, leases, pid, config, log): a fixed
directory, never a path from the caller. Every argument is checked before anything changes
(exit 2 naming it); the hosts file is written aside and renamed, then dnsmasq re-reads it on
SIGHUP."""
import ipaddress
import json
import os
import re
import shutil
import signal
import time

from . import checks

COMMANDS: dict = {}
STATE_DIR = "/var/lib/pocketstack/dhcp"
MTU = "1450"  # the network's (VXLAN) MTU, as the taps on its bridge
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
# a DNS label (RFC 1123), as neutron's host-<ip> names and nova's sanitised hostnames
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def command(name):
    def reg(fn):
        COMMANDS[name] = fn
        return fn
    return reg


# ---- names and checks ---------------------------------------------------------------------
def namespace(network_id: str) -> str:
    return "qdhcp-" + network_id


def _mac(value: str) -> str:
    # fullmatch: `$` would let a trailing newline through, and a line break in the hosts
    # file would be a host entry of the caller's making
    if not isinstance(value, str) or not _MAC.fullmatch(value):
        raise checks.BadArgument(f"bad MAC address {value!r}: must be six lower-case hex pairs")
    return value


def _id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise checks.BadArgument(f"bad {what} {value!r}: must be a lower-case UUID")
    return value


def _lease(value: str) -> int:
    if not isinstance(value, str) or not value.isdigit() or not 120 <= int(value) <= 31536000:
        raise checks.BadArgument(f"bad lease time {value!r}: seconds, 120..31536000")
    return int(value)


def _entry(value: str, subnet: ipaddress.IPv4Network) -> tuple:
    """MAC,IP,NAME: one host of the hosts file."""
    parts = value.split(",") if isinstance(value, str) else []
    if len(parts) != 3:
        raise checks.BadArgument(f"bad host entry {value!r}: must be MAC,IP,NAME")
    mac, ip, name = _mac(parts[0]), checks.ipv4(parts[1]), parts[2]
    if not _NAME.fullmatch(name):
        raise checks.BadArgument(f"bad host name {name!r} in {value!r}: must be a DNS label")
    if ipaddress.IPv4Address(ip) not in subnet:
        raise checks.BadArgument(f"host entry {value!r}: {ip} is not in {subnet}")
    return mac, ip, name


def _entries(values: list, subnet) -> list:
    out, macs, ips = [], set(), set()
    for v in values:
        mac, ip, name = _entry(v, subnet)
        if mac in macs or ip in ips:
            raise checks.BadArgument(f"host entry {v!r}: MAC or IP given twice")
        macs.add(mac)
        ips.add(ip)
        out.append((mac, ip, name))
    return out


# ---- the host side ------------------------------------------------------------------------
def _dir(network_id: str) -> str:
    return os.path.join(STATE_DIR, network_id)


def _netns_exists(ns: str) -> bool:
    return os.path.exists(f"/run/netns/{ns}")


def _link_exists(name: str, ns: str | None = None) -> bool:
    argv = ["ip"] + (["-n", ns] if ns else []) + ["link", "show", "dev", name]
    return checks.run(argv, check=False).returncode == 0


def _dnsmasq_pid(network_id: str) -> int | None:
    """The pid in our pidfile, if that process is a dnsmasq started with that pidfile."""
    pidfile = os.path.join(_dir(network_id), "pid")
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() != "dnsmasq":
                return None
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f"--pid-file={pidfile}".encode() not in f.read().split(b"\0"):
                return None
        return pid
    except (OSError, ValueError):
        return None


def _stop_dnsmasq(network_id: str) -> bool:
    pid = _dnsmasq_pid(network_id)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):  # bounded: up to 5 s for it to go
        if not os.path.exists(f"/proc/{pid}"):
            break
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break  # a zombie: gone, its parent has not reaped it yet
        except OSError:
            break
        time.sleep(0.05)
    else:
        raise checks.CommandFailed(f"dnsmasq {pid} did not stop")
    return True


def _dnsmasq_argv(network_id: str, dev: str, subnet, gateway, lease: int) -> list:
    d = _dir(network_id)
    router = f"option:router,{gateway}" if gateway else "option:router"  # empty: no router
    return ["ip", "netns", "exec", namespace(network_id), "dnsmasq",
            "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--port=0",
            f"--pid-file={d}/pid", f"--dhcp-hostsfile={d}/host", f"--dhcp-leasefile={d}/leases",
            f"--log-facility={d}/log", "--log-dhcp",
            f"--interface={dev}", "--except-interface=lo", "--bind-interfaces",
            f"--dhcp-range=set:subnet,{subnet.network_address},static,{subnet.netmask},{lease}s",
            f"--dhcp-option-force=tag:subnet,{router}",
            f"--dhcp-option-force=tag:subnet,option:mtu,{MTU}",
            f"--dhcp-lease-max={subnet.num_addresses}", "--dhcp-authoritative"]


def _write_hosts(network_id: str, entries: list) -> None:
    d = _dir(network_id)
    tmp = os.path.join(d, "host.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        # neutron's line: MAC,NAME,IP
        f.write("".join(f"{mac},{name},{ip}\n" for mac, ip, name in entries))
    os.chmod(tmp, 0o644)  # dnsmasq re-reads it after dropping to nobody
    os.replace(tmp, os.path.join(d, "host"))


def _ensure_port(ns: str, bridge: str, port_id: str, mac: str, address: str) -> str:
    """The veth between the bridge and the namespace; returns the namespace end's name."""
    outer, inner = "tap" + port_id[:11], "ns-" + port_id[:11]
    if not _netns_exists(ns):
        checks.run(["ip", "netns", "add", ns])
    if not _link_exists(inner, ns):
        if _link_exists(outer):
            checks.run(["ip", "link", "del", outer])  # half of an earlier pair
        checks.run(["ip", "link", "add", outer, "mtu", MTU, "type", "veth", "peer", "name", inner,
                    "mtu", MTU, "netns", ns])
    checks.run(["ip", "-n", ns, "link", "set", inner, "address", mac, "up"])
    checks.run(["ip", "-n", ns, "link", "set", "lo", "up"])
    checks.run(["ip", "-n", ns, "addr", "flush", "dev", inner, "scope", "global"])
    checks.run(["ip", "-n", ns, "addr", "add", address, "dev", inner])
    checks.run(["ip", "link", "set", outer, "master", bridge, "up"])
    return inner


# ---- commands -----------------------------------------------------------------------------
@command("dhcp-sync")
def dhcp_sync(args):
    """dhcp-sync NETWORK_ID PORT_ID BRIDGE MAC ADDRESS/PREFIX GATEWAY|- LEASE [MAC,IP,NAME...]:
    the namespace, the DHCP port's veth on BRIDGE, the hosts file exactly as given, and a
    dnsmasq serving them (started, restarted if its settings changed, else told to re-read)."""
    checks.nargs(args, 7, None,
                 "dhcp-sync NETWORK_ID PORT_ID BRIDGE MAC ADDRESS/PREFIX GATEWAY|- LEASE [MAC,IP,NAME...]")
    nid, pid_ = _id(args[0], "network id"), _id(args[1], "port id")
    bridge, mac = checks.interface(args[2], ("brq",)), _mac(args[3])
    if "\n" in bridge:
        raise checks.BadArgument(f"bad interface name {bridge!r}")
    iface = ipaddress.IPv4Interface(checks.ipv4_cidr(args[4]))
    subnet = iface.network
    gateway = None if args[5] == "-" else checks.ipv4(args[5])
    if gateway is not None and ipaddress.IPv4Address(gateway) not in subnet:
        raise checks.BadArgument(f"gateway {gateway} is not in {subnet}")
    lease = _lease(args[6])
    entries = _entries(args[7:], subnet)
    ns = namespace(nid)
    if not os.path.isdir(f"/sys/class/net/{bridge}/bridge"):
        raise checks.CommandFailed(f"no bridge {bridge}: plug the network first")
    d = _dir(nid)
    os.makedirs(d, mode=0o755, exist_ok=True)
    dev = "ns-" + pid_[:11]
    argv = _dnsmasq_argv(nid, dev, subnet, gateway, lease)
    want = {"argv": argv, "port": [pid_, bridge, mac, str(iface)]}
    conf = os.path.join(d, "dnsmasq.json")
    try:
        with open(conf) as f:
            same = json.load(f) == want
    except (OSError, ValueError):
        same = False
    running = _dnsmasq_pid(nid)
    if running and same and _link_exists(dev, ns):
        # the usual change (a port came or went): only the hosts file, re-read on SIGHUP
        _write_hosts(nid, entries)
        os.kill(running, signal.SIGHUP)
        state = "reloaded"
    else:
        if running:
            _stop_dnsmasq(nid)
        _ensure_port(ns, bridge, pid_, mac, str(iface))
        _write_hosts(nid, entries)
        checks.run(argv)  # dnsmasq forks; it answers once the parent returns
        with open(conf, "w") as f:
            json.dump(want, f)
        state = "started"
    print(json.dumps({"namespace": ns, "interface": dev, "dnsmasq": state, "hosts": len(entries)}))
    return 0


@command("dhcp-teardown")
def dhcp_teardown(args):
    """dhcp-teardown NETWORK_ID: dnsmasq stopped, the namespace (and so the veth) and the
    network's files removed. Nothing there is not an error."""
    checks.nargs(args, 1, 1, "dhcp-teardown NETWORK_ID")
    nid = _id(args[0], "network id")
    ns = namespace(nid)
    stopped = _stop_dnsmasq(nid)
    had_ns = _netns_exists(ns)
    if had_ns:
        checks.run(["ip", "netns", "del", ns])
    shutil.rmtree(_dir(nid), ignore_errors=True)
    print(json.dumps({"dnsmasq_stopped": stopped, "namespace_removed": had_ns}))
    return 0


@command("dhcp-leases")
def dhcp_leases(args):
    """dhcp-leases NETWORK_ID: dnsmasq's leases of the network as JSON."""
    checks.nargs(args, 1, 1, "dhcp-leases NETWORK_ID")
    nid = _id(args[0], "network id")
    out = []
    try:
        with open(os.path.join(_dir(nid), "leases")) as f:
            for line in f:
                p = line.split()
                if len(p) >= 4:
                    out.append({"expires": int(p[0]), "mac": p[1], "ip": p[2],
                                "hostname": None if p[3] == "*" else p[3]})
    except FileNotFoundError:
        pass
    print(json.dumps(out))
    return 0
