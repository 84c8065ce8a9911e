"""Compute API microversions as nova negotiates them: the client asks with
`OpenStack-API-Version: compute X.Y` (or the legacy `X-OpenStack-Nova-API-Version: X.Y`),
`latest` is the maximum, no header is the minimum, a malformed version is 400 and one out of
range 406. The Gate middleware (backend/api/app.py) negotiates once per request and leaves the
answer in the ASGI scope; handlers read it with `of(request)` / `at_least(request, "2.26")`.
docs/conformance.md has the table of what each microversion changes here."""
from __future__ import annotations

import re

from starlette.requests import Request

from backend.core.errors import BadRequest, CloudError
from backend.core.inputs import shown

MIN_VERSION = "2.1"
MAX_VERSION = "2.52"
SCOPE_KEY = "pocketstack.compute_version"

# nova's APIVersionRequest format, ASCII digits only ("2.01", "٢.١" and "2.x" are malformed)
_VERSION_RE = re.compile(r"([1-9][0-9]{0,5})\.([1-9][0-9]{0,5}|0)", re.ASCII)


class NotAcceptable(CloudError):
    code = 406


def parse(s: str) -> tuple[int, int]:
    m = _VERSION_RE.fullmatch(s)
    if not m:
        raise BadRequest(f"Invalid API version request {shown(s)}: it must be of the form "
                         "MajorNum.MinorNum (e.g. 2.52) or 'latest'")
    return int(m.group(1)), int(m.group(2))


def negotiate(asked: str | None, lo: str, hi: str) -> str:
    """The version this request is served at: 400 when asked is malformed, 406 out of [lo, hi]."""
    if asked is None:
        return lo
    if asked == "latest":
        return hi
    v = parse(asked)
    if not parse(lo) <= v <= parse(hi):
        raise NotAcceptable(f"Version {asked} is not supported by the API. Minimum is {lo} "
                            f"and maximum is {hi}.")
    return f"{v[0]}.{v[1]}"


def asked_version(headers: dict, stype: str, legacy: str | None) -> str | None:
    """The version the request names: the new header wins over the legacy one (nova 2.27)."""
    for part in headers.get("openstack-api-version", "").split(","):
        bits = part.strip().split()
        if len(bits) == 2 and bits[0].lower() == stype:
            return bits[1].lower()
    if legacy and headers.get(legacy):
        return headers[legacy].strip().lower()
    return None


def of(request: Request) -> tuple[int, int]:
    return parse(request.scope.get(SCOPE_KEY) or MIN_VERSION)


def at_least(request: Request, version: str) -> bool:
    return of(request) >= parse(version)


# APIs nova answers 404 for from a microversion on (proxies to other services, deprecated
# ones): (path regex under /compute/v2.1, first version without it)
_GONE = [
    (re.compile(r"/(images|os-security-groups|os-security-group-rules|os-networks|os-floating-ips"
                r"|os-floating-ip-pools|os-fixed-ips|os-baremetal-nodes|os-fping"
                r"|os-security-group-default-rules|os-tenant-networks)(/.*)?"), (2, 36)),
    (re.compile(r"/os-hosts(/.*)?"), (2, 43)),
    (re.compile(r"/servers/[^/]+/os-virtual-interfaces"), (2, 44)),
]
# server actions nova refuses (400, unknown action) from a microversion on
_GONE_ACTIONS = {"addFixedIp": (2, 44), "removeFixedIp": (2, 44), "addFloatingIp": (2, 44),
                 "removeFloatingIp": (2, 44)}


def gone(path: str, version: str) -> bool:
    """Whether nova has removed this compute path at this microversion (404)."""
    if not path.startswith("/compute/v2.1/"):
        return False
    rest, v = path[len("/compute/v2.1"):], parse(version)
    return any(v >= since and rx.fullmatch(rest) for rx, since in _GONE)


def action_gone(request: Request, action: str) -> bool:
    since = _GONE_ACTIONS.get(action)
    return since is not None and of(request) >= since
