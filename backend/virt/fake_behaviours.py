"""Fake hosts' behaviours (backend.virt.fake): what a fake host does wrong or slowly, and the
state directory's file that carries them to the compute processes of a cluster."""
from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import json
import os
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FakeBehaviour:
    spawn_latency: float = 0.0
    # seconds to wait at the end of a build stage (task_state -> s), after its work is done
    stage_latency: dict[str, float] = field(default_factory=dict)
    fail_spawns: int = 0          # fail the next N spawns
    fail_always: bool = False
    hang: bool = False            # spawns never return (until destroyed or cancelled)
    unreachable: bool = False
    fail_message: str = "fake spawn failure"
    partitioned: asyncio.Event = field(default_factory=asyncio.Event)  # set = the link is cut
    partition_detect: float = 0.5  # seconds a call hangs before the dead link is noticed
    fail_plugs: int = 0           # fail the next N plug_vifs (after plugging the first port)
    # guests that die behind the control plane's back (uuid -> the power state they are left
    # in): the driver applies them, and forgets them, when it next acts
    crash: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["partitioned"] = self.partitioned.is_set()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FakeBehaviour":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown fake behaviour {', '.join(unknown)}")
        b = cls(**{k: v for k, v in d.items() if k != "partitioned"})
        if d.get("partitioned"):
            b.partitioned.set()
        return b


def behaviours_path(home: Path | str) -> Path:
    """The state directory's behaviours file, read by every fake driver of that cloud."""
    return Path(home) / "fake-behaviours.json"


class SharedBehaviours(MutableMapping):
    """Behaviour per host name in a JSON file that every process of one cloud reads: set one
    here (`store[host] = FakeBehaviour(...)`) and the compute process serving that host acts
    on it at its next driver call. Each write replaces the whole file (a rename) under a lock
    file, so a read never sees half a file and a driver's decrement (fail_spawns) is not lost
    to a concurrent write. Readers reload only when the file changed."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._seen: tuple | None = None
        self._cache: dict[str, FakeBehaviour] = {}

    def _load(self) -> dict[str, FakeBehaviour]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._cache = None, {}
            return self._cache
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._seen:
            with open(self.path, "rb") as f:
                raw = json.load(f)
            self._cache = {h: FakeBehaviour.from_dict(d) for h, d in raw.items()}
            self._seen = key
        return self._cache

    def _edit(self, fn: Callable[[dict[str, FakeBehaviour]], object]):
        """fn(behaviours) changes them in place; written back under the lock; fn's result."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._seen = None  # re-read under the lock: another process may have written
            current = dict(self._load())
            result = fn(current)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({h: b.to_dict() for h, b in current.items()}))
            tmp.replace(self.path)
            self._seen = None
            return result
        finally:
            os.close(fd)  # releases the lock

    def __getitem__(self, host: str) -> FakeBehaviour:
        return self._load()[host]

    def __setitem__(self, host: str, behaviour: FakeBehaviour) -> None:
        self._edit(lambda bs: bs.__setitem__(host, behaviour))

    def __delitem__(self, host: str) -> None:
        if host not in self._load():
            raise KeyError(host)
        self._edit(lambda bs: bs.pop(host, None))

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._load()))

    def __len__(self) -> int:
        return len(self._load())

    def clear(self) -> None:
        self._edit(lambda bs: bs.clear())

    def take(self, host: str, what: str):
        """One of a host's pending faults used up: fail_spawns/fail_plugs counted down (True
        when one was left), crash emptied (the guests to crash)."""
        def edit(bs):
            b = bs.get(host)
            if b is None:
                return {} if what == "crash" else False
            if what == "crash":
                taken, b.crash = b.crash, {}
                return taken
            left = getattr(b, what)
            if left > 0:
                setattr(b, what, left - 1)
            return left > 0
        return self._edit(edit)
