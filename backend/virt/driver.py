"""The hypervisor driver interface, modelled on nova/virt/driver.py.

Compute managers call only these methods. Every method is async: the qemu driver does its
blocking SSH work in a thread, the fake one answers from memory.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

from backend.core import power_state


class DriverError(Exception):
    """A driver operation failed. reschedulable: another host may well succeed
    (upstream raises RescheduledException for these)."""

    def __init__(self, message: str, reschedulable: bool = True):
        super().__init__(message)
        self.reschedulable = reschedulable


class HostUnreachable(DriverError):
    """The host could not be reached (SSH down, host key refused)."""


class InstanceNotFound(DriverError):
    def __init__(self, uuid: str):
        super().__init__(f"instance {uuid} not found on the hypervisor", reschedulable=False)


@dataclass
class ImageFile:
    """An image as the image service stores it locally (the driver copies it to the host)."""
    id: str
    path: str
    sha256: str
    size: int
    disk_format: str = "raw"


@dataclass
class GuestSpec:
    """Everything a spawn needs, so drivers never reach the database."""
    uuid: str
    name: str
    hostname: str
    project_id: str
    availability_zone: str
    vcpus: int
    memory_mb: int
    root_gb: int
    image: ImageFile | None = None          # root disk image (None when booting from volume)
    kernel: ImageFile | None = None         # direct kernel boot (image property kernel_id)
    ramdisk: ImageFile | None = None        # image property ramdisk_id
    kernel_cmdline: str | None = None
    # [{"port_id", "mac_address", "fixed_ip", "network_id", "cidr", "gateway", "prefixlen"}]
    network_info: list[dict] = field(default_factory=list)
    # boot from volume: {"volume_id", "size_gb"}; extra disks: [{"volume_id", "size_gb"}]
    root_volume: dict | None = None
    volumes: list[dict] = field(default_factory=list)
    # the config drive's meta_data.json: {key_name: public key} and the server's metadata
    public_keys: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    # nova's user_data: the base64 text as the API took it (the config drive holds it decoded)
    user_data: str | None = None


class ConsoleSession(abc.ABC):
    """One client attached to a guest's serial port (as `virsh console`): bytes typed go to
    the guest, what the guest prints comes back. read() answers b"" once the session ended
    (detached, or the guest stopped)."""

    @abc.abstractmethod
    async def read(self) -> bytes:
        ...

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Detach. Idempotent; the guest keeps running."""


@dataclass
class HostCapabilities:
    vcpus: int
    memory_mb: int
    disk_gb: int
    hypervisor_type: str
    hypervisor_version: str
    cpu_arch: str = "x86_64"
    accelerator: str = "none"


