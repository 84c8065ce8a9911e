"""What a build that failed, was aborted or was taken from its host leaves behind, removed by
the compute manager (its driver, vifs and the services' clients), and the checks that tell
which of these it was."""
from __future__ import annotations

import logging

from backend.core import states

log = logging.getLogger("backend.compute.manager")


class StaleBuild(Exception):
    """A second copy of a build cast whose build went on without it (the conductor's claim
    says): nothing of the build is this copy's, so nothing is cleaned up."""


class BuildCleanup:
    """ComputeManager's cleanup (its host, driver, conductor_api, network_api, volume_api,
    unplug_vifs and _lock)."""

    async def _ended_active(self, ctx, uuid) -> bool:
        """Whether the build is ACTIVE after all (a reply lost with the broker: its step was made)."""
        try:
            r = await self.conductor_api.instance_get(ctx, instance_uuid=uuid)
        except Exception:
            return False
        return bool(r and r["vm_state"] == states.ACTIVE and r["host"] == self.host)

    async def _cleanup(self, ctx, uuid, here=False):
        """Remove everything a failed or aborted build made, best effort per piece. here: only
        what is bound to this host (a failed attempt: a copy of these calls delivered again
        after the build was rescheduled must not release what the next attempt made)."""
        host = self.host if here else None
        for what, coro in (("guest", lambda: self.driver.destroy(uuid)),
                           ("vifs", lambda: self.unplug_vifs(ctx, uuid)),
                           ("ports", lambda: self.network_api.deallocate_for_instance(ctx, instance_uuid=uuid,
                                                                                      host=host))):
            try:
                await coro()
            except Exception as e:
                log.warning("cleanup of %s for %s on %s failed: %s", what, uuid, self.host, e)
        try:
            for vid in await self.volume_api.release_for_instance(ctx, instance_uuid=uuid, host=host):
                await self.driver.delete_volume(vid)
        except Exception as e:
            log.warning("cleanup of volumes for %s on %s failed: %s", uuid, self.host, e)
        await self.conductor_api.instance_release(ctx, instance_uuid=uuid, host=host)

    async def _moved_away(self, ctx, uuid) -> bool:
        try:
            r = await self.conductor_api.instance_get(ctx, instance_uuid=uuid)
        except Exception:
            return False
        return bool(r and not r["deleted"] and r["vm_state"] == states.BUILDING and r["host"] != self.host)

    async def _cleanup_here(self, ctx, uuid):
        """What a build taken from this host made here: its guest, vifs and this host's claim."""
        for what, coro in (("guest", lambda: self.driver.destroy(uuid)),
                           ("vifs", lambda: self.unplug_vifs(ctx, uuid)),
                           ("claim", lambda: self.conductor_api.instance_release(ctx, instance_uuid=uuid,
                                                                                 host=self.host))):
            try:
                await coro()
            except Exception as e:
                log.warning("cleanup of %s for %s on %s failed: %s", what, uuid, self.host, e)

    async def cleanup_build(self, ctx, instance_uuid):
        """A build cut by a restart, resumed elsewhere by the conductor: its guest, vifs,
        ports, volumes and claim here go (the conductor has no driver of this host). Only what
        is bound to this host, and nothing once the instance is on this host again: a copy of
        this call delivered after the resumed build went on (elsewhere, or here) must not
        release what that build made."""
        async with self._lock(instance_uuid):
            r = await self.conductor_api.instance_get(ctx, instance_uuid=instance_uuid)
            if r is not None and not r["deleted"] and r["host"] == self.host:
                return
            await self._cleanup(ctx, instance_uuid, here=True)
