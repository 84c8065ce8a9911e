"""The facade, security groups (neutron's, and nova's view of a server's).
A part of Cloud (backend/facade/__init__.py): self.rt and self.ctx are Cloud's.
The groups and rules are stored and shown; the network does not enforce them yet."""
from __future__ import annotations


class SecurityGroupsFacade:
    async def list_security_groups(self, token: str, filters: dict | None = None) -> list[dict]:
        """The caller's project's groups (every project's for an admin); its default group
        is made on first use."""
        return self.rt.network.list_security_groups(await self.ctx(token), filters or {})

    async def get_security_group(self, token: str, group: str) -> dict:
        """{id, name, description, project_id, stateful, revision_number, created_at,
        updated_at, rules: [rule views]}."""
        return self.rt.network.get_security_group(await self.ctx(token), group)

    async def create_security_group(self, token: str, name: str, description: str = "",
                                    stateful: bool = True, project_id: str | None = None) -> dict:
        """project_id: another owner than the token's project (admins only)."""
        return self.rt.network.create_security_group(await self.ctx(token), name, description,
                                                     stateful, project_id)

    async def update_security_group(self, token: str, group: str, changes: dict) -> dict:
        """changes: name, description, stateful."""
        return self.rt.network.update_security_group(await self.ctx(token), group, changes)

    async def delete_security_group(self, token: str, group: str) -> None:
        """Conflict for the default group and for a group a port or server uses."""
        self.rt.network.delete_security_group(await self.ctx(token), group)

    async def list_security_group_rules(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.network.list_security_group_rules(await self.ctx(token), filters or {})

    async def get_security_group_rule(self, token: str, rule: str) -> dict:
        """{id, security_group_id, project_id, direction, ethertype, protocol, port_range_min,
        port_range_max, remote_ip_prefix, remote_group_id, description, revision_number,
        created_at, updated_at}."""
        return self.rt.network.get_security_group_rule(await self.ctx(token), rule)

    async def create_security_group_rule(self, token: str, security_group_id: str, direction: str,
                                         ethertype: str = "IPv4", protocol=None, port_range_min=None,
                                         port_range_max=None, remote_ip_prefix=None, remote_group_id=None,
                                         description: str = "") -> dict:
        """Checked as neutron does; the same rule again is a Conflict."""
        return self.rt.network.create_security_group_rule(
            await self.ctx(token), security_group_id, direction, ethertype, protocol, port_range_min,
            port_range_max, remote_ip_prefix, remote_group_id, description)

    async def delete_security_group_rule(self, token: str, rule: str) -> None:
        self.rt.network.delete_security_group_rule(await self.ctx(token), rule)

    async def list_server_security_groups(self, token: str, server_id: str) -> list[dict]:
        """The server's groups (group views)."""
        return await self.rt.compute_api.server_security_groups(await self.ctx(token), server_id)

    async def add_server_security_group(self, token: str, server_id: str, group: str) -> None:
        """nova's addSecurityGroup: a group of the server's project by name or id, given to
        the server and every port it has."""
        await self.rt.compute_api.add_security_group(await self.ctx(token), server_id, group)

    async def remove_server_security_group(self, token: str, server_id: str, group: str) -> None:
        await self.rt.compute_api.remove_security_group(await self.ctx(token), server_id, group)
