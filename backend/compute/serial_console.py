"""nova-compute's side of the serial console: get_serial_console (over the bus, as nova's
compute rpcapi: is there a console to attach to, and where) and the attach itself, which the
console proxy makes directly to the compute service that owns the host, as nova's serial proxy
connects to the hypervisor's port rather than through the queue (a stream is not a message).

One client at a time per guest, as `virsh console` without --force: a second attach is
refused (409) naming who holds the console and since when; the holder's detach frees it."""
from __future__ import annotations

import time

from backend.core import power_state
from backend.core.errors import Conflict
from backend.virt.driver import ConsoleSession, DriverError, InstanceNotFound


class HeldConsole(ConsoleSession):
    """The driver's session, holding the guest's console until it ends."""

    def __init__(self, inner: ConsoleSession, release):
        self.inner, self._release = inner, release

    async def read(self) -> bytes:
        data = await self.inner.read()
        if not data:
            self._release()
        return data

    async def write(self, data: bytes) -> None:
        await self.inner.write(data)

    async def close(self) -> None:
        try:
            await self.inner.close()
        finally:
            self._release()


class SerialConsoleManager:
    """Mixed into ComputeManager (self.driver, self.host)."""

    def _console_holders(self) -> dict[str, str]:
        if not hasattr(self, "_consoles"):
            self._consoles: dict[str, str] = {}
        return self._consoles

    def _console_free(self, uuid: str) -> None:
        held = self._console_holders().get(uuid)
        if held:
            raise Conflict(f"the serial console of instance {uuid} is in use by {held}; "
                           "detach there first")

    async def _console_running(self, uuid: str) -> None:
        try:
            st = await self.driver.get_power_state(uuid)
        except InstanceNotFound:
            st = power_state.NOSTATE
        if st != power_state.RUNNING:
            raise Conflict(f"instance {uuid} is not running (power state "
                           f"{power_state.NAMES.get(st, st)}): it has no serial console")

    async def open_serial_relay(self, ctx, instance_uuid, holder):
        """The console for a proxy in another process (a cluster): attach here, relay there."""
        from backend.compute import console_relay
        session = await self.attach_serial_console(instance_uuid, holder)
        return await console_relay.open_relay(session, console_relay.address_towards(self.config.transport_url))

    async def get_serial_console(self, ctx, instance_uuid):
        """Connection info for the console proxy (nova's ConsoleSerial: host and port)."""
        await self._console_running(instance_uuid)
        self._console_free(instance_uuid)
        return {"host": self.host, "instance_uuid": instance_uuid, "protocol": "serial"}

    async def attach_serial_console(self, instance_uuid: str, holder: str) -> ConsoleSession:
        self._console_free(instance_uuid)
        holders = self._console_holders()
        holders[instance_uuid] = f"{holder} since {time.strftime('%H:%M:%S')}"  # before the await: one wins
        try:
            await self._console_running(instance_uuid)
            session = await self.driver.attach_console(instance_uuid)
        except DriverError as e:
            holders.pop(instance_uuid, None)
            raise Conflict(f"cannot attach to the serial console of instance {instance_uuid}: {e}") from None
        except BaseException:
            holders.pop(instance_uuid, None)
            raise
        mine = holders[instance_uuid]

        def release():
            if holders.get(instance_uuid) == mine:
                del holders[instance_uuid]
        return HeldConsole(session, release)
