"""The facade, identity (keystone): tokens, users, projects, roles.
A part of Cloud (backend/facade/__init__.py): self.rt and self.ctx are Cloud's."""
from __future__ import annotations

import asyncio

from backend.core.errors import Unauthorized


class IdentityFacade:
    async def _ictx(self, token: str):
        """The caller's context, a system-scoped token included (identity takes it)."""
        if not token:
            raise Unauthorized("authentication required: no token given")
        return self.rt.identity.context_for(token, system=True)

    async def login(self, username: str, password: str, project: str | None = None,
                    domain: str = "Default", project_domain: str = "Default", system: bool = False,
                    default_project: bool = False) -> dict:
        """Password -> token (unscoped when project is None). Returns the token view:
        {token, issued_at, expires_at, user{id,name,domain}, project{id,name}|None, roles[{id,name}], methods,
        system}. system=True asks for a system-scoped token (the user's roles on the system);
        default_project=True scopes a login that names no project to the user's default project
        when the user has a role there (keystone's REST API does)."""
        return await self.rt.identity.authenticate_password(username, password, project, domain, system,
                                                            project_domain, default_project)

    async def operator_token(self) -> str:
        """An admin token for tools run by the owner of the state directory on this machine
        (as keystone-manage bootstrap trusts the operator): whoever can open the database
        and take its lock owns the cloud already. Never reachable over the REST API."""
        return self.rt.identity.operator_token()

    async def scope(self, token: str, project: str | None, system: bool = False,
                    project_domain: str = "Default") -> dict:
        """Token (usually unscoped) + project name or id -> new project-scoped token
        (system=True: a system-scoped one)."""
        return self.rt.identity.authenticate_token(token, project, system, project_domain)

    async def validate_token(self, token: str, subject: str | None = None) -> dict:
        """Validate subject (default: token itself) with token's authority."""
        return self.rt.identity.validate(token, subject)

    async def revoke_token(self, token: str, subject: str | None = None) -> None:
        self.rt.identity.revoke(token, subject)

    async def auth_projects(self, token: str) -> list[dict]:
        return self.rt.identity.auth_projects(token)

    async def list_users(self, token: str) -> list[dict]:
        return self.rt.identity.list_users(await self._ictx(token))

    async def get_user(self, token: str, user: str) -> dict:
        return self.rt.identity.get_user(await self._ictx(token), user)

    async def create_user(self, token: str, name: str, password: str,
                          default_project: str | None = None, enabled: bool = True,
                          extra: dict | None = None, domain: str = "default") -> dict:
        """extra: the user's other attributes (email, description, ...), kept and shown as given;
        domain: the id of the domain the user is in."""
        return self.rt.identity.create_user(await self._ictx(token), name, password, default_project, enabled,
                                            extra, domain)

    async def update_user(self, token: str, user: str, name: str | None = None, password: str | None = None,
                          enabled: bool | None = None, default_project: str | None = None,
                          original_password: str | None = None, extra: dict | None = None) -> dict:
        """A new password or disabling revokes the user's tokens. A user changing their own
        password must give the current one (keystone's POST /v3/users/{id}/password)."""
        ctx = await self._ictx(token)
        pw_hash = None
        if password is not None:  # bcrypt is slow on purpose: off the loop
            if not ctx.is_admin:
                await self.rt.identity.check_own_password(ctx, user, original_password)
            pw_hash = await asyncio.to_thread(self.rt.identity.hash_password, password)
        return self.rt.identity.update_user(ctx, user, name, pw_hash, enabled, default_project, extra)

    async def delete_user(self, token: str, user: str) -> None:
        self.rt.identity.delete_user(await self._ictx(token), user)

    async def list_projects(self, token: str) -> list[dict]:
        return self.rt.identity.list_projects(await self._ictx(token))

    async def get_project(self, token: str, project: str) -> dict:
        return self.rt.identity.get_project(await self._ictx(token), project)

    async def create_project(self, token: str, name: str, description: str = "", domain: str = "default",
                             enabled: bool = True, tags: list[str] = (), parent: str | None = None) -> dict:
        """parent: the project it is below (in the parent's domain); none: directly below its domain."""
        return self.rt.identity.create_project(await self._ictx(token), name, description, domain, enabled, tags,
                                               parent)

    async def update_project(self, token: str, project: str, name: str | None = None,
                             description: str | None = None, enabled: bool | None = None,
                             tags: list[str] | None = None) -> dict:
        return self.rt.identity.update_project(await self._ictx(token), project, name, description, enabled, tags)

    async def delete_project(self, token: str, project: str) -> None:
        self.rt.identity.delete_project(await self._ictx(token), project)

    async def list_roles(self, token: str, domain: str | None = None) -> list[dict]:
        """The global roles; with domain, that domain's own roles."""
        return self.rt.identity.list_roles(await self._ictx(token), domain)

    async def get_role(self, token: str, role: str) -> dict:
        return self.rt.identity.get_role(await self._ictx(token), role)

    async def grant_role(self, token: str, project: str, user: str, role: str) -> None:
        self.rt.identity.grant_role(await self._ictx(token), project, user, role)

    async def revoke_role(self, token: str, project: str, user: str, role: str) -> None:
        self.rt.identity.revoke_role(await self._ictx(token), project, user, role)

    async def check_role(self, token: str, project: str, user: str, role: str) -> bool:
        return self.rt.identity.check_role(await self._ictx(token), project, user, role)

    async def list_role_assignments(self, token: str, project: str | None = None,
                                    user: str | None = None) -> list[dict]:
        return self.rt.identity.list_role_assignments(await self._ictx(token), project, user)

    async def grant_system_role(self, token: str, user: str, role: str) -> None:
        self.rt.identity.grant_system_role(await self._ictx(token), user, role)

    async def revoke_system_role(self, token: str, user: str, role: str) -> None:
        self.rt.identity.revoke_system_role(await self._ictx(token), user, role)

    async def list_system_roles(self, token: str, user: str) -> list[dict]:
        """The roles user holds on the system (as assigned): [{id, name}]."""
        return self.rt.identity.list_system_roles(await self._ictx(token), user)

    async def list_system_assignments(self, token: str, user: str | None = None) -> list[dict]:
        return self.rt.identity.list_system_assignments(await self._ictx(token), user)

    async def list_domains(self, token: str) -> list[dict]:
        """[{id, name, description, enabled}]: all for admins and system readers, else Default."""
        return self.rt.identity.list_domains(await self._ictx(token))

    async def get_domain(self, token: str, domain: str) -> dict:
        return self.rt.identity.get_domain(await self._ictx(token), domain)

    async def create_domain(self, token: str, name: str, description: str = "", enabled: bool = True) -> dict:
        return self.rt.identity.create_domain(await self._ictx(token), name, description, enabled)

    async def update_domain(self, token: str, domain: str, name: str | None = None,
                            description: str | None = None, enabled: bool | None = None) -> dict:
        return self.rt.identity.update_domain(await self._ictx(token), domain, name, description, enabled)

    async def delete_domain(self, token: str, domain: str) -> None:
        """Only a disabled domain (403 otherwise, as keystone)."""
        self.rt.identity.delete_domain(await self._ictx(token), domain)

    async def create_role(self, token: str, name: str, description: str | None = None,
                          domain: str | None = None) -> dict:
        return self.rt.identity.create_role(await self._ictx(token), name, description, domain)

    async def update_role(self, token: str, role: str, name: str | None = None,
                          description: str | None = None) -> dict:
        return self.rt.identity.update_role(await self._ictx(token), role, name, description)

    async def delete_role(self, token: str, role: str) -> None:
        """Its assignments go too; admin, member and reader are built in (403)."""
        self.rt.identity.delete_role(await self._ictx(token), role)

    async def list_groups(self, token: str) -> list[dict]:
        """[{id, name, domain_id, description}]: all for admins and system readers, else one's own."""
        return self.rt.identity.list_groups(await self._ictx(token))

    async def get_group(self, token: str, group: str) -> dict:
        return self.rt.identity.get_group(await self._ictx(token), group)

    async def create_group(self, token: str, name: str, description: str = "", domain: str = "default",
                           extra: dict | None = None) -> dict:
        return self.rt.identity.create_group(await self._ictx(token), name, description, domain, extra)

    async def update_group(self, token: str, group: str, name: str | None = None,
                           description: str | None = None) -> dict:
        return self.rt.identity.update_group(await self._ictx(token), group, name, description)

    async def delete_group(self, token: str, group: str) -> None:
        self.rt.identity.delete_group(await self._ictx(token), group)

    async def add_group_user(self, token: str, group: str, user: str) -> None:
        self.rt.identity.add_group_user(await self._ictx(token), group, user)

    async def remove_group_user(self, token: str, group: str, user: str) -> None:
        self.rt.identity.remove_group_user(await self._ictx(token), group, user)

    async def check_group_user(self, token: str, group: str, user: str) -> bool:
        return self.rt.identity.check_group_user(await self._ictx(token), group, user)

    async def list_group_users(self, token: str, group: str) -> list[dict]:
        return self.rt.identity.list_group_users(await self._ictx(token), group)

    async def list_user_groups(self, token: str, user: str) -> list[dict]:
        return self.rt.identity.list_user_groups(await self._ictx(token), user)

    async def list_project_tags(self, token: str, project: str) -> list[str]:
        return self.rt.identity.list_project_tags(await self._ictx(token), project)

    async def set_project_tags(self, token: str, project: str, tags: list[str]) -> list[str]:
        """Replaces all of a project's tags."""
        return self.rt.identity.set_project_tags(await self._ictx(token), project, tags)

    async def add_project_tag(self, token: str, project: str, tag: str) -> None:
        self.rt.identity.add_project_tag(await self._ictx(token), project, tag)

    async def remove_project_tag(self, token: str, project: str, tag: str) -> None:
        self.rt.identity.remove_project_tag(await self._ictx(token), project, tag)
