"""The fake hypervisor driver (as nova/virt/fake.py): guests live in memory. It can be
told, per host, to be slow, to fail spawns (N times or always), to hang, to be
unreachable, or to be cut off the network (a partition: calls hang for partition_detect, as
the qemu driver's do until its link is found dead, then fail; a spawn the cut interrupts
leaves its half-made guest behind) — for fast tests and benchmarks. A full implementation of
ComputeDriver.

Behaviours reach a driver two ways: `FakeDriver.behaviours` (in memory: one process), and the
state directory's fake-behaviours.json (`SharedBehaviours`), which every fake driver of that
cloud reads when it acts, so a test or a tool steers the compute processes of a cluster."""
from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field

from backend.core import power_state
from backend.privileged.l2 import bridge_name, tap_name
from backend.virt.driver import (ComputeDriver, ConsoleSession, DriverError, GuestSpec,
                                 HostCapabilities, HostUnreachable, InstanceNotFound)
from backend.virt.fake_behaviours import FakeBehaviour, SharedBehaviours, behaviours_path
from backend.virt.fake_console import FakeConsole

__all__ = ["FakeBehaviour", "FakeDriver", "FakeGuest", "SharedBehaviours", "behaviours_path"]


@dataclass
class FakeGuest:
    spec: GuestSpec
    state: int = power_state.RUNNING
    console: list[str] = field(default_factory=list)
    sessions: list[FakeConsole] = field(default_factory=list)

    def end_sessions(self) -> None:
        for s in self.sessions:
            s.guest_gone()
        self.sessions.clear()


