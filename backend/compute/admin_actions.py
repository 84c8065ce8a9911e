"""nova's admin action os-resetState: an admin sets a server's vm_state to active or error
and clears its task (nova's admin_actions.reset_state; no instance action is recorded)."""
from __future__ import annotations

from backend.core import states
from backend.core.errors import BadRequest, Forbidden

RESET_STATES = {"active": states.ACTIVE, "error": states.ERROR}


class AdminActions:
    """A part of ComputeAPI: self.store and _instance are its."""

    def reset_state(self, ctx, server_id, state) -> None:
        if not ctx.is_admin:
            raise Forbidden("only an admin may reset a server's state (os-resetState)")
        r = self._instance(ctx, server_id)  # 404 before the body's 400, as nova
        if state not in RESET_STATES:
            raise BadRequest(f"'os-resetState.state' must be 'active' or 'error', not {state!r}")
        self.store.update(r["uuid"], vm_state=RESET_STATES[state], task_state=None)
