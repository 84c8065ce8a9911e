"""The "Create Instance States" diagram of the seed, drawn in the terminal: the create's
states from building/scheduling to active, then the stop, start, reboot and delete
transitions, with the instance's current state highlighted (and a state asked about on `?`
marked). Each node is a vm_state / task_state pair, as nova's vm_states and task_states."""
from __future__ import annotations

from rich.console import Group
from rich.text import Text

from tui.format import plain

# (vm_state, task_state, power_state name, what happens there)
CREATE = [("building", "scheduling", "NOSTATE", "nova-api wrote the instance; the scheduler picks a host"),
          ("building", None, "NOSTATE", "a host claimed its vCPUs, RAM and disk"),
          ("building", "networking", "NOSTATE", "neutron gives it a port (MAC, fixed IP)"),
          ("building", "block_device_mapping", "NOSTATE", "its disks: a boot volume or a local disk"),
          ("building", "spawning", "NOSTATE", "the image is fetched and the hypervisor boots it"),
          ("active", None, "Running", "the guest runs")]
# (action, from, through, to): one row each, the task_state in the middle
TRANSITIONS = [("stop", ("active", None), ("active", "powering-off"), ("stopped", None)),
               ("start", ("stopped", None), ("stopped", "powering-on"), ("active", None)),
               ("reboot", ("active", None), ("active", "rebooting"), ("active", None)),
               ("reboot --hard", ("active", None), ("active", "rebooting_hard"), ("active", None)),
               ("delete", ("*", None), ("*", "deleting"), ("deleted", None)),
               ("a step fails", ("building", "*"), None, ("error", None))]
FOCUS_KEYS = ("vm_state", "task_state", "power_state", "status")


def _label(node: tuple) -> str:
    vm, task = node
    return f"{'any' if vm == '*' else vm} / {'any task' if task == '*' else task}"


def _here(node: tuple, current: tuple | None) -> bool:
    """The instance is in this node ('any / deleting' holds whatever its vm_state)."""
    if current is None:
        return False
    return node == current or (node[0] == "*" and node[1] not in (None, "*") and node[1] == current[1])


def _box(node: tuple, current: tuple | None, focus: tuple | None, width: int = 0) -> Text:
    label = _label(node)
    here = _here(node, current)
    asked = focus is not None and _matches_focus(node, focus)
    style = "bold reverse yellow" if here else "bold cyan" if asked else ""
    t = Text("[ ", style="dim")
    t.append(plain(label.ljust(width), style=style))
    t.append(" ]", style="dim")
    # the marks keep their width, so the columns of the rows stay aligned
    t.append(" ◀ now " if here else " ◆     " if asked else "       ", style="bold yellow" if here else "bold cyan")
    return t


def _matches_focus(node: tuple, focus: tuple) -> bool:
    """focus: (column, value) of a cell: the nodes that have that value."""
    column, value = focus
    vm, task = node
    if column == "vm_state":
        return vm == value
    if column == "task_state":
        return task == value
    if column == "status":
        return vm in STATUS_VM.get(str(value).upper(), ()) and task is None
    if column == "power_state":
        want = {0: "NOSTATE", 1: "Running", 4: "Shutdown"}.get(value, value)
        return any((n[0], n[1]) == node and n[2] == want for n in CREATE) or \
            (want == "Shutdown" and node == ("stopped", None))
    return False


STATUS_VM = {"BUILD": ("building",), "ACTIVE": ("active",), "SHUTOFF": ("stopped",), "ERROR": ("error",),
             "DELETED": ("deleted",)}


def render_states(server: dict | None, focus: tuple | None = None) -> Group:
    """The diagram with server's state highlighted; focus=(column, value) marks a state."""
    current = (server.get("vm_state"), server.get("task_state")) if server else None
    w = max(len(f"{vm} / {task}") for vm, task, _, _ in CREATE)
    lines: list[Text] = [Text("Create Instance States", style="bold underline"), Text("")]
    for i, (vm, task, power, what) in enumerate(CREATE):
        row = _box((vm, task), current, focus, w)
        row.append(f" power {power:<9}", style="dim")
        row.append(what)
        lines.append(row)
        if i < len(CREATE) - 1:
            lines.append(Text("      ▼", style="dim"))
    lines += [Text(""), Text("Then: stop, start, reboot, delete (and a failed build)", style="bold underline"),
              Text("")]
    tw = max(len(_label(via)) for *_, via, _to in TRANSITIONS if via)
    for action, src, via, dst in TRANSITIONS:
        row = _box(src, current, focus, 19)
        row.append(f"── {action} ".ljust(18, "─") + "▶ ", style="dim")
        if via:
            row.append_text(_box(via, current, focus, tw))
            row.append("──▶ ", style="dim")
        row.append_text(_box(dst, current, focus))
        lines.append(row)
    if server:
        lines.append(Text(""))
        p = server.get("power_state")
        lines.append(Text.assemble(("now: ", "dim"), plain(server.get("name") or server.get("id"), style="bold"),
                                   "  ", plain(f"{server.get('vm_state')} / {server.get('task_state')} / "
                                               f"power {p} ({server.get('power_state_name') or '?'})"),
                                   "  ", plain(server.get("status"), style="bold")))
    return Group(*lines)
