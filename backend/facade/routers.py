"""The facade, routers and floating IPs (neutron's L3). A part of Cloud
(backend/facade/__init__.py): self.rt and self.ctx are Cloud's.

Each change is written first; then the L3 agent (when the deployment has one) brings the
network node's plumbing in line before the call returns."""
from __future__ import annotations


class RoutersFacade:
    async def _l3_sync(self) -> None:
        await self.rt.network.l3_sync()

    async def list_routers(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.network.list_routers(await self.ctx(token), filters or {})

    async def get_router(self, token: str, router: str) -> dict:
        return self.rt.network.get_router(await self.ctx(token), router)

    async def create_router(self, token: str, name: str = "", gateway: dict | None = None,
                            project_id: str | None = None, description: str = "",
                            admin_state_up: bool = True) -> dict:
        """gateway: external_gateway_info {network_id, enable_snat, external_fixed_ips}."""
        out = self.rt.network.create_router(await self.ctx(token), name, gateway, project_id, description,
                                            admin_state_up)
        await self._l3_sync()
        return self.rt.network.get_router(await self.ctx(token), out["id"])

    async def update_router(self, token: str, router: str, changes: dict) -> dict:
        """changes: name, description, admin_state_up, external_gateway_info (None: remove the
        gateway)."""
        ctx = await self.ctx(token)
        out = self.rt.network.update_router(ctx, router, changes)
        await self._l3_sync()
        return self.rt.network.get_router(ctx, out["id"])  # its status after the plumbing

    async def delete_router(self, token: str, router: str) -> None:
        self.rt.network.delete_router(await self.ctx(token), router)
        await self._l3_sync()

    async def add_router_interface(self, token: str, router: str, subnet_id: str | None = None,
                                   port_id: str | None = None) -> dict:
        out = self.rt.network.add_router_interface(await self.ctx(token), router, subnet_id, port_id)
        await self._l3_sync()
        return out

    async def remove_router_interface(self, token: str, router: str, subnet_id: str | None = None,
                                      port_id: str | None = None) -> dict:
        out = self.rt.network.remove_router_interface(await self.ctx(token), router, subnet_id, port_id)
        await self._l3_sync()
        return out

    async def list_floatingips(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.network.list_floatingips(await self.ctx(token), filters or {})

    async def get_floatingip(self, token: str, floatingip: str) -> dict:
        return self.rt.network.get_floatingip(await self.ctx(token), floatingip)

    async def create_floatingip(self, token: str, floating_network_id: str, port_id: str | None = None,
                                fixed_ip_address: str | None = None, floating_ip_address: str | None = None,
                                subnet_id: str | None = None, description: str = "",
                                project_id: str | None = None) -> dict:
        out = self.rt.network.create_floatingip(await self.ctx(token), floating_network_id, port_id,
                                                fixed_ip_address, floating_ip_address, subnet_id, description,
                                                project_id)
        await self._l3_sync()
        return out

    async def update_floatingip(self, token: str, floatingip: str, changes: dict) -> dict:
        """changes: port_id (None: disassociate), fixed_ip_address, description."""
        out = self.rt.network.update_floatingip(await self.ctx(token), floatingip, changes)
        await self._l3_sync()
        return out

    async def delete_floatingip(self, token: str, floatingip: str) -> None:
        self.rt.network.delete_floatingip(await self.ctx(token), floatingip)
        await self._l3_sync()
