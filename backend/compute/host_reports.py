"""The periodic work of a process's compute hosts, batched per process (nova runs one
nova-compute per host; a pocketstack compute process serves hundreds): one heartbeat message
to the conductor per report_interval carrying every host's report, and one read of the
instances on all the hosts per power-state sync, instead of a message per host for each.
At 500 hosts per process and the 5 s default that is 1 message per interval, not 500 (and
500 more for the sync), which the conductor could not keep up with at 2,000 hosts."""
from __future__ import annotations

import asyncio
import logging

from backend.core.context import RequestContext
from backend.virt.driver import GuestSpec

log = logging.getLogger(__name__)

# hosts per conductor message: a message stays small (a few tens of KB) whatever the process serves
CHUNK = 500


def chunks(items: list, n: int = CHUNK):
    for i in range(0, len(items), n):
        yield items[i:i + n]


class HostReporter:
    """computes: {host: ComputeManager} of this process; conductor_api: the conductor's client."""

    def __init__(self, computes: dict, conductor_api, config):
        self.computes, self.conductor_api, self.config = computes, conductor_api, config
        self._checks: dict[str, asyncio.Task] = {}
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    async def start(self) -> None:
        """The first report of every host, then each up host's driver learns the guests it
        should have (init_host), then the periodic tasks."""
        ctx = RequestContext.system()
        await self.heartbeat(ctx, wait=None)
        up = [cm for cm in self.computes.values() if cm.up]
        known: dict[str, list] = {}
        for part in chunks([cm.host for cm in up]):
            known.update(await self.conductor_api.guest_specs_for_hosts(ctx, hosts=part))
        await asyncio.gather(*(cm.init_host([GuestSpec(**k) for k in known.get(cm.host, [])]) for cm in up))
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._periodic(self.heartbeat, self.config.heartbeat_interval)),
                       loop.create_task(self._periodic(self.sync_power_states, self.config.power_sync_interval))]

    async def stop(self) -> None:
        self._stopping = True
        for t in [*self._tasks, *self._checks.values()]:
            t.cancel()
        await asyncio.gather(*self._tasks, *self._checks.values(), return_exceptions=True)

    async def _periodic(self, fn, interval):
        while not self._stopping:
            await asyncio.sleep(interval)
            try:
                await fn(RequestContext.system())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic task %s failed", fn.__name__)

    async def heartbeat(self, ctx, wait: float | None = -1) -> None:
        """Probe every host (concurrently) and send the reports in one message. A probe that
        has not answered within the interval (wait; None: no limit) is not reported this
        time (its host's last heartbeat ages, as a host that hangs should) and is collected
        when it ends, never started twice."""
        wait = self.config.heartbeat_interval if wait == -1 else wait
        loop = asyncio.get_running_loop()
        for name, cm in self.computes.items():
            if name not in self._checks:
                self._checks[name] = loop.create_task(cm.check_host())
        done, _ = await asyncio.wait(self._checks.values(), timeout=wait) if self._checks else (set(), set())
        reports = []
        for name in [n for n, t in self._checks.items() if t in done]:
            t = self._checks.pop(name)
            if not t.cancelled() and t.exception() is None:
                reports.append(t.result())
        for part in chunks(reports):
            await self.conductor_api.service_heartbeats(ctx, reports=part)

    async def sync_power_states(self, ctx) -> None:
        """nova's _sync_power_states for every up host: each driver lists its guests first,
        then one read of the instances on all of them (the order a host's own sync keeps: a
        guest that appears after the read is not taken for an orphan)."""
        up = [cm for cm in self.computes.values() if cm.up]
        if not up:
            return
        guests = await asyncio.gather(*(cm.list_guests() for cm in up))
        listed = [(cm, g) for cm, g in zip(up, guests) if g is not None]
        known: dict[str, list] = {}
        for part in chunks([cm.host for cm, _ in listed]):
            known.update(await self.conductor_api.instances_on_hosts(ctx, hosts=part))
        results = await asyncio.gather(*(cm.sync_power_states(ctx, actual=g, known=known.get(cm.host, []))
                                         for cm, g in listed), return_exceptions=True)
        for (cm, _), r in zip(listed, results):  # one host's failure is its own
            if isinstance(r, Exception):
                log.warning("power sync on %s failed: %s", cm.host, r)
