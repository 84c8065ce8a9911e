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
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from backend.core.config import Config
from backend.core.context import RequestContext
from backend.core.errors import CloudError, NotFound, Unauthorized

Event = dict[str, Any]


class Cloud:
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
               last_event_id: str | None = None):
        """subscribe(token=...) with ids, for the REST API's event stream: callback(id, event).
        With last_event_id (an id it gave), first the events after it that the token may see,
        or, when those are no longer kept (or the id is from an earlier run), one
        {"type": "reset", "reason"}: reload the lists. A malformed id is a BadRequest.
        Returns a subscription: .close() ends it, .position is the newest event's id."""
        current = [""]
        scoped = self._scoped(lambda event: callback(current[0], event), token)

        def with_id(event_id: str, event: Event) -> None:
            if event.get("type") == "reset":
                callback(event_id, event)
            else:
                current[0] = event_id
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

        def scoped(event):
            tok = token() if callable(token) else token
            try:
                ctx = rt.identity.context_for(tok) if tok else None
            except CloudError:
                ctx = None
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

    # ---- identity ---------------------------------------------------------------------
    async def login(self, username: str, password: str, project: str | None = None,
                    domain: str = "Default", project_domain: str = "Default") -> dict:
        """Password -> token (unscoped when project is None). Returns the token view:
        {token, issued_at, expires_at, user{id,name,domain}, project{id,name}|None, roles[{id,name}], methods}."""
        return await self.rt.identity.authenticate_password(username, password, project, domain)

    async def operator_token(self) -> str:
        """An admin token for tools run by the owner of the state directory on this machine
        (as keystone-manage bootstrap trusts the operator): whoever can open the database
        and take its lock owns the cloud already. Never reachable over the REST API."""
        return self.rt.identity.operator_token()

    async def scope(self, token: str, project: str) -> dict:
        """Token (usually unscoped) + project name or id -> new project-scoped token."""
        return self.rt.identity.authenticate_token(token, project)

    async def validate_token(self, token: str, subject: str | None = None) -> dict:
        """Validate subject (default: token itself) with token's authority."""
        return self.rt.identity.validate(token, subject)

    async def revoke_token(self, token: str, subject: str | None = None) -> None:
        self.rt.identity.revoke(token, subject)

    async def auth_projects(self, token: str) -> list[dict]:
        return self.rt.identity.auth_projects(token)

    async def list_users(self, token: str) -> list[dict]:
        return self.rt.identity.list_users(await self.ctx(token))

    async def get_user(self, token: str, user: str) -> dict:
        return self.rt.identity.get_user(await self.ctx(token), user)

    async def create_user(self, token: str, name: str, password: str,
                          default_project: str | None = None, enabled: bool = True) -> dict:
        return self.rt.identity.create_user(await self.ctx(token), name, password, default_project, enabled)

    async def update_user(self, token: str, user: str, name: str | None = None, password: str | None = None,
                          enabled: bool | None = None, default_project: str | None = None,
                          original_password: str | None = None) -> dict:
        """A new password or disabling revokes the user's tokens. A user changing their own
        password must give the current one (keystone's POST /v3/users/{id}/password)."""
        ctx = await self.ctx(token)
        pw_hash = None
        if password is not None:  # bcrypt is slow on purpose: off the loop
            if not ctx.is_admin:
                await self.rt.identity.check_own_password(ctx, user, original_password)
            pw_hash = await asyncio.to_thread(self.rt.identity.hash_password, password)
        return self.rt.identity.update_user(ctx, user, name, pw_hash, enabled, default_project)

    async def delete_user(self, token: str, user: str) -> None:
        self.rt.identity.delete_user(await self.ctx(token), user)

    async def list_projects(self, token: str) -> list[dict]:
        return self.rt.identity.list_projects(await self.ctx(token))

    async def get_project(self, token: str, project: str) -> dict:
        return self.rt.identity.get_project(await self.ctx(token), project)

    async def create_project(self, token: str, name: str, description: str = "") -> dict:
        return self.rt.identity.create_project(await self.ctx(token), name, description)

    async def update_project(self, token: str, project: str, name: str | None = None,
                             description: str | None = None, enabled: bool | None = None) -> dict:
        return self.rt.identity.update_project(await self.ctx(token), project, name, description, enabled)

    async def delete_project(self, token: str, project: str) -> None:
        self.rt.identity.delete_project(await self.ctx(token), project)

    async def list_roles(self, token: str) -> list[dict]:
        return self.rt.identity.list_roles(await self.ctx(token))

    async def get_role(self, token: str, role: str) -> dict:
        return self.rt.identity.get_role(await self.ctx(token), role)

    async def grant_role(self, token: str, project: str, user: str, role: str) -> None:
        self.rt.identity.grant_role(await self.ctx(token), project, user, role)

    async def revoke_role(self, token: str, project: str, user: str, role: str) -> None:
        self.rt.identity.revoke_role(await self.ctx(token), project, user, role)

    async def check_role(self, token: str, project: str, user: str, role: str) -> bool:
        return self.rt.identity.check_role(await self.ctx(token), project, user, role)

    async def list_role_assignments(self, token: str, project: str | None = None,
                                    user: str | None = None) -> list[dict]:
        return self.rt.identity.list_role_assignments(await self.ctx(token), project, user)

    # ---- compute ----------------------------------------------------------------------
    async def create_server(self, token: str, name: str, image: str | None, flavor: str,
                            networks: list[dict] | str | None = None,
                            boot_volume_size: int | None = None,
                            availability_zone: str | None = None,
                            min_count: int = 1, max_count: int = 1,
                            scheduler_hints: dict | None = None,
                            metadata: dict | None = None) -> list[dict]:
        """Validate, write the instance(s) as building/scheduling/NOSTATE, record the
        'create' action, cast the build, and return at once (server views).
        networks: None or "auto" (the project's or the shared network), "none", or
        [{"uuid": net_id} | {"port": port_id} | {"fixed_ip": ip, "uuid": net_id}]."""
        return await self.rt.compute_api.create(await self.ctx(token), name=name, image=image,
                                                flavor=flavor, networks=networks,
                                                boot_volume_size=boot_volume_size,
                                                availability_zone=availability_zone,
                                                min_count=min_count, max_count=max_count,
                                                scheduler_hints=scheduler_hints or {},
                                                metadata=metadata or {})

    async def list_servers(self, token: str, all_projects: bool = False,
                           filters: dict | None = None, limit: int | None = None,
                           marker: str | None = None) -> list[dict]:
        """filters: name (regex, as nova), status, host, project_id, image, flavor."""
        return self.rt.compute_api.list(await self.ctx(token), all_projects, filters or {}, limit, marker)

    async def get_server(self, token: str, server_id: str) -> dict:
        return self.rt.compute_api.get(await self.ctx(token), server_id)

    async def rename_server(self, token: str, server_id: str, name: str) -> dict:
        return self.rt.compute_api.rename(await self.ctx(token), server_id, name)

    async def delete_server(self, token: str, server_id: str) -> None:
        await self.rt.compute_api.delete(await self.ctx(token), server_id)

    async def stop_server(self, token: str, server_id: str) -> None:
        await self.rt.compute_api.stop(await self.ctx(token), server_id)

    async def start_server(self, token: str, server_id: str) -> None:
        await self.rt.compute_api.start(await self.ctx(token), server_id)

    async def reboot_server(self, token: str, server_id: str, hard: bool = False) -> None:
        await self.rt.compute_api.reboot(await self.ctx(token), server_id, hard)

    async def list_instance_actions(self, token: str, server_id: str) -> list[dict]:
        return self.rt.compute_api.list_actions(await self.ctx(token), server_id)

    async def get_instance_action(self, token: str, server_id: str, request_id: str) -> dict:
        """The action with its 'events' list."""
        return self.rt.compute_api.get_action(await self.ctx(token), server_id, request_id)

    async def get_console_output(self, token: str, server_id: str, length: int | None = None) -> str:
        return await self.rt.compute_api.console_output(await self.ctx(token), server_id, length)

    async def explain_server(self, token: str, server_id: str) -> list[dict]:
        """The scheduler's decisions for this instance, one per attempt."""
        return self.rt.compute_api.explain(await self.ctx(token), server_id)

    async def get_trace(self, token: str, server_id: str) -> list[dict]:
        """Every queue message and service step of this instance, oldest first."""
        return self.rt.compute_api.trace(await self.ctx(token), server_id)

    async def get_flow(self, token: str, server_id: str) -> dict:
        """The launch as the seed's six steps (docs/facade.md): each with its services,
        queues, times, states, events and trace records; the running step, faults. Readable
        after a delete, as the trace is; host names for admins only."""
        trace = await self.get_trace(token, server_id)
        actions = [await self.get_instance_action(token, server_id, a["request_id"])
                   for a in await self.list_instance_actions(token, server_id) if a["action"] == "create"]
        try:
            server = await self.get_server(token, server_id)
        except NotFound:  # deleted: its flow stays readable
            server = None
        return self.flow_of(server, trace, actions)

    @staticmethod
    def flow_of(server: dict | None, trace: list[dict], actions: list[dict], now: float | None = None) -> dict:
        """get_flow's grouping over views a client already holds (get_server, get_trace,
        get_instance_action); pure."""
        from backend.messaging.flow import build_flow
        return build_flow(server, trace, actions, now)

    async def list_flavors(self, token: str) -> list[dict]:
        return self.rt.compute_api.list_flavors(await self.ctx(token))

    async def get_flavor(self, token: str, flavor: str) -> dict:
        return self.rt.compute_api.get_flavor(await self.ctx(token), flavor)

    async def create_flavor(self, token: str, name: str, vcpus: int, ram: int, disk: int,
                            flavor_id: str | None = None, is_public: bool = True) -> dict:
        return self.rt.compute_api.create_flavor(await self.ctx(token), name, vcpus, ram, disk,
                                                 flavor_id, is_public)

    async def delete_flavor(self, token: str, flavor: str) -> None:
        self.rt.compute_api.delete_flavor(await self.ctx(token), flavor)

    async def list_hypervisors(self, token: str) -> list[dict]:
        return self.rt.compute_api.list_hypervisors(await self.ctx(token))

    async def get_hypervisor(self, token: str, host: str) -> dict:
        return self.rt.compute_api.get_hypervisor(await self.ctx(token), host)

    async def create_server_group(self, token: str, name: str, policy: str) -> dict:
        return self.rt.compute_api.create_server_group(await self.ctx(token), name, policy)

    async def list_server_groups(self, token: str) -> list[dict]:
        return self.rt.compute_api.list_server_groups(await self.ctx(token))

    async def delete_server_group(self, token: str, group_id: str) -> None:
        self.rt.compute_api.delete_server_group(await self.ctx(token), group_id)

    async def glossary(self, token: str) -> list[dict]:
        """What each state, fault kind, scheduler filter and weigher and each main term means:
        [{kind, term, text}] (power states add their code, fault kinds the pattern of their
        messages). Any valid token may read it."""
        from backend.core import glossary
        await self.ctx(token)
        return glossary.entries()

    async def get_limits(self, token: str) -> dict:
        """nova's absolute limits of the token's project (maxTotalInstances, totalInstancesUsed, ...)."""
        return self.rt.compute_api.limits(await self.ctx(token))

    # ---- quotas -----------------------------------------------------------------------
    def _quota(self):
        from backend.core.quota import QuotaService
        return QuotaService(self.rt.db, self.config)

    async def get_quotas(self, token: str, project_id: str, service: str) -> dict:
        """One service's quotas of a project (service: compute, network, volume, image):
        {resource: {"limit", "in_use"}}, -1 = unlimited. Members see their own project only."""
        return self._quota().show(await self.ctx(token), project_id, service)

    async def get_default_quotas(self, token: str, service: str) -> dict:
        """{resource: default limit} of one service."""
        return self._quota().show_defaults(await self.ctx(token), service)

    async def update_quotas(self, token: str, project_id: str, service: str, values: dict,
                            force: bool = True) -> dict:
        """Admin only: set limits ({resource: int >= -1}); all or nothing. force=False
        refuses a limit under current usage. Returns get_quotas' view."""
        return self._quota().update(await self.ctx(token), project_id, service, values, force)

    async def delete_quotas(self, token: str, project_id: str, service: str) -> None:
        """Admin only: the project's limits of one service back to the defaults."""
        self._quota().delete(await self.ctx(token), project_id, service)

    # ---- image ------------------------------------------------------------------------
    async def list_images(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.image.list(await self.ctx(token), filters or {})

    async def get_image(self, token: str, image: str) -> dict:
        return self.rt.image.get(await self.ctx(token), image)

    async def create_image(self, token: str, name: str, disk_format: str = "raw",
                           container_format: str = "bare", visibility: str = "private",
                           min_ram: int = 0, min_disk: int = 0,
                           properties: dict | None = None, image_id: str | None = None) -> dict:
        return self.rt.image.create(await self.ctx(token), name, disk_format, container_format,
                                    visibility, min_ram, min_disk, properties or {}, image_id)

    async def upload_image(self, token: str, image: str,
                           data: bytes | Iterable[bytes] | AsyncIterator[bytes] | Path) -> dict:
        """Store the image data (bytes, a path, or a (async) iterator of chunks); computes
        size and sha256; the image becomes 'active'."""
        return await self.rt.image.upload(await self.ctx(token), image, data)

    async def download_image(self, token: str, image: str) -> tuple[dict, Path]:
        """The image view and the path of its stored file (checksum verified)."""
        return self.rt.image.download(await self.ctx(token), image)

    async def update_image(self, token: str, image: str, changes: dict) -> dict:
        return self.rt.image.update(await self.ctx(token), image, changes)

    async def delete_image(self, token: str, image: str) -> None:
        self.rt.image.delete(await self.ctx(token), image)

    # ---- network ----------------------------------------------------------------------
    async def list_networks(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.network.list_networks(await self.ctx(token), filters or {})

    async def get_network(self, token: str, network: str) -> dict:
        return self.rt.network.get_network(await self.ctx(token), network)

    async def create_network(self, token: str, name: str, shared: bool = False,
                             project_id: str | None = None) -> dict:
        """project_id: another owner than the token's project (admins only)."""
        return self.rt.network.create_network(await self.ctx(token), name, shared, project_id)

    async def delete_network(self, token: str, network: str) -> None:
        self.rt.network.delete_network(await self.ctx(token), network)

    async def list_subnets(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.network.list_subnets(await self.ctx(token), filters or {})

    async def get_subnet(self, token: str, subnet: str) -> dict:
        return self.rt.network.get_subnet(await self.ctx(token), subnet)

    async def create_subnet(self, token: str, network: str, cidr: str, name: str = "",
                            gateway_ip: str | None = None,
                            allocation_pools: list[dict] | None = None) -> dict:
        return self.rt.network.create_subnet(await self.ctx(token), network, cidr, name,
                                             gateway_ip, allocation_pools)

    async def delete_subnet(self, token: str, subnet: str) -> None:
        self.rt.network.delete_subnet(await self.ctx(token), subnet)

    async def list_ports(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.network.list_ports(await self.ctx(token), filters or {})

    async def get_port(self, token: str, port: str) -> dict:
        return self.rt.network.get_port(await self.ctx(token), port)

    async def create_port(self, token: str, network: str, name: str = "",
                          fixed_ip: str | None = None) -> dict:
        return self.rt.network.create_port(await self.ctx(token), network, name, fixed_ip)

    async def delete_port(self, token: str, port: str) -> None:
        self.rt.network.delete_port(await self.ctx(token), port)

    # ---- volume -----------------------------------------------------------------------
    async def list_volumes(self, token: str, all_projects: bool = False) -> list[dict]:
        return self.rt.volume.list(await self.ctx(token), all_projects)

    async def get_volume(self, token: str, volume: str) -> dict:
        return self.rt.volume.get(await self.ctx(token), volume)

    async def create_volume(self, token: str, size: int, name: str = "",
                            description: str = "") -> dict:
        return self.rt.volume.create(await self.ctx(token), size, name, description)

    async def delete_volume(self, token: str, volume: str) -> None:
        await self.rt.volume.delete(await self.ctx(token), volume)

    async def attach_volume(self, token: str, server_id: str, volume: str) -> dict:
        return await self.rt.compute_api.attach_volume(await self.ctx(token), server_id, volume)

    async def detach_volume(self, token: str, server_id: str, volume: str) -> None:
        await self.rt.compute_api.detach_volume(await self.ctx(token), server_id, volume)


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
