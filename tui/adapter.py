"""The app's one seam to the cloud. Screens talk to a CloudAdapter (the Protocol below),
never to the facade directly, so the same app can run over an in-process Cloud (LocalAdapter,
the default), a remote `pocketstack serve` (tui.remote.RemoteAdapter) or the scripted cloud of
the snapshots (tui.fake_adapter.FakeAdapter). All three share the session logic of `Adapter`.

An adapter holds the session (the token view) and injects the token into every call;
`call("list_servers", ...)` takes the facade's method names and arguments minus the token.
"""
from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol, TypedDict, runtime_checkable

from backend.core.errors import CloudError, Unauthorized
from backend.facade import BackendThread, Cloud
from tui.whathappened import ACTIONS, SERVER_ACTIONS, Call, Happening, Journal, Step
from tui.whathappened_rest import equivalent

Event = dict[str, Any]


def parse_ts(value: str | float | None) -> datetime | None:
    """ISO 8601 (with or without Z) or epoch seconds -> aware datetime; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class PortWiring(TypedDict):
    """A port as the network screen shows it; host and vif_type None: not shown to this user."""
    id: str
    name: str
    device_id: str
    device_owner: str
    mac_address: str
    ip_addresses: list[str]
    status: str
    host: str | None
    vif_type: str | None
    floating_ip: str | None


class NetworkWiring(TypedDict):
    """A network, wired (the facade's list_network_wiring, docs/facade.md): network_type,
    segmentation_id and hosts None where neutron's policy hides them (non-admins)."""
    id: str
    name: str
    project_id: str | None
    status: str
    shared: bool
    external: bool
    network_type: str | None
    segmentation_id: int | None
    hosts: list[str] | None
    ports: list[PortWiring]
    routers: list[dict]


@runtime_checkable
class CloudAdapter(Protocol):
    """What the app needs of a cloud: a session, facade calls as the logged-in user, and
    pushed events (tests/tui/test_adapter_protocol.py checks every adapter against it)."""
    token: dict | None        # the current token view (scoped after scope())
    unscoped: dict | None
    where: str                # shown in the header
    pushes_details: bool      # trace and action events arrive pushed
    journal: Journal          # what each action was as `openstack` and REST calls

    @property
    def project_id(self) -> str | None: ...

    async def login(self, username: str, password: str) -> dict: ...

    async def projects(self) -> list[dict]: ...

    async def scope(self, project: str) -> dict: ...

    async def renew(self) -> dict: ...

    async def logout(self) -> None: ...

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any: ...

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]: ...

    async def network_wiring(self) -> list[NetworkWiring]: ...

    async def open_console(self, server_id: str) -> Any: ...

    async def close(self) -> None: ...


