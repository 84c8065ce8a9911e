"""Which instance actions a state allows, and why not (nova's check_instance_state and the
policy's reader rule), in one place: the compute API refuses with these reasons and the app
shows the same reason on a disabled action before anyone tries it."""
from __future__ import annotations

from backend.core import states

# action -> vm_states it is allowed in (the task_state must be None for every one of them)
ALLOWED_VM_STATES = {
    "stop": (states.ACTIVE, states.ERROR),
    "start": (states.STOPPED,),
    "reboot": (states.ACTIVE,),
    "reboot_hard": (states.ACTIVE, states.STOPPED, states.ERROR),
    "pause": (states.ACTIVE,),
    "unpause": (states.PAUSED,),
    "suspend": (states.ACTIVE,),
    "resume": (states.SUSPENDED,),
    "rebuild": (states.ACTIVE, states.STOPPED, states.ERROR),
}
# the vm_state an action leads to: asking for it there again is "already <status>"
_ALREADY = {"stop": states.STOPPED, "start": states.ACTIVE, "pause": states.PAUSED,
            "unpause": states.ACTIVE, "suspend": states.SUSPENDED, "resume": states.ACTIVE}
ACTIONS = (*ALLOWED_VM_STATES, "delete")
WRITE_ROLES = ("admin", "member")  # keystone's default roles: reader < member < admin


def role_refusal(roles) -> str | None:
    """Why these roles cannot change anything (None: they can)."""
    roles = tuple(roles or ())
    if any(r in WRITE_ROLES for r in roles):
        return None
    shown = ", ".join(f"'{r}'" for r in roles) or "none"
    return f"your role {shown} cannot change anything" if len(roles) <= 1 else \
        f"your roles {shown} cannot change anything"


def state_refusal(action: str, vm_state: str | None, task_state: str | None,
                  has_host: bool | None = True) -> str | None:
    """Why `action` is refused in this state (None: allowed). has_host=None: not known (the
    view hides the host from non-admins), not checked."""
    if action == "delete":
        if task_state == states.DELETING:
            return "already being deleted"
        return None  # nova deletes in any state
    if action not in ALLOWED_VM_STATES:
        raise ValueError(f"unknown instance action {action!r}")
    if task_state is not None:
        return f"task '{task_state}' in progress"
    if vm_state not in ALLOWED_VM_STATES[action]:
        status = states.api_status(vm_state, None)
        verb = action.replace("_", " ")
        if _ALREADY.get(action) == vm_state:
            return f"already {status}"
        return f"cannot {verb} while {status} (vm_state {vm_state})"
    if has_host is False:
        return "it has no host (it was never scheduled)"
    return None


def refusal(action: str, vm_state: str | None, task_state: str | None, roles=None,
            has_host: bool | None = True) -> str | None:
    """The first reason `action` cannot happen: the role first, as the API checks it first."""
    return role_refusal(roles) or state_refusal(action, vm_state, task_state, has_host)
