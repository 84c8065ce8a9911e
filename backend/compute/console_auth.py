"""Console tokens and the console proxy (nova's console auth tokens and serial proxy).

POST /servers/{id}/remote-consoles asks the compute service whether the guest has a console to
give (nova-api -> compute rpcapi get_serial_console), then mints a token for it: random,
stored only as its sha256, bound to the instance, its host and the user who asked, usable
once (the WebSocket connect consumes it) and for at most console_token_ttl seconds (nova's
default 600). Only project members and admins may ask (nova's remote-consoles policy);
readers are refused, other projects' instances are not found."""
from __future__ import annotations

import hashlib
import secrets
import time

from backend.core.errors import BadRequest, Conflict, NotFound, Unauthorized
from backend.core import states

TOKEN_TTL = 600.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleAPI:
    def __init__(self, compute_api, computes: dict, ttl: float = TOKEN_TTL):
        self.compute_api = compute_api   # backend.compute.api.ComputeAPI (nova-api)
        self.computes = computes          # host -> ComputeManager (the proxy's direct line)
        self.ttl = ttl
        self._tokens: dict[str, dict] = {}

    async def create(self, ctx, server_id, protocol: str, type_: str) -> dict:
        if protocol != "serial" or type_ != "serial":
            raise BadRequest(f"unsupported remote console protocol {protocol!r} / type {type_!r}: "
                             "this cloud offers protocol 'serial', type 'serial'")
        api = self.compute_api
        r = api._instance(ctx, server_id)
        api._need_write(ctx)
        if not r["host"] or r["vm_state"] != states.ACTIVE:
            raise Conflict(f"instance {r['uuid']} is {r['vm_state']}: a serial console needs it active")
        api._host_must_be_up(r["host"], "remote console")
        info = await api.compute_rpcapi.get_serial_console(ctx, r["host"], instance_uuid=r["uuid"])
        self._expire()
        token = secrets.token_urlsafe(24)
        self._tokens[_digest(token)] = {
            "instance_uuid": r["uuid"], "host": info["host"], "expires": time.monotonic() + self.ttl,
            "holder": f"user {ctx.user_name} (project {ctx.project_name or ctx.project_id})"}
        return {"protocol": "serial", "type": "serial", "token": token, "instance_uuid": r["uuid"],
                "expires_in": int(self.ttl)}

    def _expire(self) -> None:
        now = time.monotonic()
        for k in [k for k, v in self._tokens.items() if v["expires"] <= now]:
            del self._tokens[k]

    async def connect(self, token: str):
        """Consume the token and attach: a ConsoleSession (the caller closes it)."""
        self._expire()
        rec = self._tokens.pop(_digest(token or ""), None)
        if rec is None:
            raise Unauthorized("the console token is invalid, used or expired")
        cm = self.computes.get(rec["host"])
        if cm is None:  # a cluster: the compute process that owns the host relays it
            from backend.compute.console_relay import RelayedConsole
            from backend.core.context import RequestContext
            info = await self.compute_api.compute_rpcapi.open_serial_relay(
                RequestContext.system(), rec["host"], instance_uuid=rec["instance_uuid"], holder=rec["holder"])
            return await RelayedConsole.connect(info)
        return await cm.attach_serial_console(rec["instance_uuid"], rec["holder"])
