"""Shared pieces of the REST API: errors in each service's upstream shape, JSON body parsing
with a size cap, unknown-field checks, pagination, and URL helpers."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.core.errors import BadRequest, CloudError, RequestTooLarge, Unauthorized
from backend.core.inputs import parse_int, shown

import orjson  # ~5x faster than json for big lists (GET /servers/detail with 1,000 servers)

MAX_BODY = 256 * 1024          # any JSON request body; image data goes through PUT /file
MAX_LIMIT = 1000               # nova osapi_max_limit
MAX_DEPTH = 32                 # JSON nesting; upstream bodies need fewer than 10 levels
SERVICES = ("identity", "compute", "image", "network", "volume")
REQUEST_ID_KEY = "pocketstack.request_id"  # the scope's X-OpenStack-Request-Id (set by the app)

# nova/cinder fault keys by code (nova/api/openstack/wsgi.py Fault._fault_names)
_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                405: "badMethod", 406: "notAcceptable", 409: "conflictingRequest",
                413: "overLimit", 415: "badMediaType", 501: "notImplemented",
                503: "serviceUnavailable"}
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict",
           413: "Request Entity Too Large", 415: "Unsupported Media Type", 500: "Internal Server Error"}
# neutron error types by code (neutron_lib exceptions)
_NEUTRON_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                  405: "MethodNotAllowed", 409: "Conflict", 413: "OverQuota", 500: "InternalError"}


def service_of(path: str) -> str:
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in SERVICES else "compute"


def error_body(service: str, code: int, message: str, title: str | None = None,
               error_type: str | None = None) -> dict:
    title = title or _TITLES.get(code, "Error")
    if code == 401 or service == "identity":
        # keystonemiddleware answers 401 for every service in keystone's shape
        return {"error": {"code": code, "title": title, "message": message}}
    if service == "network":
        return {"NeutronError": {"type": error_type or _NEUTRON_TYPES.get(code, "NeutronError"),
                                 "message": message, "detail": ""}}
    if service == "image":
        return {"code": code, "title": title, "message": message}
    return {_FAULT_NAMES.get(code, "computeFault"): {"code": code, "message": message}}


def error_response(request: Request, code: int, message: str, title: str | None = None,
                   headers: dict | None = None, error_type: str | None = None) -> JSONResponse:
    service = service_of(request.url.path)
    hdrs = dict(headers or {})
    if code == 401:
        hdrs.setdefault("WWW-Authenticate", f'Keystone uri="{url_for(request, "identity")}"')
    return JSONResponse(error_body(service, code, message, title, error_type), status_code=code, headers=hdrs)


async def cloud_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CloudError)
    code = exc.code if exc.code >= 400 else 500
    msg = exc.message if code < 500 or code == 501 else f"internal error: {exc.message}"
    # a specific upstream error type (neutron's OverQuota) where the error has one
    return error_response(request, code, msg, title=None, error_type=getattr(exc, "error_type", None))


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        msg = f"no such resource: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        msg = f"method {request.method} is not allowed on {request.url.path}"
    else:
        msg = str(exc.detail)
    return error_response(request, exc.status_code, msg, headers=exc.headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    # one line, no traceback to the client; the server log keeps the details
    return error_response(request, 500, f"internal error: {type(exc).__name__}")


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# ---- request helpers ------------------------------------------------------------------
def token_of(request: Request) -> str:
    token = request.headers.get("x-auth-token", "").strip()
    if not token:
        raise Unauthorized("authentication required: no X-Auth-Token header")
    return token


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length", "")
    if re.fullmatch(r"[0-9]{1,18}", declared, re.ASCII) and int(declared) > limit:
        raise RequestTooLarge(f"request body of {declared} bytes is over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = MAX_BODY) -> Any:
    raw = await read_body(request, limit)
    if not raw.strip():
        raise BadRequest("a JSON request body is required")
    try:
        # orjson: no recursion (a body nested 50,000 deep is an error, not a RecursionError),
        # and lone surrogates, NaN and invalid UTF-8 are refused
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if "depth" in str(e):
            raise BadRequest(f"request body is nested too deeply (at most {MAX_DEPTH} levels)") from None
        raise BadRequest(f"request body is not valid JSON: {e}") from None
    _check_depth(body)
    return body


def _check_depth(body: Any) -> None:
    level = [body] if isinstance(body, (dict, list)) else []  # a bare null/number/string is flat
    for _ in range(MAX_DEPTH):
        level = [x for v in level for x in (v.values() if isinstance(v, dict) else v)
                 if isinstance(x, (dict, list))]
        if not level:
            return
    raise BadRequest(f"request body is nested too deeply (at most {MAX_DEPTH} levels)")


async def read_object(request: Request, key: str, allowed: Iterable[str],
                      required: Iterable[str] = ()) -> dict:
    return parse_object(await read_json(request), key, allowed, required)


def parse_object(body: Any, key: str, allowed: Iterable[str], required: Iterable[str] = ()) -> dict:
    """Body {key: {...}}: the inner object, with unknown fields and missing ones refused."""
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"request body must be a JSON object with the key '{key}'")
    extra = sorted(set(body) - {key, "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"})
    if extra:
        raise BadRequest(f"unrecognized field '{extra[0]}' in the request body")
    obj = body[key]
    if not isinstance(obj, dict):
        raise BadRequest(f"'{key}' must be a JSON object")
    check_fields(obj, allowed, key)
    for f in required:
        if obj.get(f) in (None, ""):
            raise BadRequest(f"'{key}.{f}' is required")
    return obj


def check_fields(obj: dict, allowed: Iterable[str], where: str) -> None:
    extra = sorted(set(obj) - set(allowed))
    if extra:
        raise BadRequest(f"unrecognized field '{extra[0]}' in '{where}'")


def want_str(obj: dict, field: str, where: str, *, max_len: int = 255, empty: bool = True,
             default: str | None = None) -> str | None:
    v = obj.get(field, default)
    if v is None:
        return default
    if not isinstance(v, str):
        raise BadRequest(f"'{where}.{field}' must be a string")
    if len(v) > max_len:
        raise BadRequest(f"'{where}.{field}' is longer than {max_len} characters")
    if not empty and not v.strip():
        raise BadRequest(f"'{where}.{field}' must not be empty")
    return v


def want_int(value: Any, name: str, *, minimum: int | None = None,
             maximum: int | None = None) -> int:
    """An integer from JSON or a query string (one parser for every API: backend.core.inputs)."""
    return parse_int(value, name, minimum, maximum)


def want_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise BadRequest(f"'{name}' must be a boolean, not {shown(value)}")


def limit_marker(request: Request) -> tuple[int, str | None]:
    q = request.query_params
    limit = want_int(q["limit"], "limit", minimum=0) if "limit" in q else MAX_LIMIT
    return min(limit, MAX_LIMIT), (q.get("marker") or None)


def page(items: list, limit: int, marker: str | None, key: str = "id") -> tuple[list, bool]:
    """Slice a full list after marker; the bool says whether more remain."""
    if marker:
        for i, it in enumerate(items):
            if it.get(key) == marker:
                items = items[i + 1:]
                break
        else:
            raise BadRequest(f"marker '{marker}' not found")
    return items[:limit], len(items) > limit


def next_href(request: Request, marker: str, limit: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "limit")]
    params += [("limit", str(limit)), ("marker", marker)]
    return f"{base(request)}{request.url.path}?{urlencode(params)}"


# ---- URLs -----------------------------------------------------------------------------
def base(request: Request) -> str:
    """The absolute root of every URL we hand out: the configured public URL, else the
    address the connection reached. Never the Host header, which the client writes."""
    public = getattr(request.app.state, "public_url", None)
    if public:
        return public
    host, port = (request.scope.get("server") or ("127.0.0.1", None))[:2]
    scheme = request.scope.get("scheme", "http")
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def this_url(request: Request) -> str:
    """The URL of this request, rooted at base() (for collection 'self' links)."""
    q = request.url.query
    return f"{base(request)}{request.url.path}" + (f"?{q}" if q else "")


def url_for(request: Request, service: str, *parts: str) -> str:
    return "/".join([base(request), service, *[p.strip("/") for p in parts if p]])


def iso(ts: Any) -> str | None:
    """Timestamps as the upstream APIs print them: 2026-11-26T14:35:30Z."""
    if ts in (None, ""):
        return None
    if isinstance(ts, (int, float)):
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(ts, datetime):
        return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(ts)


def iso_us(ts: Any) -> str | None:
    """neutron/cinder style with microseconds: 2026-11-26T14:35:30.000000."""
    s = iso(ts)
    if s and s.endswith("Z") and "." not in s:
        return s[:-1] + ".000000"
    return s


def no_content() -> Response:
    return Response(status_code=204)