class ComputeDriver(abc.ABC):
    """One instance per compute host."""

    def __init__(self, host):
        self.host = host  # backend.core.hosts.HostConfig

    @abc.abstractmethod
    async def init_host(self, known: list[GuestSpec]) -> None:
        """Called once when the compute service starts; known = guests the database
        places on this host (the hypervisor outlives the control plane)."""

    @abc.abstractmethod
    async def get_host_capabilities(self) -> HostCapabilities:
        ...

    @abc.abstractmethod
    async def is_alive(self) -> bool:
        """The heartbeat: can the host be reached right now?"""

    @abc.abstractmethod
    async def spawn(self, guest: GuestSpec) -> None:
        """Create and boot the guest. Raise DriverError on failure, having removed
        everything this attempt made on the host."""

    @abc.abstractmethod
    async def destroy(self, uuid: str) -> None:
        """Stop the guest if running and remove it. Idempotent."""

    @abc.abstractmethod
    async def power_off(self, uuid: str, timeout: float = 10.0) -> None:
        ...

    @abc.abstractmethod
    async def power_on(self, uuid: str) -> None:
        ...

    @abc.abstractmethod
    async def reboot(self, uuid: str, reboot_type: str) -> None:
        """reboot_type is 'SOFT' or 'HARD'."""

    # pause keeps the guest in memory with its vCPUs frozen; suspend saves it and stops it
    async def pause(self, uuid: str) -> None:
        raise DriverError(f"{type(self).__name__} cannot pause a guest", reschedulable=False)

    async def unpause(self, uuid: str) -> None:
        raise DriverError(f"{type(self).__name__} cannot unpause a guest", reschedulable=False)

    async def suspend(self, uuid: str) -> None:
        raise DriverError(f"{type(self).__name__} cannot suspend a guest", reschedulable=False)

    async def resume(self, uuid: str) -> None:
        raise DriverError(f"{type(self).__name__} cannot resume a guest", reschedulable=False)

    @abc.abstractmethod
    async def get_power_state(self, uuid: str) -> int:
        """One of backend.core.power_state; NOSTATE when unknown."""

    @abc.abstractmethod
    async def list_instances(self) -> dict[str, int]:
        """uuid -> power state of every guest on the host (for the power-state sync)."""

    @abc.abstractmethod
    async def get_console_output(self, uuid: str, tail: int | None = None) -> str:
        ...

    async def attach_console(self, uuid: str) -> ConsoleSession:
        """Attach to the running guest's serial port (the log keeps being written as before).
        One session at a time is the compute manager's rule, not the driver's."""
        raise DriverError(f"{type(self).__name__} has no serial console", reschedulable=False)

    async def build_stage_done(self, uuid: str, task_state: str) -> None:
        """The build of uuid has done the work of task_state here (its claim, ports or block
        devices exist) and is about to leave that state. Nothing to do for a real hypervisor;
        the fake one can wait here, so a test can stop a build in a chosen stage."""

    def build_stage_holds(self, task_state: str) -> bool:
        """Whether build_stage_done waits in task_state: the compute manager then saves the
        state in a trip of its own, so the build is seen (and recovered) in it meanwhile."""
        return False

    # ---- VIFs (nova's plug_vifs/unplug_vifs; the wiring Neutron's linuxbridge agent does) --------
    @property
    def vif_type(self) -> str:
        """Neutron's binding:vif_type of the ports wired here: 'bridge' (a tap on the network's
        bridge, VXLAN to the other hosts) or 'other' (nothing to wire: qemu's user-mode NIC)."""
        return "other"

    async def plug_vifs(self, uuid: str, network_info: list[dict]) -> None:
        """Wire the guest's ports on this host before it starts: per network the bridge and
        VXLAN (vif["segmentation_id"], flooding to vif["peers"]), per port a tap. Idempotent
        (start and reboot plug again). Raise DriverError, having removed what this call made."""

    async def unplug_vifs(self, uuid: str, network_info: list[dict]) -> None:
        """Remove the guest's taps; a network's bridge and VXLAN go with its last port here.
        Idempotent."""

    async def update_network_peers(self, network_id: str, segmentation_id: int, peers: list[str]) -> None:
        """l2population: the flooding list of the network's VXLAN here becomes peers (nothing
        when this host is not on the network)."""

    async def create_volume(self, volume_id: str, size_gb: int, image: ImageFile | None = None) -> None:
        """Make the backing file of a volume on this host; with image, the volume starts as a
        copy of it (boot from volume). Raise DriverError on failure, leaving nothing behind."""

    async def attach_volume(self, uuid: str, volume_id: str, device: str) -> None:
        """Attach a volume (its file made by create_volume) to the guest as a virtio disk:
        live when the guest runs, and on every later start. Idempotent: a volume the guest
        has already stays one disk. Raise DriverError on failure."""
        raise DriverError(f"{type(self).__name__} cannot attach volumes", reschedulable=False)

    async def is_volume_attached(self, uuid: str, volume_id: str) -> bool:
        """Whether the guest has the volume as a disk (live, or in what it starts with): its
        file is then the guest's and must not be made again (a copy of an attach call whose
        first copy attached it). False when the guest or the volume's file does not exist."""
        return False

    async def detach_volume(self, uuid: str, volume_id: str) -> None:
        """Take the volume off the guest (live when it runs). Idempotent."""
        raise DriverError(f"{type(self).__name__} cannot detach volumes", reschedulable=False)

    async def delete_volume(self, volume_id: str) -> None:
        """Remove the backing file of a volume on this host. Idempotent."""

    async def close(self) -> None:
        """Release connections; guests keep running."""


def power_state_name(state: int) -> str:
    return power_state.NAMES.get(state, str(state))