class Adapter(abc.ABC):
    """Session + calls + pushed events. All coroutines run on the app's loop."""
    # the facade is called directly: the journal gets the REST calls each action is over the
    # API; the remote adapter records the HTTP requests it really sends instead
    in_process = True

    def __init__(self) -> None:
        self.token: dict | None = None       # the current token view (scoped after scope())
        self.unscoped: dict | None = None
        self._credentials: tuple[str, str] | None = None
        self.where = "in-process"   # shown in the header
        self.pushes_details = True  # trace and action events arrive pushed (not over --url)
        self.journal = Journal()

    # ---- transport, one per implementation ----------------------------------------------
    @abc.abstractmethod
    async def _invoke(self, method: str, *args, **kwargs) -> Any:
        """Run facade `method` with these exact arguments (the token included)."""

    @abc.abstractmethod
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Push every event to callback, from any thread; returns an unsubscribe."""

    async def close(self) -> None:
        pass

    async def network_wiring(self) -> list[NetworkWiring]:
        """Every network the user sees with its segment, hosts, ports, routers and floating
        IPs (in-process the facade's list_network_wiring; over --url built from neutron's
        API by the same function)."""
        return await self.call("list_network_wiring")

    async def open_console(self, server_id: str) -> Any:
        """Attach to the guest's serial console as the logged-in user: an object with async
        read() -> bytes (b"" once it ended), write(bytes) and close() (detach)."""
        if not self.token:
            raise Unauthorized("log in first")
        return await self._open_console(self.token["token"], server_id)

    async def _open_console(self, token: str, server_id: str) -> Any:
        return await self._invoke("attach_console", token, server_id)

    # ---- session ------------------------------------------------------------------------
    async def login(self, username: str, password: str) -> dict:
        self.journal.user, self.journal.project = username, None
        h = self.journal.open_session(self, "log in")
        # the step names the user only: the password never reaches the journal
        self.unscoped = await self._step(h, Step("login", (username,)), username, password)
        # kept in memory only, as keystoneauth's password plugin does, to renew the token
        self._credentials = (username, password)
        self.token = None
        return self.unscoped

    async def projects(self) -> list[dict]:
        if not self.unscoped:
            raise Unauthorized("log in first")
        h = self._login_happening()
        if h is None:
            return await self._invoke("auth_projects", self.unscoped["token"])
        return await self._step(h, Step("auth_projects"), self.unscoped["token"])

    async def scope(self, project: str) -> dict:
        if not self.unscoped:
            raise Unauthorized("log in first")
        h = self._login_happening() or self.journal.open_session(self, "switch project")
        self.token = await self._step(h, Step("scope", (project,)), self.unscoped["token"], project)
        h.project = self.journal.project = (self.token.get("project") or {}).get("name")
        h.freeze()
        return self.token

    def _login_happening(self) -> Happening | None:
        """The log in being done (no project chosen yet): listing and scoping belong to it."""
        h = self.journal.last
        if h and h.title == "log in" and not any(s.method == "scope" for s in h.steps) \
                and not h.error:
            return h
        return None

    async def renew(self) -> dict:
        """A fresh token for the same project: Keystone never extends a token, so
        authenticate again with the password, as keystoneauth does."""
        if not self._credentials or not self.token:
            raise Unauthorized("not logged in")
        project = self.token["project"]["id"]
        self.unscoped = await self._invoke("login", *self._credentials)
        self.token = await self._invoke("scope", self.unscoped["token"], project)
        return self.token

    async def logout(self) -> None:
        tokens = [t["token"] for t in (self.token, self.unscoped) if t]
        self.token = self.unscoped = None
        self._credentials = None
        for t in tokens:
            try:
                await self._invoke("revoke_token", t)
            except CloudError:
                pass  # already expired or revoked: nothing left to undo

    @property
    def project_id(self) -> str | None:
        return self.token["project"]["id"] if self.token and self.token.get("project") else None

    async def call(self, method: str, *args, **kwargs) -> Any:
        """Facade `method` as the logged-in user: call("get_server", server_id)."""
        if not self.token:
            raise Unauthorized("log in first")
        token = self.token["token"]
        names = self.journal.names
        if method not in ACTIONS:
            result = await self._invoke(method, token, *args, **kwargs)
            names.learn(method, result)
            return result
        if method in SERVER_ACTIONS and method != "create_server" and args \
                and not names.knows("servers", args[0]):
            try:  # the command line names the server as a user would
                names.learn("get_server", await self._invoke("get_server", token, args[0]))
            except Exception:
                pass  # its id will do
        h = self.journal.open(self, method, args, kwargs)
        return await self._step(h, Step(method, args, dict(kwargs)), token, *args, **kwargs)

    # ---- what just happened -------------------------------------------------------------
    async def _step(self, h: Happening, step: Step, *args, **kwargs) -> Any:
        """Run one facade call of an action and record it: over HTTP the requests land in the
        journal as they are sent (the context variable); in-process the REST equivalent."""
        h.steps.append(step)
        entered = self.journal.enter(h)
        try:
            result = await self._invoke(step.method, *args, **kwargs)
        except Exception as e:
            step.error = getattr(e, "message", None) or str(e) or type(e).__name__
            if self.in_process:
                self._equivalent(h, step, getattr(e, "code", 500), None)
            raise
        finally:
            self.journal.leave(entered)
            h.freeze()
        self.journal.names.learn(step.method, result)
        first = result[0] if isinstance(result, list) and result else result
        if isinstance(first, dict) and first.get("id") is not None:
            step.result_id = str(first["id"])
        if self.in_process:
            self._equivalent(h, step, None, await self._action_request_id(step))
        return result

    def _equivalent(self, h: Happening, step: Step, status: int | None, rid: str | None) -> None:
        eq = equivalent(step, self.project_id, h.user)
        if eq:
            verb, path, ok, body = eq
            h.calls.append(Call(verb, path, status or ok, rid, body, step.error))

    async def _action_request_id(self, step: Step) -> str | None:
        """The request id the backend recorded for this instance action (what nova answers in
        x-openstack-request-id), read back as the REST API does."""
        action = SERVER_ACTIONS.get(step.method)
        sid = step.result_id if step.method == "create_server" else (step.args or [None])[0]
        if not action or not sid or not self.token:
            return None
        try:
            acts = await self._invoke("list_instance_actions", self.token["token"], sid)
        except Exception:
            return None
        mine = [a for a in acts if a.get("action") == action]
        return max(mine, key=lambda a: str(a.get("start_time") or ""))["request_id"] if mine else None


class LocalAdapter(Adapter):
    """A Cloud on a BackendThread in this process; calls hop to its loop and back."""

    def __init__(self, backend: BackendThread) -> None:
        super().__init__()
        self.backend = backend

    @classmethod
    def over(cls, cloud: Cloud) -> LocalAdapter:
        return cls(BackendThread(cloud))

    async def _invoke(self, method: str, *args, **kwargs) -> Any:
        fn = getattr(self.backend.cloud, method)
        return await self.backend.acall(fn, *args, **kwargs)

    async def _open_console(self, token: str, server_id: str) -> Any:
        from tui.console_link import LoopHop
        return LoopHop(await self._invoke("attach_console", token, server_id), self.backend)

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        # scoped to whoever is logged in: their project's events, hosts only for admins
        return self.backend.cloud.subscribe(callback, token=lambda: self.token and self.token["token"])
