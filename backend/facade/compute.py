"""The facade, compute (nova): servers, their actions, console, trace and flow,
flavors, hypervisors, server groups, limits.
A part of Cloud (backend/facade/__init__.py): self.rt and self.ctx are Cloud's."""
from __future__ import annotations

from typing import Any

from backend.core.errors import NotFound


class ComputeFacade:
    async def create_server(self, token: str, name: str, image: str | None, flavor: str,
                            networks: list[dict] | str | None = None,
                            boot_volume_size: int | None = None,
                            availability_zone: str | None = None,
                            min_count: int = 1, max_count: int = 1,
                            scheduler_hints: dict | None = None,
                            metadata: dict | None = None, key_name: str | None = None,
                            access_ips: dict | None = None,
                            user_data: str | None = None, tags: list | None = None,
                            description: str | None = None,
                            security_groups: list[str] | None = None,
                            request_id: str | None = None) -> list[dict]:
        """Validate, write the instance(s) as building/scheduling/NOSTATE, record the
        'create' action, cast the build, and return at once (server views).
        networks: None or "auto" (the project's or the shared network), "none", or
        [{"uuid": net_id} | {"port": port_id} | {"fixed_ip": ip, "uuid": net_id}].
        security_groups: names or ids of the project's groups (None: its default group).
        request_id: the id the 'create' action is recorded under (the REST request's own, which
        its answer names) instead of a new one."""
        ctx = await self.ctx(token)
        if request_id is not None:
            ctx = ctx.with_request_id(request_id, ctx.validate_ms)
        return await self.rt.compute_api.create(ctx, name=name, image=image,
                                                flavor=flavor, networks=networks,
                                                boot_volume_size=boot_volume_size,
                                                availability_zone=availability_zone,
                                                min_count=min_count, max_count=max_count,
                                                scheduler_hints=scheduler_hints or {},
                                                metadata=metadata or {}, key_name=key_name,
                                                access_ips=access_ips, user_data=user_data,
                                                tags=tags, description=description,
                                                security_groups=security_groups)

    async def list_servers(self, token: str, all_projects: bool = False,
                           filters: dict | None = None, limit: int | None = None,
                           marker: str | None = None) -> list[dict]:
        """filters: name (regex, as nova), status, host, project_id, image, flavor."""
        return self.rt.compute_api.list(await self.ctx(token), all_projects, filters or {}, limit, marker)

    async def get_server(self, token: str, server_id: str) -> dict:
        return self.rt.compute_api.get(await self.ctx(token), server_id)

    async def rename_server(self, token: str, server_id: str, name: str | None = None,
                            access_ips: dict | None = None, description=...) -> dict:
        """The name, the access IPs ({4: "1.2.3.4" or None, 6: ...}) and/or the description
        (None clears it; left out keeps it) as nova's PUT."""
        return self.rt.compute_api.rename(await self.ctx(token), server_id, name, access_ips, description)

    async def list_server_tags(self, token: str, server_id: str) -> list[str]:
        return self.rt.compute_api.list_server_tags(await self.ctx(token), server_id)

    async def set_server_tags(self, token: str, server_id: str, tags: list[str]) -> list[str]:
        """Replace every tag of the server (at most 50, each 1-60 characters, no '/' or ',')."""
        return self.rt.compute_api.set_server_tags(await self.ctx(token), server_id, tags)

    async def add_server_tag(self, token: str, server_id: str, tag: str) -> bool:
        """True when the tag is new, False when the server had it already."""
        return self.rt.compute_api.add_server_tag(await self.ctx(token), server_id, tag)

    async def check_server_tag(self, token: str, server_id: str, tag: str) -> None:
        """NotFound unless the server has this tag."""
        self.rt.compute_api.has_server_tag(await self.ctx(token), server_id, tag)

    async def delete_server_tag(self, token: str, server_id: str, tag: str) -> None:
        self.rt.compute_api.delete_server_tag(await self.ctx(token), server_id, tag)

    async def delete_server_tags(self, token: str, server_id: str) -> None:
        self.rt.compute_api.delete_server_tags(await self.ctx(token), server_id)

    async def delete_server(self, token: str, server_id: str) -> None:
        await self.rt.compute_api.delete(await self.ctx(token), server_id)

    async def stop_server(self, token: str, server_id: str) -> None:
        await self.rt.compute_api.stop(await self.ctx(token), server_id)

    async def start_server(self, token: str, server_id: str) -> None:
        await self.rt.compute_api.start(await self.ctx(token), server_id)

    async def reboot_server(self, token: str, server_id: str, hard: bool = False) -> None:
        await self.rt.compute_api.reboot(await self.ctx(token), server_id, hard)

    async def pause_server(self, token: str, server_id: str) -> None:
        """nova's pause: the guest's vCPUs frozen, kept in the host's memory (PAUSED)."""
        await self.rt.compute_api.pause(await self.ctx(token), server_id)

    async def unpause_server(self, token: str, server_id: str) -> None:
        await self.rt.compute_api.unpause(await self.ctx(token), server_id)

    async def suspend_server(self, token: str, server_id: str) -> None:
        """nova's suspend: the guest saved and stopped (SUSPENDED); resume brings it back."""
        await self.rt.compute_api.suspend(await self.ctx(token), server_id)

    async def resume_server(self, token: str, server_id: str) -> None:
        await self.rt.compute_api.resume(await self.ctx(token), server_id)

    async def rebuild_server(self, token: str, server_id: str, image: str, name: str | None = None,
                             metadata: dict | None = None, access_ips: dict | None = None,
                             description=...) -> dict:
        """nova's rebuild: the same server (ports, volumes, flavor, host) booted again from
        image; metadata replaces the server's when given. Answers the server (REBUILD)."""
        return await self.rt.compute_api.rebuild(await self.ctx(token), server_id, image, name, metadata,
                                                 access_ips, description)

    async def reset_server_state(self, token: str, server_id: str, state: str) -> None:
        """Admins: set vm_state to 'active' or 'error' and clear the task (nova's os-resetState)."""
        self.rt.compute_api.reset_state(await self.ctx(token), server_id, state)

    async def list_instance_actions(self, token: str, server_id: str) -> list[dict]:
        return self.rt.compute_api.list_actions(await self.ctx(token), server_id)

    async def get_instance_action(self, token: str, server_id: str, request_id: str) -> dict:
        """The action with its 'events' list."""
        return self.rt.compute_api.get_action(await self.ctx(token), server_id, request_id)

    async def get_console_output(self, token: str, server_id: str, length: int | None = None) -> str:
        return await self.rt.compute_api.console_output(await self.ctx(token), server_id, length)

    async def create_remote_console(self, token: str, server_id: str, protocol: str = "serial",
                                    type: str = "serial") -> dict:
        """A short-lived single-use console token for the guest's serial port (nova's
        remote-consoles): {"protocol", "type", "token", "instance_uuid", "expires_in"}.
        Members and admins only; 409 when the guest is not running or its console is held."""
        return await self.rt.console_api.create(await self.ctx(token), server_id, protocol, type)

    async def connect_console(self, console_token: str):
        """Consume a console token and attach: a session with async read() -> bytes (b"" at
        the end), write(bytes) and close() (detach)."""
        return await self.rt.console_api.connect(console_token)

    async def attach_console(self, token: str, server_id: str):
        """create_remote_console + connect_console in one step (the in-process app)."""
        made = await self.create_remote_console(token, server_id)
        return await self.connect_console(made["token"])

    async def explain_server(self, token: str, server_id: str) -> list[dict]:
        """The scheduler's decisions for this instance, one per attempt."""
        return self.rt.compute_api.explain(await self.ctx(token), server_id)

    async def get_trace(self, token: str, server_id: str) -> list[dict]:
        """Every queue message and service step of this instance, oldest first."""
        return self.rt.compute_api.trace(await self.ctx(token), server_id)

    async def get_flow(self, token: str, server_id: str) -> dict:
        """The launch as the seed's six steps (docs/facade.md): each with its services,
        queues, times, states, events and trace records; the running step, faults. Readable
        after a delete, as the trace is; host names for admins only."""
        trace = await self.get_trace(token, server_id)
        actions = [await self.get_instance_action(token, server_id, a["request_id"])
                   for a in await self.list_instance_actions(token, server_id) if a["action"] == "create"]
        try:
            server = await self.get_server(token, server_id)
        except NotFound:  # deleted: its flow stays readable
            server = None
        return self.flow_of(server, trace, actions)

    @staticmethod
    def flow_of(server: dict | None, trace: list[dict], actions: list[dict], now: float | None = None) -> dict:
        """get_flow's grouping over views a client already holds (get_server, get_trace,
        get_instance_action); pure."""
        from backend.messaging.flow import build_flow
        return build_flow(server, trace, actions, now)

    async def list_flavors(self, token: str, is_public: bool | None = None) -> list[dict]:
        """Members: the public flavors and those shared with their project. Admins: all
        (is_public None), public and shared with their project (True) or private (False)."""
        return self.rt.compute_api.list_flavors(await self.ctx(token), is_public)

    async def list_flavor_access(self, token: str, flavor: str) -> list[dict]:
        """A private flavor's projects (admins): [{flavor_id, tenant_id}]."""
        return self.rt.compute_api.list_flavor_access(await self.ctx(token), flavor)

    async def add_flavor_access(self, token: str, flavor: str, project_id: str,
                                refuse_public: bool = True) -> list[dict]:
        return self.rt.compute_api.add_flavor_access(await self.ctx(token), flavor, project_id, refuse_public)

    async def remove_flavor_access(self, token: str, flavor: str, project_id: str) -> list[dict]:
        return self.rt.compute_api.remove_flavor_access(await self.ctx(token), flavor, project_id)

    async def get_flavor(self, token: str, flavor: str) -> dict:
        return self.rt.compute_api.get_flavor(await self.ctx(token), flavor)

    async def create_flavor(self, token: str, name: str, vcpus: int, ram: int, disk: int,
                            flavor_id: str | None = None, is_public: bool = True, swap: int = 0,
                            ephemeral: int = 0, rxtx_factor: float = 1.0) -> dict:
        """swap (MiB), ephemeral (GiB) and rxtx_factor are kept and shown as nova's; the
        guests get no swap or ephemeral disk from them."""
        return self.rt.compute_api.create_flavor(await self.ctx(token), name, vcpus, ram, disk,
                                                 flavor_id, is_public, swap, ephemeral, rxtx_factor)

    async def delete_flavor(self, token: str, flavor: str) -> None:
        self.rt.compute_api.delete_flavor(await self.ctx(token), flavor)

    async def get_flavor_extra_specs(self, token: str, flavor: str) -> dict:
        """nova's os-extra_specs: string pairs kept and shown; nothing acts on them."""
        return self.rt.compute_api.get_flavor_extra_specs(await self.ctx(token), flavor)

    async def set_flavor_extra_specs(self, token: str, flavor: str, specs: dict) -> dict:
        """Merged into the flavor's (admins); answers what was given."""
        return self.rt.compute_api.set_flavor_extra_specs(await self.ctx(token), flavor, specs)

    async def delete_flavor_extra_spec(self, token: str, flavor: str, key: str) -> None:
        self.rt.compute_api.delete_flavor_extra_spec(await self.ctx(token), flavor, key)

    async def list_hypervisors(self, token: str) -> list[dict]:
        return self.rt.compute_api.list_hypervisors(await self.ctx(token))

    async def get_hypervisor(self, token: str, host: str) -> dict:
        return self.rt.compute_api.get_hypervisor(await self.ctx(token), host)

    async def create_server_group(self, token: str, name: str, policy: str) -> dict:
        return self.rt.compute_api.create_server_group(await self.ctx(token), name, policy)

    async def list_server_groups(self, token: str) -> list[dict]:
        return self.rt.compute_api.list_server_groups(await self.ctx(token))

    async def delete_server_group(self, token: str, group_id: str) -> None:
        self.rt.compute_api.delete_server_group(await self.ctx(token), group_id)

    async def glossary(self, token: str) -> list[dict]:
        """What each state, fault kind, scheduler filter and weigher and each main term means:
        [{kind, term, text}] (power states add their code, fault kinds the pattern of their
        messages). Any valid token may read it."""
        from backend.core import glossary
        await self.ctx(token)
        return glossary.entries()

    async def get_limits(self, token: str) -> dict:
        """nova's absolute limits of the token's project (maxTotalInstances, totalInstancesUsed, ...)."""
        return self.rt.compute_api.limits(await self.ctx(token))

    async def get_server_metadata(self, token: str, server_id: str) -> dict:
        return self.rt.compute_api.get_server_metadata(await self.ctx(token), server_id)

    async def get_server_metadata_item(self, token: str, server_id: str, key: str) -> str:
        return self.rt.compute_api.get_server_metadata_item(await self.ctx(token), server_id, key)

    async def set_server_metadata(self, token: str, server_id: str, metadata: dict,
                                  replace: bool = False) -> dict:
        """Merge metadata into the server's (replace: it becomes exactly metadata); the whole
        set is checked against metadata_items. Returns the server's metadata now."""
        return self.rt.compute_api.set_server_metadata(await self.ctx(token), server_id, metadata, replace)

    async def set_server_metadata_item(self, token: str, server_id: str, key: str, value: str) -> dict:
        return self.rt.compute_api.set_server_metadata_item(await self.ctx(token), server_id, key, value)

    async def delete_server_metadata_item(self, token: str, server_id: str, key: str) -> None:
        self.rt.compute_api.delete_server_metadata_item(await self.ctx(token), server_id, key)

    async def create_keypair(self, token: str, name: str, public_key: str | None = None,
                             user_id: str | None = None, key_type: str = "ssh") -> dict:
        """Import public_key, or generate a key pair (its private_key is in this answer only).
        {name, public_key, fingerprint, user_id, type[, private_key]}; user_id: admins only;
        key_type 'ssh' (an OpenSSH key) or 'x509' (a PEM certificate)."""
        return self.rt.compute_api.create_keypair(await self.ctx(token), name, public_key, user_id, key_type)

    async def list_keypairs(self, token: str, user_id: str | None = None) -> list[dict]:
        return self.rt.compute_api.list_keypairs(await self.ctx(token), user_id)

    async def get_keypair(self, token: str, name: str, user_id: str | None = None) -> dict:
        return self.rt.compute_api.get_keypair(await self.ctx(token), name, user_id)

    async def delete_keypair(self, token: str, name: str, user_id: str | None = None) -> None:
        self.rt.compute_api.delete_keypair(await self.ctx(token), name, user_id)
