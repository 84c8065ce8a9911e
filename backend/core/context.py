"""The request context every service call carries (as oslo.context does)."""
from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field


def new_request_id() -> str:
    return "req-" + str(uuid.uuid4())


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    roles: tuple[str, ...] = ()
    request_id: str = field(default_factory=new_request_id)
    validate_ms: float | None = field(default=None, compare=False)  # how long identity took
    # when the token was issued (scoped), as keystone shows it: the launch flow's step 1
    token_issued_at: str | None = field(default=None, compare=False)
    token_expires_at: str | None = field(default=None, compare=False)  # the token's expiry (ISO 8601)
    # a system-scoped token (keystone's scope {"system": {"all": true}}): roles on the whole
    # cloud, no project; accepted by the identity API only
    system_scope: bool = False

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        # reader may look, never change (keystone's default roles: reader < member < admin)
        return "admin" in self.roles or "member" in self.roles

    def to_dict(self) -> dict:
        """Plain JSON types only: what crosses a broker with every message. Every field is a
        plain value (roles a tuple of str): read field by field, not dataclasses.asdict's
        recursive deep copy (a tenth of a bus call's own CPU)."""
        d = {name: getattr(self, name) for name in _FIELDS}
        d["roles"] = list(self.roles)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RequestContext":
        """The context to_dict gave; a key that is not a field is refused by name."""
        unknown = sorted(set(d) - _FIELDS.keys())
        if unknown:
            raise ValueError(f"request context: unknown field(s) {', '.join(unknown)}")
        return cls(**dict(d, roles=tuple(d.get("roles") or ())))

    @classmethod
    def system(cls, request_id: str | None = None) -> "RequestContext":
        """For the services' own periodic work (build timeouts, power sync)."""
        return cls("system", "system", None, None, ("admin",), request_id or new_request_id())

    def with_request_id(self, request_id: str, validate_ms: float | None = None) -> "RequestContext":
        return dataclasses.replace(self, request_id=request_id, validate_ms=validate_ms)


_FIELDS = {f.name: None for f in dataclasses.fields(RequestContext)}  # in order; a dict for the key check
