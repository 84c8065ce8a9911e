"""The facade, quotas, images (glance), networks, subnets, ports (neutron) and
volumes (cinder).
A part of Cloud (backend/facade/__init__.py): self.rt and self.ctx are Cloud's."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path


class ResourcesFacade:
    def _quota(self):
        from backend.core.quota import QuotaService
        return QuotaService(self.rt.db, self.config)

    async def get_quotas(self, token: str, project_id: str, service: str) -> dict:
        """One service's quotas of a project (service: compute, network, volume, image):
        {resource: {"limit", "in_use"}}, -1 = unlimited. Members see their own project only."""
        return self._quota().show(await self.ctx(token), project_id, service)

    async def get_quota_class(self, token: str, class_name: str) -> dict:
        """nova's quota class (admins): {resource: limit} of every compute key; the class
        'default' is every project's limits where it has none of its own."""
        from backend.core import quota_classes
        return quota_classes.show(self.rt.db, self.config, await self.ctx(token), class_name)

    async def update_quota_class(self, token: str, class_name: str, values: dict, keys) -> dict:
        """Admins: set some of `keys` of the class; all or nothing. Returns get_quota_class's view."""
        from backend.core import quota_classes
        return quota_classes.update(self.rt.db, self.config, await self.ctx(token), class_name, values, keys)

    async def get_default_quotas(self, token: str, service: str) -> dict:
        """{resource: default limit} of one service."""
        return self._quota().show_defaults(await self.ctx(token), service)

    async def update_quotas(self, token: str, project_id: str, service: str, values: dict,
                            force: bool = True) -> dict:
        """Admin only: set limits ({resource: int >= -1}); all or nothing. force=False
        refuses a limit under current usage. Returns get_quotas' view."""
        return self._quota().update(await self.ctx(token), project_id, service, values, force)

    async def delete_quotas(self, token: str, project_id: str, service: str) -> None:
        """Admin only: the project's limits of one service back to the defaults."""
        self._quota().delete(await self.ctx(token), project_id, service)

    # ---- image ------------------------------------------------------------------------
    async def list_images(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.image.list(await self.ctx(token), filters or {})

    async def get_image(self, token: str, image: str) -> dict:
        return self.rt.image.get(await self.ctx(token), image)

    async def create_image(self, token: str, name: str, disk_format: str = "raw",
                           container_format: str = "bare", visibility: str = "private",
                           min_ram: int = 0, min_disk: int = 0,
                           properties: dict | None = None, image_id: str | None = None,
                           tags: list[str] | None = None, owner: str | None = None) -> dict:
        """owner: another project than the token's (admins only)."""
        return self.rt.image.create(await self.ctx(token), name, disk_format, container_format,
                                    visibility, min_ram, min_disk, properties or {}, image_id, tags,
                                    owner)

    async def upload_image(self, token: str, image: str,
                           data: bytes | Iterable[bytes] | AsyncIterator[bytes] | Path) -> dict:
        """Store the image data (bytes, a path, or a (async) iterator of chunks); computes
        size and sha256; the image becomes 'active'."""
        return await self.rt.image.upload(await self.ctx(token), image, data)

    async def download_image(self, token: str, image: str) -> tuple[dict, Path]:
        """The image view and the path of its stored file (checksum verified)."""
        return self.rt.image.download(await self.ctx(token), image)

    async def update_image(self, token: str, image: str, changes: dict) -> dict:
        return self.rt.image.update(await self.ctx(token), image, changes)

    async def delete_image(self, token: str, image: str) -> None:
        self.rt.image.delete(await self.ctx(token), image)

    async def add_image_tag(self, token: str, image: str, tag: str) -> None:
        """Add a tag (a no-op when the image has it already)."""
        self.rt.image.add_tag(await self.ctx(token), image, tag)

    async def delete_image_tag(self, token: str, image: str, tag: str) -> None:
        """Remove a tag; NotFound when the image does not have it."""
        self.rt.image.delete_tag(await self.ctx(token), image, tag)

    async def add_image_member(self, token: str, image: str, member_id: str) -> dict:
        """Share a 'shared' image with a project (owner only); the member starts pending."""
        return self.rt.image.add_member(await self.ctx(token), image, member_id)

    async def list_image_members(self, token: str, image: str) -> list[dict]:
        """Every member for the owner; a member sees only itself."""
        return self.rt.image.list_members(await self.ctx(token), image)

    async def get_image_member(self, token: str, image: str, member_id: str) -> dict:
        return self.rt.image.get_member(await self.ctx(token), image, member_id)

    async def update_image_member(self, token: str, image: str, member_id: str, status: str) -> dict:
        """The member's answer: accepted, rejected or pending (the member itself only)."""
        return self.rt.image.update_member(await self.ctx(token), image, member_id, status)

    async def delete_image_member(self, token: str, image: str, member_id: str) -> None:
        self.rt.image.delete_member(await self.ctx(token), image, member_id)

    async def set_image_active(self, token: str, image: str, active: bool) -> None:
        """glance's reactivate (True) / deactivate (False): owner or admin; a deactivated
        image's data is for admins only."""
        self.rt.image.set_active(await self.ctx(token), image, active)

    # ---- network ----------------------------------------------------------------------
    async def list_networks(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.network.list_networks(await self.ctx(token), filters or {})

    async def get_network(self, token: str, network: str) -> dict:
        return self.rt.network.get_network(await self.ctx(token), network)

    async def create_network(self, token: str, name: str, shared: bool = False,
                             project_id: str | None = None, external: bool = False) -> dict:
        """project_id: another owner than the token's project (admins only); external:
        router:external (admins only)."""
        return self.rt.network.create_network(await self.ctx(token), name, shared, project_id, external)

    async def update_network(self, token: str, network: str, changes: dict) -> dict:
        """changes: name, shared (admins only). Owner or admin."""
        return self.rt.network.update_network(await self.ctx(token), network, changes)

    async def update_subnet(self, token: str, subnet: str, changes: dict) -> dict:
        """changes: name, gateway_ip (None: none), dns_nameservers, host_routes,
        allocation_pools, enable_dhcp."""
        return self.rt.network.update_subnet(await self.ctx(token), subnet, changes)

    async def update_port(self, token: str, port: str, changes: dict) -> dict:
        """changes: name, binding_host (admins only), security_groups (ids),
        port_security_enabled, fixed_ips, admin_state_up."""
        got = self.rt.network.update_port(await self.ctx(token), port, changes)
        await self.rt.network.l3_sync()  # a router interface's address may have moved
        return got

    async def delete_network(self, token: str, network: str) -> None:
        self.rt.network.delete_network(await self.ctx(token), network)

    async def list_subnets(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.network.list_subnets(await self.ctx(token), filters or {})

    async def get_subnet(self, token: str, subnet: str) -> dict:
        return self.rt.network.get_subnet(await self.ctx(token), subnet)

    async def create_subnet(self, token: str, network: str, cidr: str, name: str = "",
                            gateway_ip: str | None = None,
                            allocation_pools: list[dict] | None = None,
                            dns_nameservers: list[str] | None = None,
                            host_routes: list[dict] | None = None, **options) -> dict:
        """options: ip_version, enable_dhcp, ipv6_ra_mode, ipv6_address_mode."""
        return self.rt.network.create_subnet(await self.ctx(token), network, cidr, name,
                                             gateway_ip, allocation_pools, dns_nameservers,
                                             host_routes, **options)

    async def delete_subnet(self, token: str, subnet: str) -> None:
        self.rt.network.delete_subnet(await self.ctx(token), subnet)

    async def list_ports(self, token: str, filters: dict | None = None) -> list[dict]:
        return self.rt.network.list_ports(await self.ctx(token), filters or {})

    async def get_port(self, token: str, port: str) -> dict:
        return self.rt.network.get_port(await self.ctx(token), port)

    async def create_port(self, token: str, network: str, name: str = "",
                          fixed_ip: str | None = None, host: str | None = None,
                          mac_address: str | None = None, security_groups: list[str] | None = None,
                          port_security_enabled: bool = True, fixed_ips: list[dict] | None = None,
                          admin_state_up: bool = True) -> dict:
        """host: binding:host_id (admins only); mac_address: the network's owner or an admin;
        security_groups: group ids (None: the project's default group; none when
        port_security_enabled is false); fixed_ips: neutron's [{subnet_id?, ip_address?}]."""
        ctx = await self.ctx(token)
        self.rt.network.check_binding_host(ctx, host)
        return self.rt.network.create_port(ctx, network, name, fixed_ip, host=host or None,
                                           mac_address=mac_address, security_groups=security_groups,
                                           port_security_enabled=port_security_enabled,
                                           fixed_ips=fixed_ips, admin_state_up=admin_state_up)

    async def delete_port(self, token: str, port: str) -> None:
        self.rt.network.delete_port(await self.ctx(token), port)
        await self.rt.network.l3_sync()  # a floating IP on it was disassociated

    # ---- volume -----------------------------------------------------------------------
    async def list_volumes(self, token: str, all_projects: bool = False) -> list[dict]:
        return self.rt.volume.list(await self.ctx(token), all_projects)

    async def get_volume(self, token: str, volume: str) -> dict:
        return self.rt.volume.get(await self.ctx(token), volume)

    async def create_volume(self, token: str, size: int, name: str = "",
                            description: str = "", metadata: dict | None = None,
                            volume_type: str | None = None, image: str | None = None) -> dict:
        """metadata: {key: value}, strings (cinder's volume metadata); volume_type: a type's
        id or name (None: __DEFAULT__); image: an active image's id (cinder's imageRef): the
        volume is bootable and its file, made on the host that first uses it, starts as a copy
        of the image."""
        ctx = await self.ctx(token)
        image_id = self.rt.volume.image_for_volume(ctx, self.rt.image, image, size) if image else None
        return self.rt.volume.create(ctx, size, name, description, metadata=metadata,
                                     volume_type=volume_type, image_id=image_id, bootable=bool(image_id))

    async def list_volume_types(self, token: str) -> list[dict]:
        """__DEFAULT__ first; private types for admins only."""
        return self.rt.volume.list_types(await self.ctx(token))

    async def get_volume_type(self, token: str, volume_type: str) -> dict:
        return self.rt.volume.find_type(await self.ctx(token), volume_type)

    async def create_volume_type(self, token: str, name: str, description: str | None = None,
                                 is_public: bool = True, extra_specs: dict | None = None) -> dict:
        """Admins only; a name already taken is a Conflict."""
        return self.rt.volume.create_type(await self.ctx(token), name, description, is_public,
                                          extra_specs)

    async def update_volume_type(self, token: str, volume_type: str, changes: dict) -> dict:
        """changes: name, description, is_public. Admins only."""
        return self.rt.volume.update_type(await self.ctx(token), volume_type, changes)

    async def delete_volume_type(self, token: str, volume_type: str) -> None:
        self.rt.volume.delete_type(await self.ctx(token), volume_type)

    async def set_volume_type_specs(self, token: str, volume_type: str, specs: dict,
                                    remove: str | None = None) -> dict:
        """Merge extra specs (or remove one key). Returns them all."""
        return self.rt.volume.set_type_specs(await self.ctx(token), volume_type, specs, remove)

    async def update_volume(self, token: str, volume: str, changes: dict) -> dict:
        """changes: name, description, metadata (replaces the volume's)."""
        return self.rt.volume.update(await self.ctx(token), volume, changes)

    async def update_volume_metadata(self, token: str, volume: str, metadata: dict,
                                     replace: bool = False) -> dict:
        """Merge metadata into the volume's (replace=True: set it to exactly metadata); a
        None value removes its key (404 when absent). Returns the whole metadata."""
        return self.rt.volume.update_metadata(await self.ctx(token), volume, metadata, replace)

    async def delete_volume(self, token: str, volume: str) -> None:
        await self.rt.volume.delete(await self.ctx(token), volume)

    async def attach_volume(self, token: str, server_id: str, volume: str) -> dict:
        return await self.rt.compute_api.attach_volume(await self.ctx(token), server_id, volume)

    async def detach_volume(self, token: str, server_id: str, volume: str) -> None:
        await self.rt.compute_api.detach_volume(await self.ctx(token), server_id, volume)
