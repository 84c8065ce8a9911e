"""The REST API: one Starlette app on one port, a path prefix per service.

`create_app(cloud)` serves a Cloud that someone else starts (the tests); `pocketstack serve`
passes a lifespan that starts and stops it on uvicorn's loop."""
from __future__ import annotations

import json
import uuid

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import microversion
from backend.api import compute_secgroups, network_secgroups
from backend.api import compute_extensions, compute_flavor_access, compute_quota_classes
from backend.api import server_volume_attachments
from backend.api import (compute, compute_extra, compute_hosts, compute_images, compute_keypairs,
                         compute_metadata, events, glossary, identity, identity_admin, identity_creds,
                         identity_grants, identity_groups,
                         identity_system, identity_tags, image, network, network_routers, remote_consoles,
                         volume)
from backend.api.common import (REQUEST_ID_KEY, cloud_error_handler, error_body, http_error_handler,
                                unexpected_error_handler, url_for)
from backend.core.errors import CloudError
from backend.facade import Cloud

# (service type in the header, legacy header, lowest and highest version honoured)
_MICROVERSIONS = {"/compute": ("compute", "x-openstack-nova-api-version", microversion.MIN_VERSION,
                               microversion.MAX_VERSION),
                  "/volume": ("volume", None, volume.MIN_VERSION, volume.MAX_VERSION)}

_LEGACY_NAMES = {"x-openstack-nova-api-version": "X-OpenStack-Nova-API-Version"}


class Gate:
    """Pure ASGI middleware: tolerate trailing slashes, refuse microversions we do not honour
    (406, as nova does), stamp version and request-id headers on every answer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
            raw = scope.get("raw_path") or path.encode()
            # trailing_slash: glance's /v2/images/ is an image with an empty id (404), not the list
            scope = dict(scope, path=path, raw_path=raw.rstrip(b"/") or b"/", trailing_slash=True)
        headers = dict((k.decode("latin-1").lower(), v.decode("latin-1"))
                       for k, v in scope.get("headers", []))
        rid = f"req-{uuid.uuid4()}"
        extra = [(b"x-openstack-request-id", rid.encode())]
        # a handler that records an instance action under this id need not look it up after
        # (set in place: a handler's own marks on the scope, as ENDLESS, reach the server)
        scope[REQUEST_ID_KEY] = rid
        compute_path = path == "/compute" or path.startswith("/compute/")
        for prefix, (stype, legacy, lo, hi) in _MICROVERSIONS.items():
            if path == prefix or path.startswith(prefix + "/"):
                asked = microversion.asked_version(headers, stype, legacy)
                code = msg = None
                try:
                    # the version documents answer whatever is asked
                    honoured = (lo if path in (prefix, f"{prefix}/v2.1", f"{prefix}/v3")
                                else microversion.negotiate(asked, lo, hi))
                except CloudError as e:
                    code, msg, honoured = e.code, e.message, hi
                scope = dict(scope, **{microversion.SCOPE_KEY: honoured}) if stype == "compute" else scope
                if code is None and stype == "compute" and microversion.gone(path, honoured):
                    code, msg = 404, f"{path} does not exist at compute microversion {honoured}"
                if code is not None:
                    body = json.dumps(error_body(prefix[1:], code, msg)).encode()
                    await send({"type": "http.response.start", "status": code,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())] + extra
                                + [(b"x-compute-request-id", extra[0][1])] * compute_path})
                    await send({"type": "http.response.body", "body": body})
                    return
                extra.append((b"openstack-api-version", f"{stype} {honoured}".encode()))
                if legacy:
                    extra.append((legacy.encode(), honoured.encode()))
                vary = "OpenStack-API-Version" + (f", {_LEGACY_NAMES[legacy]}" if legacy else "")
                extra.append((b"vary", vary.encode()))

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                # a handler that knows the backend's request id (an instance action's) wins
                add = [(k, v) for k, v in extra if k not in have]
                hdrs = list(message.get("headers", [])) + add
                if compute_path:
                    # nova sends its request id under both names (x-compute-request-id is older)
                    rid = next(v for k, v in hdrs if k.lower() == b"x-openstack-request-id")
                    hdrs.append((b"x-compute-request-id", rid))
                message = dict(message, headers=hdrs)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def root(request: Request) -> Response:
    return JSONResponse({"pocketstack": {
        "services": {s: url_for(request, s) for s in ("identity", "compute", "image", "network",
                                                       "volume")},
        "auth_url": url_for(request, "identity", "v3"),
        "events": url_for(request, "pocketstack", "v1", "events")}})


async def disconnect_handler(request: Request, exc: Exception) -> Response:
    # the client went away mid-body (or the server closed a stalled one): nobody reads this
    return Response(status_code=400)


def create_app(cloud: Cloud, lifespan=None, public_url: str | None = None) -> Starlette:
    """public_url: the root of every URL the API hands out (catalog, links); without it,
    the address each connection reached."""
    routes = [Route("/", root, methods=["GET"])]
    for mod in (identity, identity_admin, identity_creds, identity_grants, identity_groups, identity_system,
                identity_tags, compute, compute_extra, compute_hosts, compute_images, compute_keypairs,
                compute_metadata, image, network, network_routers, volume, events, glossary, remote_consoles,
                compute_secgroups, network_secgroups, compute_flavor_access, compute_extensions,
                compute_quota_classes, server_volume_attachments):
        routes += mod.routes()
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(Gate)],
                    exception_handlers={CloudError: cloud_error_handler,
                                        ClientDisconnect: disconnect_handler,
                                        HTTPException: http_error_handler,
                                        Exception: unexpected_error_handler})
    app.state.cloud = cloud
    app.state.public_url = public_url.rstrip("/") if public_url else None
    # trailing slashes are normalised by Gate, so Starlette must not redirect them
    app.router.redirect_slashes = False
    return app
