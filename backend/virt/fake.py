"""The fake hypervisor driver (as nova/virt/fake.py): guests live in memory. It can be
told, per host, to be slow, to fail spawns (N times or always), to hang, or to be
unreachable — for fast tests and benchmarks. A full implementation of ComputeDriver."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from backend import power_state
from backend.virt.driver import (ComputeDriver, DriverError, GuestSpec, HostCapabilities,
                                 HostUnreachable, InstanceNotFound)


@dataclass
class FakeBehaviour:
    spawn_latency: float = 0.0
    fail_spawns: int = 0          # fail the next N spawns
    fail_always: bool = False
    hang: bool = False            # spawns never return (until destroyed or cancelled)
    unreachable: bool = False
    fail_message: str = "fake spawn failure"


@dataclass
class FakeGuest:
    spec: GuestSpec
    state: int = power_state.RUNNING
    console: list[str] = field(default_factory=list)


class FakeDriver(ComputeDriver):
    # behaviour per host name, shared so a test can steer a running cloud
    behaviours: dict[str, FakeBehaviour] = {}

    def __init__(self, host, config=None):
        super().__init__(host)
        self.guests: dict[str, FakeGuest] = {}
        self.volumes: dict[str, int] = {}

    @property
    def behaviour(self) -> FakeBehaviour:
        b = self.behaviours.get(self.host.name)
        if b is None:
            opts = getattr(self.host, "fake", None)
            b = FakeBehaviour(**opts.model_dump()) if opts else FakeBehaviour()
            self.behaviours[self.host.name] = b
        return b

    def _reach(self):
        if self.behaviour.unreachable:
            raise HostUnreachable(f"host {self.host.name} cannot be reached (fake)")

    async def init_host(self, known: list[GuestSpec]) -> None:
        # the hypervisor outlives the control plane: guests the database knows are still there
        for spec in known:
            self.guests.setdefault(spec.uuid, FakeGuest(spec))

    async def get_host_capabilities(self) -> HostCapabilities:
        self._reach()
        h = self.host
        # large by default, as nova's fake driver reports
        return HostCapabilities(vcpus=h.vcpus or 1000, memory_mb=h.memory_mb or 800000,
                                disk_gb=h.disk_gb or 600000, hypervisor_type="fake",
                                hypervisor_version="1.0", accelerator="none")

    async def is_alive(self) -> bool:
        return not self.behaviour.unreachable

    async def spawn(self, guest: GuestSpec) -> None:
        b = self.behaviour
        self._reach()
        if b.spawn_latency:
            await asyncio.sleep(b.spawn_latency)
        if b.hang:
            await asyncio.Event().wait()
        if b.fail_always or b.fail_spawns > 0:
            if b.fail_spawns > 0:
                b.fail_spawns -= 1
            raise DriverError(f"{b.fail_message} on {self.host.name}", reschedulable=True)
        ip = guest.network_info[0]["fixed_ip"] if guest.network_info else "-"
        self.guests[guest.uuid] = FakeGuest(guest, console=[
            f"fake guest {guest.uuid} starting", f"pocketstack guest booted: {guest.hostname} {ip}"])

    def _guest(self, uuid) -> FakeGuest:
        self._reach()
        g = self.guests.get(uuid)
        if g is None:
            raise InstanceNotFound(uuid)
        return g

    async def destroy(self, uuid: str) -> None:
        self._reach()
        self.guests.pop(uuid, None)

    async def power_off(self, uuid: str, timeout: float = 10.0) -> None:
        g = self._guest(uuid)
        g.state = power_state.SHUTDOWN
        g.console.append("reboot: Power down")

    async def power_on(self, uuid: str) -> None:
        g = self._guest(uuid)
        g.state = power_state.RUNNING
        g.console.append(f"pocketstack guest booted: {g.spec.hostname}")

    async def reboot(self, uuid: str, reboot_type: str) -> None:
        g = self._guest(uuid)
        g.state = power_state.RUNNING
        g.console.append(f"reboot ({reboot_type.lower()})")

    async def get_power_state(self, uuid: str) -> int:
        self._reach()
        g = self.guests.get(uuid)
        return g.state if g else power_state.NOSTATE

    async def list_instances(self) -> dict[str, int]:
        self._reach()
        return {u: g.state for u, g in self.guests.items()}

    async def get_console_output(self, uuid: str, tail: int | None = None) -> str:
        lines = self._guest(uuid).console
        return "\n".join(lines[-tail:] if tail else lines) + "\n"

    async def create_volume(self, volume_id, size_gb, image=None) -> None:
        self._reach()
        self.volumes[volume_id] = size_gb

    async def attach_volume(self, uuid, volume_id, device) -> None:
        g = self._guest(uuid)
        if volume_id not in self.volumes:
            raise DriverError(f"volume {volume_id} has no file on {self.host.name}", reschedulable=False)
        g.spec.volumes = [v for v in g.spec.volumes if v["volume_id"] != volume_id] + [
            {"volume_id": volume_id, "size_gb": self.volumes[volume_id], "device": device}]

    async def detach_volume(self, uuid, volume_id) -> None:
        g = self._guest(uuid)
        g.spec.volumes = [v for v in g.spec.volumes if v["volume_id"] != volume_id]

    async def delete_volume(self, volume_id) -> None:
        self._reach()
        self.volumes.pop(volume_id, None)

    # test helper: a guest dying behind our back
    def crash(self, uuid: str, state: int = power_state.SHUTDOWN) -> None:
        self.guests[uuid].state = state
