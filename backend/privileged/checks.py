"""Strict validators for every argument the helper accepts, and the one way it runs a
program (an argv list, never a shell). A bad argument raises BadArgument naming it: the
helper exits 2 before it changes anything."""
import ipaddress
import re
import subprocess

# fullmatch, not match + $: "$" also matches before a trailing newline, which would end
# a line of `ip -batch` input early
# interface name prefixes the helper may create or delete (Neutron's names: bridge brq<net>,
# vxlan-<vni>, tap<port>; ns-/qr-/qg- the veth ends of DHCP and router namespaces)
IFACE_PREFIXES = ("brq", "vxlan-", "tap", "ns-", "qr-", "qg-")
NETNS_PREFIXES = ("qdhcp-", "qrouter-")

_IFACE = re.compile(r"^[a-z][a-z0-9-]{1,14}$")
_NETNS = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class BadArgument(ValueError):
    """An argument the helper refuses (exit 2, nothing done)."""


class CommandFailed(RuntimeError):
    """A program the helper ran failed (exit 1)."""


def interface(value: str, prefixes=IFACE_PREFIXES) -> str:
    if not isinstance(value, str) or not _IFACE.fullmatch(value):
        raise BadArgument(f"bad interface name {value!r}: must match ^[a-z][a-z0-9-]{{1,14}}$")
    if not value.startswith(tuple(prefixes)):
        raise BadArgument(f"bad interface name {value!r}: must start with one of "
                          + ", ".join(prefixes))
    return value


def netns(value: str, prefixes=NETNS_PREFIXES) -> str:
    if not isinstance(value, str) or not _NETNS.fullmatch(value) \
            or not value.startswith(tuple(prefixes)) or value in prefixes:
        raise BadArgument(f"bad namespace name {value!r}: must be one of "
                          + ", ".join(p + "<id>" for p in prefixes))
    return value


def ipv4(value: str) -> str:
    try:
        addr = ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise BadArgument(f"bad IPv4 address {value!r}") from None
    return str(addr)


def ipv4_cidr(value: str, strict: bool = False) -> str:
    """An address with its prefix (`10.0.0.1/24`), or a network when strict."""
    try:
        if strict:
            return str(ipaddress.IPv4Network(value, strict=True))
        return str(ipaddress.IPv4Interface(value))
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError, TypeError):
        raise BadArgument(f"bad IPv4 CIDR {value!r}") from None


def mac(value: str) -> str:
    if not isinstance(value, str) or not _MAC.fullmatch(value):
        raise BadArgument(f"bad MAC address {value!r}: must be six lower-case hex pairs")
    return value


def vni(value: str) -> int:
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 8:
        raise BadArgument(f"bad VNI {value!r}: must be an integer 1..16777215")
    n = int(value)
    if not 1 <= n <= 16777215:
        raise BadArgument(f"bad VNI {value!r}: must be an integer 1..16777215")
    return n


def user(value: str) -> str:
    if not isinstance(value, str) or not _USER.fullmatch(value):
        raise BadArgument(f"bad user name {value!r}")
    return value


def nargs(args: list, low: int, high: int | None, usage: str) -> None:
    """Refuse a wrong argument count before anything runs."""
    if len(args) < low or (high is not None and len(args) > high):
        raise BadArgument(f"expected {usage}")


def run(argv: list[str], check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    """Run one program (argv list, no shell); raise CommandFailed naming it if it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, shell=False, input=input)
    if check and proc.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} failed ({proc.returncode}): "
                            f"{(proc.stderr or proc.stdout).strip()[:400]}")
    return proc
