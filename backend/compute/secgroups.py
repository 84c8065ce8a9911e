"""nova's security groups of a server (with neutron): the groups asked for at create
(default: the project's `default`), addSecurityGroup/removeSecurityGroup, and the list.
The groups live in the network service; a server's ports carry them. Mixed into ComputeAPI."""
from __future__ import annotations

from backend.core.errors import BadRequest, NotFound


class ServerSecurityGroups:
    def resolve_server_groups(self, ctx, names) -> list[str]:
        """Group ids for a create's security_groups (names or ids of the project's groups);
        None: the default group. One that is not found is nova's 400."""
        if names is None:
            return [self.network.ensure_default_group(ctx.project_id)]
        out = []
        for ref in names:
            try:
                g = self.network.find_group_for(ctx, ctx.project_id, ref)
            except NotFound:
                raise BadRequest(f"Security group {ref} not found.") from None
            if g["id"] not in out:
                out.append(g["id"])
        return out

    async def server_security_groups(self, ctx, server_id) -> list[dict]:
        r = self._instance(ctx, server_id)
        return [self.network.get_security_group(ctx, g["id"]) for g in self.network.server_groups(r["uuid"])]

    def _server_group(self, ctx, r, ref):
        if not isinstance(ref, str) or not ref.strip():
            raise BadRequest("Security group name cannot be empty")
        return self.network.find_group_for(ctx, r["project_id"], ref)  # NotFound: nova's 404

    async def add_security_group(self, ctx, server_id, ref) -> None:
        self._need_write(ctx)
        r = self._instance(ctx, server_id)
        g = self._server_group(ctx, r, ref)
        have = [x["id"] for x in self.network.server_groups(r["uuid"])]
        if g["id"] in have:
            raise BadRequest(f"Security group {g['name']} is already associated with the instance {r['uuid']}")
        self.network.set_server_groups(r["uuid"], have + [g["id"]])
        self.store.publish(r["uuid"])

    async def remove_security_group(self, ctx, server_id, ref) -> None:
        self._need_write(ctx)
        r = self._instance(ctx, server_id)
        g = self._server_group(ctx, r, ref)
        have = [x["id"] for x in self.network.server_groups(r["uuid"])]
        if g["id"] not in have:
            raise BadRequest(f"Security group {g['name']} not associated with the instance {r['uuid']}")
        self.network.set_server_groups(r["uuid"], [x for x in have if x != g["id"]])
        self.store.publish(r["uuid"])
