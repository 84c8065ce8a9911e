"""Pause and unpause on qemu: QMP's stop and cont freeze and thaw the guest's vCPUs, the
guest staying in the host's memory (libvirt's suspend/resume domain, which nova's pause is).
get_power_state already reports a stopped-vCPU guest as PAUSED."""
from __future__ import annotations

from backend.virt.driver import DriverError


class QemuPause:
    """A part of QemuDriver: self._qmp, _require, _thread and host are its."""

    def _qmp_action(self, uuid: str, command: str, what: str) -> None:
        self._require(uuid)
        reply = self._qmp(uuid, command)
        if reply is None:
            raise DriverError(f"host {self.host.name}: {what} needs python3 on the host (for QMP)",
                              reschedulable=False)
        if "error" in reply:
            raise DriverError(f"host {self.host.name}: {what} of {uuid} failed: {reply['error']}",
                              reschedulable=False)

    async def pause(self, uuid: str) -> None:
        await self._thread(self._qmp_action, uuid, "stop", "pause")

    async def unpause(self, uuid: str) -> None:
        await self._thread(self._qmp_action, uuid, "cont", "unpause")
