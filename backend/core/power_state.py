"""power_state, vm_state and task_state as upstream nova defines them."""
NOSTATE = 0x00
RUNNING = 0x01
PAUSED = 0x03
SHUTDOWN = 0x04
CRASHED = 0x06
SUSPENDED = 0x07

NAMES = {NOSTATE: "NOSTATE", RUNNING: "Running", PAUSED: "Paused",
         SHUTDOWN: "Shutdown", CRASHED: "Crashed", SUSPENDED: "Suspended"}