class FakeDriver(ComputeDriver):
    # behaviour per host name, shared so a test can steer a running cloud
    behaviours: dict[str, FakeBehaviour] = {}

    def __init__(self, host, config=None):
        super().__init__(host)
        # the cloud's behaviours file: what another process (a test, a tool) set for this host
        home = getattr(config, "home", None)
        self.shared = SharedBehaviours(behaviours_path(home)) if home is not None else None
        self.guests: dict[str, FakeGuest] = {}
        self.volumes: dict[str, int] = {}
        self.volume_images: dict[str, str] = {}  # volume id -> the image it started as a copy of
        # what plug_vifs made, as the helper's `list` shows it on a real host:
        # bridges {bridge: {"vni", "peers", "ports"}}, taps {tap: bridge}
        self.bridges: dict[str, dict] = {}
        self.taps: dict[str, str] = {}

    @property
    def behaviour(self) -> FakeBehaviour:
        if self.shared is not None:
            b = self.shared.get(self.host.name)
            if b is not None:  # the file's, over the in-memory one
                return b
        b = self.behaviours.get(self.host.name)
        if b is None:
            opts = getattr(self.host, "fake", None)
            b = FakeBehaviour(**opts.model_dump()) if opts else FakeBehaviour()
            self.behaviours[self.host.name] = b
        return b

    def _take(self, what: str):
        """Use up one of the behaviour's pending faults (see SharedBehaviours.take)."""
        if self.shared is not None and self.host.name in self.shared:
            return self.shared.take(self.host.name, what)
        b = self.behaviour
        if what == "crash":
            taken, b.crash = b.crash, {}
            return taken
        left = getattr(b, what)
        if left > 0:
            setattr(b, what, left - 1)
        return left > 0

    async def _cut_within(self, seconds: float) -> bool:
        """Wait seconds, or less when the link is cut meanwhile (True then)."""
        b = self.behaviour
        if self.shared is None or self.host.name not in self.shared:
            cut = asyncio.ensure_future(b.partitioned.wait())
            try:
                await asyncio.wait([cut], timeout=seconds)
            finally:
                cut.cancel()
            return b.partitioned.is_set()
        # set in another process: the file is looked at again every 50 ms
        end = asyncio.get_running_loop().time() + seconds
        while not self.behaviour.partitioned.is_set():
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            await asyncio.sleep(min(0.05, left))
        return True

    async def _reach(self):
        b = self.behaviour
        if b.crash:
            for uuid, state in self._take("crash").items():
                if uuid in self.guests:
                    self.crash(uuid, state)
        if b.unreachable:
            raise HostUnreachable(f"host {self.host.name} cannot be reached (fake)")
        if b.partitioned.is_set():
            await self._link_dies()

    async def _link_dies(self):
        await asyncio.sleep(self.behaviour.partition_detect)
        raise HostUnreachable(f"host {self.host.name}: link dead, nothing acknowledged (fake partition)")

    async def init_host(self, known: list[GuestSpec]) -> None:
        # the hypervisor outlives the control plane: guests the database knows are still there
        for spec in known:
            self.guests.setdefault(spec.uuid, FakeGuest(spec))

    async def get_host_capabilities(self) -> HostCapabilities:
        await self._reach()
        h = self.host
        # large by default, as nova's fake driver reports
        return HostCapabilities(vcpus=h.vcpus or 1000, memory_mb=h.memory_mb or 800000,
                                disk_gb=h.disk_gb or 600000, hypervisor_type="fake",
                                hypervisor_version="1.0", accelerator="none")

    async def is_alive(self) -> bool:
        try:
            await self._reach()
        except HostUnreachable:
            return False
        return True

    async def spawn(self, guest: GuestSpec) -> None:
        b = self.behaviour
        await self._reach()
        if b.spawn_latency and await self._cut_within(b.spawn_latency):
            # cut mid-spawn: the guest stays half-made on the host
            self.guests[guest.uuid] = FakeGuest(guest, state=power_state.SHUTDOWN)
            await self._link_dies()
        if b.hang:
            await asyncio.Event().wait()
        if b.fail_always or (b.fail_spawns > 0 and self._take("fail_spawns")):
            raise DriverError(f"{b.fail_message} on {self.host.name}", reschedulable=True)
        ip = guest.network_info[0]["fixed_ip"] if guest.network_info else "-"
        console = [f"fake guest {guest.uuid} starting", f"pocketstack guest booted: {guest.hostname} {ip}"]
        if guest.user_data:  # the spec keeps it; the console says what arrived (tests read it)
            ud = base64.b64decode(guest.user_data.replace("\n", ""))
            console.append(f"user_data: {len(ud)} bytes sha256 {hashlib.sha256(ud).hexdigest()}")
        self.guests[guest.uuid] = FakeGuest(guest, console=console)

    async def build_stage_done(self, uuid: str, task_state: str) -> None:
        delay = self.behaviour.stage_latency.get(task_state)
        if delay:
            await asyncio.sleep(delay)

    def build_stage_holds(self, task_state: str) -> bool:
        return bool(self.behaviour.stage_latency.get(task_state))

    async def _guest(self, uuid) -> FakeGuest:
        await self._reach()
        g = self.guests.get(uuid)
        if g is None:
            raise InstanceNotFound(uuid)
        return g

    async def destroy(self, uuid: str) -> None:
        await self._reach()
        g = self.guests.pop(uuid, None)
        if g is not None:
            g.end_sessions()

    async def power_off(self, uuid: str, timeout: float = 10.0) -> None:
        g = await self._guest(uuid)
        g.state = power_state.SHUTDOWN
        g.end_sessions()
        g.console.append("reboot: Power down")

    async def power_on(self, uuid: str) -> None:
        g = await self._guest(uuid)
        g.state = power_state.RUNNING
        g.console.append(f"pocketstack guest booted: {g.spec.hostname}")

    async def reboot(self, uuid: str, reboot_type: str) -> None:
        g = await self._guest(uuid)
        g.state = power_state.RUNNING
        g.end_sessions()
        g.console.append(f"reboot ({reboot_type.lower()})")

    async def pause(self, uuid: str) -> None:
        (await self._guest(uuid)).state = power_state.PAUSED

    async def unpause(self, uuid: str) -> None:
        (await self._guest(uuid)).state = power_state.RUNNING

    async def suspend(self, uuid: str) -> None:
        g = await self._guest(uuid)
        g.state = power_state.SUSPENDED
        g.end_sessions()

    async def resume(self, uuid: str) -> None:
        (await self._guest(uuid)).state = power_state.RUNNING

    async def get_power_state(self, uuid: str) -> int:
        await self._reach()
        g = self.guests.get(uuid)
        return g.state if g else power_state.NOSTATE

    async def list_instances(self) -> dict[str, int]:
        await self._reach()
        return {u: g.state for u, g in self.guests.items()}

    async def get_console_output(self, uuid: str, tail: int | None = None) -> str:
        lines = (await self._guest(uuid)).console
        return "\n".join(lines[-tail:] if tail else lines) + "\n"

    async def attach_console(self, uuid: str) -> ConsoleSession:
        g = await self._guest(uuid)
        if g.state != power_state.RUNNING:
            raise DriverError(f"guest {uuid} is not running: no serial console", reschedulable=False)
        session = FakeConsole(g)
        session._on_close = lambda: g.sessions.remove(session) if session in g.sessions else None
        g.sessions.append(session)
        return session

    async def create_volume(self, volume_id, size_gb, image=None) -> None:
        await self._reach()
        self.volumes[volume_id] = size_gb
        if image is not None:
            self.volume_images[volume_id] = image.id

    async def attach_volume(self, uuid, volume_id, device) -> None:
        g = await self._guest(uuid)
        if volume_id not in self.volumes:
            raise DriverError(f"volume {volume_id} has no file on {self.host.name}", reschedulable=False)
        g.spec.volumes = [v for v in g.spec.volumes if v["volume_id"] != volume_id] + [
            {"volume_id": volume_id, "size_gb": self.volumes[volume_id], "device": device}]

    async def is_volume_attached(self, uuid, volume_id) -> bool:
        await self._reach()
        g = self.guests.get(uuid)
        return g is not None and volume_id in self.volumes and any(
            v["volume_id"] == volume_id for v in g.spec.volumes)

    async def detach_volume(self, uuid, volume_id) -> None:
        g = await self._guest(uuid)
        g.spec.volumes = [v for v in g.spec.volumes if v["volume_id"] != volume_id]

    async def delete_volume(self, volume_id) -> None:
        await self._reach()
        self.volumes.pop(volume_id, None)
        self.volume_images.pop(volume_id, None)

    @property
    def vif_type(self) -> str:
        return "bridge"

    async def plug_vifs(self, uuid, network_info) -> None:
        await self._reach()
        made = []
        try:
            for vif in network_info:
                br, tap = bridge_name(vif["network_id"]), tap_name(vif["port_id"])
                if br not in self.bridges:
                    self.bridges[br] = {"vni": vif["segmentation_id"], "peers": [], "ports": set()}
                    made.append(("bridge", br))
                self.bridges[br]["peers"] = list(vif.get("peers", []))
                if tap not in self.taps:
                    made.append(("tap", tap))
                self.taps[tap] = br
                self.bridges[br]["ports"].add(tap)
                if self.behaviour.fail_plugs > 0 and self._take("fail_plugs"):
                    # fails with a port plugged: it must go again
                    raise DriverError(f"fake plug failure on {self.host.name}", reschedulable=False)
        except DriverError:
            for kind, name in reversed(made):
                if kind == "tap":
                    self.bridges[self.taps.pop(name)]["ports"].discard(name)
                elif not self.bridges[name]["ports"]:
                    del self.bridges[name]
            raise

    async def unplug_vifs(self, uuid, network_info) -> None:
        await self._reach()
        for vif in network_info:
            br = self.taps.pop(tap_name(vif["port_id"]), None) or bridge_name(vif["network_id"])
            b = self.bridges.get(br)
            if b is not None:
                b["ports"].discard(tap_name(vif["port_id"]))
                if not b["ports"]:
                    del self.bridges[br]

    async def update_network_peers(self, network_id, segmentation_id, peers) -> None:
        await self._reach()
        b = self.bridges.get(bridge_name(network_id))
        if b is not None:
            b["peers"] = list(peers)

    # test helper: a guest dying behind our back
    def crash(self, uuid: str, state: int = power_state.SHUTDOWN) -> None:
        self.guests[uuid].state = state
        self.guests[uuid].end_sessions()
