"""The compute manager's VIF handling (nova's plug_vifs and external events): the build plugs
the instance's ports on this host and waits for the network service's network-vif-plugged
for each (vif_plugging_timeout, then a build fault, as vif_plugging_is_fatal); delete and
failed builds unplug; start and reboot plug again. Flooding-list updates (l2population)
reach the driver newest-first per network."""
from __future__ import annotations

import asyncio
import logging

from backend.virt.driver import DriverError

log = logging.getLogger(__name__)
VIF_PLUGGED = "network-vif-plugged"


class VifManager:
    """Mixed into ComputeManager (it has host, driver, network_api, config)."""

    def _vif_init(self) -> None:
        self._vif_waiters: dict[tuple[str, str], asyncio.Future] = {}
        # plugs, unplugs and flooding-list updates of one network on this host, one at a time
        self._net_locks: dict[str, asyncio.Lock] = {}
        self._peers: dict[str, tuple[int, list[str]]] = {}  # network -> (seq, flooding list)

    def _net_lock(self, network_id) -> asyncio.Lock:
        return self._net_locks.setdefault(network_id, asyncio.Lock())

    def _newest_peers(self, network_info: list[dict]) -> list[dict]:
        """Each vif with the newest flooding list known for its network."""
        out = []
        for vif in network_info:
            seq, peers = self._peers.get(vif["network_id"], (-1, None))
            if peers is not None and seq > vif.get("peers_seq", -1):
                vif = dict(vif, peers=peers, peers_seq=seq)
            out.append(vif)
        return out

    async def _locked_nets(self, network_info, fn):
        locks = [self._net_lock(n) for n in sorted({v["network_id"] for v in network_info})]
        for lk in locks:
            await lk.acquire()
        try:
            return await fn()
        finally:
            for lk in reversed(locks):
                lk.release()

    async def plug_vifs(self, ctx, uuid, network_info: list[dict], wait: bool) -> None:
        """Plug the ports here; with wait, report them up and wait for network-vif-plugged."""
        if not network_info:
            return
        loop = asyncio.get_running_loop()
        waiting = {}
        if wait:
            waiting = {(uuid, v["port_id"]): loop.create_future() for v in network_info}
            self._vif_waiters.update(waiting)
        try:
            await self._locked_nets(network_info, lambda: self.driver.plug_vifs(
                uuid, self._newest_peers(network_info)))
            if not wait:
                return
            await self.network_api.update_device_up(ctx, instance_uuid=uuid, host=self.host,
                                                    port_ids=[v["port_id"] for v in network_info])
            timeout = self.config.vif_plugging_timeout
            done, pending = await asyncio.wait(list(waiting.values()), timeout=timeout or None)
            if pending:
                missing = [pid for (_, pid), f in waiting.items() if not f.done()]
                raise DriverError(f"host {self.host}: timed out after {timeout:g}s waiting for "
                                  f"{VIF_PLUGGED} of port(s) {', '.join(missing)}", reschedulable=False)
        finally:
            for key in waiting:
                self._vif_waiters.pop(key, None)

    async def unplug_vifs(self, ctx, uuid, network_info: list[dict] | None = None) -> None:
        if network_info is None:
            network_info = await self.network_api.get_instance_nw_info(ctx, instance_uuid=uuid)
        if network_info:
            await self._locked_nets(network_info, lambda: self.driver.unplug_vifs(uuid, network_info))

    async def replug_vifs(self, ctx, uuid) -> None:
        """Before a start or reboot: the taps exist again (a host restarted, say)."""
        nw = await self.network_api.get_instance_nw_info(ctx, instance_uuid=uuid)
        await self.plug_vifs(ctx, uuid, [v for v in nw if v.get("vif_type") != "unbound"], wait=False)

    # ---- queue endpoints -----------------------------------------------------------------------
    async def external_instance_event(self, ctx, instance_uuid, name, tag) -> None:
        """nova's external event from the network service: a port of the instance is wired."""
        fut = self._vif_waiters.get((instance_uuid, tag))
        if name == VIF_PLUGGED and fut is not None and not fut.done():
            fut.set_result(True)

    async def update_network_peers(self, ctx, network_id, segmentation_id, peers, seq) -> None:
        if self._peers.get(network_id, (-1, None))[0] >= seq:
            return  # an older list than one already applied
        self._peers[network_id] = (seq, list(peers))
        async with self._net_lock(network_id):
            try:
                await self.driver.update_network_peers(network_id, segmentation_id, list(peers))
            except Exception as e:
                log.warning("host %s: flooding list of network %s not updated: %s", self.host, network_id, e)
