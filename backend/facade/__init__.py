"""The backend facade: the one public Python API of pocketstack.

The app (tui/), the CLI and the REST API all go through this class and nothing else.
Every call that acts for a user takes that user's token first; the facade turns it into a
request context (identity validates it), then hands the work to the service that owns it.
All methods are coroutines that run on the backend's event loop; `BackendThread` (below)
runs a Cloud on a loop of its own for callers on other threads (the app, the tests).

Objects come back as plain dicts (the `view` functions of each service); their keys are
documented in docs/facade.md.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from backend.core.config import Config
from backend.core.context import RequestContext
from backend.core.errors import CloudError, Unauthorized
from backend.facade.identity import IdentityFacade
from backend.facade.identity_extra import IdentityExtraFacade
from backend.facade.compute import ComputeFacade
from backend.facade.resources import ResourcesFacade
from backend.facade.secgroups import SecurityGroupsFacade
from backend.facade.routers import RoutersFacade
from backend.facade.network_wiring import NetworkWiringFacade

Event = dict[str, Any]


def _timestamp(iso: str) -> float:
    """A context's token_expires_at (identity's ISO form, UTC) as a Unix time."""
    return dt.datetime.fromisoformat(iso).timestamp()


class Cloud(IdentityFacade, IdentityExtraFacade, ComputeFacade, ResourcesFacade, RoutersFacade, SecurityGroupsFacade,
            NetworkWiringFacade):
    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        self._runtime = None  # backend.runtime.Runtime, set by start()

    # ---- life cycle -------------------------------------------------------------------
    @staticmethod
    def init(config: Config, admin_password: str) -> dict:
        """Create the state directory, database, admin user/project, default flavors and
        the 'private' network. Idempotent. Returns a summary."""
        from backend import bootstrap
        return bootstrap.init(config, admin_password)

    @staticmethod
    def db_sync(config: Config, revision: str = "head") -> dict:
        """Upgrade the database's schema to revision (`pocketstack db sync`); a database made
        before migrations is adopted in place. Returns the database and its revisions."""
        from backend import bootstrap
        return bootstrap.db_sync(config, revision)

    async def start(self, *, serve_url: str | None = None) -> None:
        """Take the state directory's lock, open the database, start every service and
        reconcile what a previous run left behind. serve_url is recorded in the lock so a
        second process can say where the running one listens."""
        from backend.runtime import Runtime
        self._runtime = Runtime(self.config)
        await self._runtime.start(serve_url=serve_url)

    async def stop(self) -> None:
        if self._runtime:
            await self._runtime.stop()
            self._runtime = None

    @property
    def rt(self):
        if self._runtime is None:
            raise CloudError("the backend is not started")
        return self._runtime

    def subscribe(self, callback: Callable[[Event], None],
                  token: str | Callable[[], str | None] | None = None) -> Callable[[], None]:
        """Push every state change to callback (called on the backend loop; it must not
        block). Events: {"type": "instance", "server": <server view>},
        {"type": "trace", "trace": <trace view>}, {"type": "host", "host": <hypervisor view>},
        {"type": "action", "instance_uuid", "event": <event view>}. Returns an unsubscribe.

        With token (a token, or a function giving the current one), only what that token may
        see arrives, as the read calls would show it: its project's instances (all for an
        admin), host names for admins only, host events for admins only. Without, the
        operator's raw feed."""
        if token is None:
            return self.rt.events.subscribe(callback)
        return self.rt.events.subscribe(self._scoped(callback, token))

    def stream(self, callback: Callable[[str, Event], None], token: str,
               last_event_id: str | None = None, types: Collection[str] | None = None):
        """subscribe(token=...) with ids, for the REST API's event stream: callback(id, event).
        With last_event_id (an id it gave), first the events after it that the token may see,
        or, when those are no longer kept (or the id is from an earlier run), one
        {"type": "reset", "reason"}: reload the lists. A malformed id is a BadRequest.
        types: only events of these types (and resets); the others cost nothing more here.
        Returns a subscription: .close() ends it, .position is the newest event's id."""
        current = [""]
        scoped = self._scoped(lambda event: callback(current[0], event), token)
        wanted = None if types is None else frozenset(types)

        def with_id(event_id: str, event: Event) -> None:
            if event.get("type") == "reset":
                callback(event_id, event)
            else:
                current[0] = event_id
                if wanted is None or event.get("type") in wanted:
                    scoped(event)
        return self.rt.events.subscribe_from(with_id, last_event_id)

    def _scoped(self, callback: Callable[[Event], None],
                token: str | Callable[[], str | None]) -> Callable[[Event], None]:
        """callback, given only what token may see (the rules in subscribe's docstring)."""
        rt = self.rt
        owners: dict[str, str | None] = {}

        def owner(uuid):
            if uuid not in owners:
                r = rt.store.get(uuid)
                owners[uuid] = r["project_id"] if r else None
            return owners[uuid]

        # (token, its context, checked again from, identity's epoch): the token is checked
        # once, and again only when its answer may have changed - another token (a callable's
        # current one), its expiry reached, or any identity change since (a revocation)
        held: list = [None, None, 0.0, -1]

        def context(tok):
            epoch = rt.identity.epoch
            if tok == held[0] and epoch == held[3] and time.time() < held[2]:
                return held[1]
            try:
                ctx = rt.identity.context_for(tok) if tok else None
            except CloudError:
                ctx = None
            until = _timestamp(ctx.token_expires_at) if ctx and ctx.token_expires_at else math.inf
            held[:] = [tok, ctx, until, epoch]
            return ctx

        def scoped(event):
            ctx = context(token() if callable(token) else token)
            if ctx is None or not ctx.project_id:
                return
            kind = event.get("type")
            if ctx.is_admin:
                callback(event)
            elif kind == "instance":
                v = event["server"]
                if v["project_id"] == ctx.project_id:
                    callback({"type": "instance", "server": dict(
                        v, host=None, fault=rt.store.hide_hosts(v["fault"]) if v.get("fault") else None)})
            elif kind in ("trace", "action"):
                uuid = event.get("instance_uuid") or (event.get("trace") or {}).get("instance_uuid")
                if uuid and owner(uuid) == ctx.project_id:
                    callback(rt.store.hide_hosts(event))
        return scoped

    async def ctx(self, token: str) -> RequestContext:
        if not token:
            raise Unauthorized("authentication required: no token given")
        return self.rt.identity.context_for(token)



class BackendThread:
    """Runs a Cloud on an event loop in a thread of its own, for callers on other threads:
    `bt.call(bt.cloud.list_servers, token)` blocks until the coroutine is done."""

    def __init__(self, cloud: Cloud):
        self.cloud = cloud
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="pocketstack-backend",
                                        daemon=True)

    def start(self, *, serve_url: str | None = None) -> None:
        self._thread.start()
        self.call(self.cloud.start, serve_url=serve_url)

    def call(self, fn, *args, timeout: float | None = 60, **kwargs):
        fut = asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self.loop)
        return fut.result(timeout)

    async def acall(self, fn, *args, **kwargs):
        """Await a facade coroutine from another event loop (the app's)."""
        fut = asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self.loop)
        return await asyncio.wrap_future(fut)

    def stop(self) -> None:
        try:
            self.call(self.cloud.stop, timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
