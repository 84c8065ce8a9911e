"""What just happened: every action of the app as the `openstack` command line a user would
type for it, and the REST calls it made, with secrets masked.

The adapters record here (tui/adapter.py): over --url (tui/remote.py) the calls are the real
HTTP requests the adapter sent, with the status and request id the server answered; in-process
the app calls the facade directly, so the calls are the REST requests the same action is over
the API (tui/whathappened_rest.py) with the request id the backend recorded for the instance
action, and the panel says "in-process".
The panel is tui/screens/what_happened.py."""
from __future__ import annotations

import contextvars
import itertools
import json
import shlex
from collections import deque
from dataclasses import dataclass, field
from typing import Any

MASK = "***"
# request fields whose values never reach the screen (keystone, nova, the auth headers)
SECRET_KEYS = frozenset({"password", "adminpass", "admin_pass", "user_data", "token", "secret",
                         "original_password", "x-auth-token", "x-subject-token", "credential"})


def mask(value: Any) -> Any:
    """A copy of a request body with every secret replaced by ***. Under a secret key a dict
    keeps its shape (`"token": {"id": "***"}`, `"password": {"user": {"name": "admin",
    "password": "***"}}`) so the body still reads as the request it was."""
    if isinstance(value, dict):
        return {k: _secret(v) if str(k).lower() in SECRET_KEYS else mask(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    return value


def _secret(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if k == "id" or str(k).lower() in SECRET_KEYS else _secret_inner(v)
                for k, v in value.items()}
    return MASK if value not in (None, "") else value


def _secret_inner(value: Any) -> Any:
    return mask(value) if isinstance(value, (dict, list)) else value


@dataclass
class Call:
    """One REST request: made (over --url) or the equivalent of a facade call (in-process)."""
    method: str
    path: str
    status: int | None              # None: no answer (the server could not be reached)
    request_id: str | None = None
    body: Any = None                # masked JSON, or a description of a file body
    error: str | None = None

    def line(self) -> str:
        status = "no answer" if self.status is None else str(self.status)
        return f"{self.method} {self.path} → {status}  {self.request_id or '-'}"

    def body_text(self) -> str | None:
        if self.body is None:
            return None
        if isinstance(self.body, str):
            return self.body
        return json.dumps(self.body, ensure_ascii=False)


@dataclass
class Step:
    """One facade call of an action: what the command line is made of (no token, no password)."""
    method: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    result_id: str | None = None    # the id of what it created
    error: str | None = None


@dataclass
class Happening:
    title: str
    in_process: bool
    where: str                      # "in-process" or the --url
    journal: "Journal"
    server_id: str | None = None
    user: str | None = None
    project: str | None = None
    steps: list[Step] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    seq: int = 0
    frozen: list[str] | None = None

    @property
    def error(self) -> str | None:
        return next((s.error for s in self.steps if s.error), None)

    def freeze(self) -> None:
        """Name things as they were named when the action was done (a deleted volume's name
        leaves the listing right after)."""
        self.frozen = commands_for(self.steps, self.journal, self)

    @property
    def commands(self) -> list[str]:
        return self.frozen if self.frozen is not None else commands_for(self.steps, self.journal, self)

    @property
    def note(self) -> str | None:
        return notes_for(self.steps, self.journal)


class Names:
    """id -> name of what the app has listed, so a command line names things as a user
    would; an id when the name is missing, shared, or would not survive the shell/argparse."""

    KINDS = {"list_servers": "servers", "get_server": "servers", "create_server": "servers",
             "list_images": "images", "get_image": "images", "create_image": "images",
             "list_flavors": "flavors", "create_flavor": "flavors",
             "list_networks": "networks", "create_network": "networks",
             "list_volumes": "volumes", "create_volume": "volumes"}

    def __init__(self) -> None:
        self.by_kind: dict[str, dict[str, str]] = {k: {} for k in set(self.KINDS.values())}

    def learn(self, method: str, result: Any) -> None:
        kind = self.KINDS.get(method)
        if kind is None or result is None:
            return
        items = result if isinstance(result, list) else [result]
        known = {str(i["id"]): i.get("name") or "" for i in items if isinstance(i, dict) and "id" in i}
        if method.startswith("list_"):
            self.by_kind[kind] = known   # a listing is the whole truth
        else:
            self.by_kind[kind].update(known)

    def knows(self, kind: str, ident: str) -> bool:
        return str(ident) in self.by_kind[kind]

    def ref(self, kind: str, ident: Any) -> str:
        ident = str(ident)
        names = self.by_kind[kind]
        name = names.get(ident)
        if not name or name.startswith("-") or not name.isprintable() \
                or sum(1 for n in names.values() if n == name) > 1 or (name in names and name != ident):
            return ident
        return name


# ---- the openstack command line of each facade call ------------------------------------
def _cmd(*argv: Any) -> str:
    return shlex.join(["openstack", *(str(a) for a in argv)])


def _server_create(s: Step, n: Names) -> str:
    name, image, flavor = s.args[:3]
    kw = s.kwargs
    argv: list[Any] = ["server", "create", "--image", n.ref("images", image),
                       "--flavor", n.ref("flavors", flavor)]
    nets = kw.get("networks")
    if nets == "none":
        argv.append("--no-network")
    elif isinstance(nets, list):
        for net in nets:
            if net.get("port"):
                argv += ["--port", net["port"]]
            elif net.get("fixed_ip"):
                argv += ["--nic", f"net-id={net['uuid']},v4-fixed-ip={net['fixed_ip']}"]
            else:
                argv += ["--network", n.ref("networks", net["uuid"])]
    if kw.get("boot_volume_size"):
        argv += ["--boot-from-volume", kw["boot_volume_size"]]
    if kw.get("availability_zone"):
        argv += ["--availability-zone", kw["availability_zone"]]
    count = kw.get("max_count") or 1
    if count > 1:
        argv += ["--min", kw.get("min_count") or count, "--max", count]
    return _cmd(*argv, name)


def _token_issue(j: "Journal", h: Happening) -> str:
    argv: list[Any] = []
    if j.auth_url:
        argv += ["--os-auth-url", j.auth_url]
    argv += ["--os-username", h.user or "USER", "--os-user-domain-name", "Default"]
    if h.project:
        argv += ["--os-project-name", h.project, "--os-project-domain-name", "Default"]
    return _cmd(*argv, "token", "issue")


def file_label(data: Any) -> str:
    """A file body as the command line names it: the path, or how many bytes."""
    if isinstance(data, (bytes, bytearray)):
        return f"<{len(data)} bytes>"
    return str(data)


def _one(s: Step, j: "Journal", h: Happening) -> str | None:
    n, a, kw = j.names, s.args, s.kwargs
    srv = lambda: n.ref("servers", a[0])  # noqa: E731
    simple = {"delete_server": ("server", "delete"), "stop_server": ("server", "stop"),
              "start_server": ("server", "start")}
    if s.method in simple:
        return _cmd(*simple[s.method], srv())
    if s.method == "create_server":
        return _server_create(s, n)
    if s.method == "reboot_server":
        return _cmd("server", "reboot", "--hard", srv()) if kw.get("hard") else _cmd("server", "reboot", srv())
    if s.method in ("attach_volume", "detach_volume"):
        verb = "add" if s.method == "attach_volume" else "remove"
        return _cmd("server", verb, "volume", srv(), n.ref("volumes", a[1]))
    if s.method == "create_volume":
        argv: list[Any] = ["volume", "create", "--size", a[0]]
        if kw.get("description"):
            argv += ["--description", kw["description"]]
        return _cmd(*argv, *([kw["name"]] if kw.get("name") else []))
    if s.method == "delete_volume":
        return _cmd("volume", "delete", n.ref("volumes", a[0]))
    if s.method == "create_image":
        argv = ["image", "create", "--disk-format", kw.get("disk_format") or "raw",
                "--container-format", kw.get("container_format") or "bare"]
        if kw.get("visibility") in ("public", "shared", "community"):
            argv.append(f"--{kw['visibility']}")
        return _cmd(*argv, a[0])
    if s.method == "delete_image":
        return _cmd("image", "delete", n.ref("images", a[0]))
    if s.method == "create_flavor":
        name, vcpus, ram, disk = a[:4]
        argv = ["flavor", "create", "--vcpus", vcpus, "--ram", ram, "--disk", disk]
        if kw.get("is_public") is False:
            argv.append("--private")
        return _cmd(*argv, name)
    if s.method == "delete_flavor":
        return _cmd("flavor", "delete", n.ref("flavors", a[0]))
    if s.method == "create_network":
        return _cmd("network", "create", *(["--share"] if kw.get("shared") else []), a[0])
    if s.method == "create_subnet":
        return _cmd("subnet", "create", "--network", n.ref("networks", a[0]),
                    "--subnet-range", a[1], *([kw["name"]] if kw.get("name") else []))
    if s.method == "delete_network":
        return _cmd("network", "delete", n.ref("networks", a[0]))
    if s.method in ("login", "scope"):
        return _token_issue(j, h)
    return None


def event_show(j: "Journal", server_id: str, request_id: str) -> str:
    """How to see one of an instance's actions with the openstack CLI."""
    return _cmd("server", "event", "show", j.names.ref("servers", server_id), request_id)


def commands_for(steps: list[Step], j: "Journal", h: Happening) -> list[str]:
    out: list[str] = []
    for i, s in enumerate(steps):
        if s.method == "upload_image":
            # image create + upload is one `openstack image create --file` (glance's two calls)
            prev = steps[i - 1] if i else None
            if prev and prev.method == "create_image" and out:
                out[-1] = out[-1].replace(" image create ", " image create --file "
                                          + shlex.quote(file_label(s.args[1])) + " ", 1)
            continue
        if s.method == "scope" and any(p.method == "login" for p in steps[:i]):
            continue  # log in + scope is one scoped `token issue`
        line = _one(s, j, h)
        if line and line not in out:
            out.append(line)
    return out


def notes_for(steps: list[Step], j: "Journal") -> str | None:
    notes = []
    if any(s.method in ("login", "scope") for s in steps):
        notes.append("openstack asks for the password (or reads OS_PASSWORD); the app never shows it.")
        if not j.auth_url:
            notes.append("This app serves no REST API: point --os-auth-url at a `pocketstack serve`.")
    if any(s.method == "create_server" and s.kwargs.get("networks") == "none" for s in steps):
        notes.append("--no-network needs --os-compute-api-version 2.37; pocketstack's API is 2.1 and "
                     "takes \"networks\": \"none\" in the body, as the app sends it.")
    return " ".join(notes) or None


# the facade calls that act on one instance, and nova's name for the action they record
SERVER_ACTIONS = {"create_server": "create", "delete_server": "delete", "stop_server": "stop",
                  "start_server": "start", "reboot_server": "reboot",
                  "attach_volume": "attach_volume", "detach_volume": "detach_volume"}


# ---- the journal -------------------------------------------------------------------------
_current: contextvars.ContextVar[Happening | None] = contextvars.ContextVar("happening", default=None)
# the facade calls that are actions (the rest only read)
ACTIONS = frozenset({*SERVER_ACTIONS, "create_volume", "delete_volume", "create_image",
                     "upload_image", "delete_image", "create_flavor", "delete_flavor",
                     "create_network", "create_subnet", "delete_network"})
TITLES = {"create_server": "launch", "delete_server": "delete", "stop_server": "stop",
          "start_server": "start", "reboot_server": "reboot", "attach_volume": "attach volume",
          "detach_volume": "detach volume", "create_volume": "create volume",
          "delete_volume": "delete volume", "create_image": "upload image",
          "upload_image": "upload image", "delete_image": "delete image",
          "create_flavor": "create flavor", "delete_flavor": "delete flavor",
          "create_network": "create network", "create_subnet": "create subnet",
          "delete_network": "delete network"}
# a call that finishes the previous action rather than starting one: (previous, same id)
CONTINUES = {"upload_image": "create_image", "create_subnet": "create_network"}


class Journal:
    """The actions of one adapter, newest last; the one being done is in a context variable
    so the remote adapter's HTTP calls land in it (and the poller's never do)."""

    def __init__(self, keep: int = 100) -> None:
        self.names = Names()
        self.history: deque[Happening] = deque(maxlen=keep)
        self.auth_url: str | None = None    # where `openstack` authenticates (the REST API)
        self.user: str | None = None        # the session, for `token issue`
        self.project: str | None = None
        self._seq = itertools.count(1)

    def open(self, adapter, method: str, args: tuple, kwargs: dict) -> Happening:
        """The happening this facade call belongs to: the previous one when it continues it
        (image upload after create, subnet after network), else a new one."""
        last = self.last
        if last and method in CONTINUES and last.steps and last.steps[-1].method == CONTINUES[method] \
                and args and last.steps[-1].result_id == str(args[0]):
            return last
        sid = str(args[0]) if method in SERVER_ACTIONS and method != "create_server" and args else None
        if sid:
            what = self.names.by_kind["servers"].get(sid) or sid
        elif method == "create_volume":
            what = kwargs.get("name") or ""
        elif method.startswith("create_"):
            what = str(args[0]) if args else ""
        elif method.startswith("delete_") and args:
            kind = method.split("_", 1)[1] + "s"
            what = self.names.by_kind.get(kind, {}).get(str(args[0])) or str(args[0])
        else:
            what = ""
        title = f"{TITLES.get(method, method.replace('_', ' '))} {what}".strip()
        return self._add(Happening(title, adapter.in_process, adapter.where, self, server_id=sid,
                                   user=self.user, project=self.project))

    def open_session(self, adapter, title: str) -> Happening:
        return self._add(Happening(title, adapter.in_process, adapter.where, self,
                                   user=self.user, project=self.project))

    def _add(self, h: Happening) -> Happening:
        h.seq = next(self._seq)
        self.history.append(h)
        return h

    def enter(self, h: Happening) -> contextvars.Token:
        return _current.set(h)

    def leave(self, token: contextvars.Token) -> None:
        _current.reset(token)

    def record(self, call: Call) -> None:
        """A real HTTP request (remote adapter): kept if an action of ours is being done."""
        h = _current.get()
        if h is not None and h.journal is self:
            h.calls.append(call)

    @property
    def last(self) -> Happening | None:
        return self.history[-1] if self.history else None

    def last_for(self, server_id: str | None) -> Happening | None:
        for h in reversed(self.history):
            if server_id and (h.server_id == server_id
                              or any(st.result_id == server_id for st in h.steps)):
                return h
        return None

    def previous(self, h: Happening, step: int) -> Happening | None:
        items = list(self.history)
        i = items.index(h) + step if h in items else -1
        return items[i] if 0 <= i < len(items) else None
