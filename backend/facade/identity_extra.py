"""The facade, identity (keystone) beyond users and projects: role grants to groups and on
domains (inherited too), implied roles, credentials and application credentials.
A part of Cloud (backend/facade/__init__.py): self.rt and self._ictx are Cloud's."""
from __future__ import annotations


class IdentityExtraFacade:
    # ---- grants: actor_type "user"|"group", target_type "project"|"domain"|"system" --------
    async def grant(self, token: str, actor_type: str, actor: str, target_type: str, target: str, role: str,
                    inherited: bool = False) -> None:
        """Grant role to a user or group on a project, a domain or the system (target "all");
        inherited: on every project below the target instead (OS-INHERIT). Admins only."""
        self.rt.identity.grant(await self._ictx(token), actor_type, actor, target_type, target, role, inherited)

    async def revoke_grant(self, token: str, actor_type: str, actor: str, target_type: str, target: str,
                           role: str, inherited: bool = False) -> None:
        self.rt.identity.revoke_grant(await self._ictx(token), actor_type, actor, target_type, target, role,
                                      inherited)

    async def check_grant(self, token: str, actor_type: str, actor: str, target_type: str, target: str,
                          role: str, inherited: bool = False) -> bool:
        return self.rt.identity.check_grant(await self._ictx(token), actor_type, actor, target_type, target,
                                            role, inherited)

    async def list_grants(self, token: str, actor_type: str, actor: str, target_type: str, target: str,
                          inherited: bool = False) -> list[dict]:
        """[{id, name, description}]: the roles granted (not implied) to the actor on the target."""
        return self.rt.identity.list_grants(await self._ictx(token), actor_type, actor, target_type, target,
                                            inherited)

    async def list_assignments(self, token: str, **filters) -> list[dict]:
        """[{role_id, role_name, user_id, group_id, project_id|domain_id|system, inherited}];
        filters: user, group, project, domain, system, role, effective, inherited, include_subtree."""
        return self.rt.identity.list_assignments(await self._ictx(token), **filters)

    async def auth_domains(self, token: str) -> list[dict]:
        """The enabled domains the token's user holds a role on."""
        ctx = await self._ictx(token)
        return self.rt.identity.auth_domains_for(ctx.user_id)

    # ---- implied roles -------------------------------------------------------------------
    async def create_implied_role(self, token: str, prior: str, implied: str) -> tuple[dict, dict]:
        return self.rt.identity.create_implied_role(await self._ictx(token), prior, implied)

    async def get_implied_role(self, token: str, prior: str, implied: str) -> tuple[dict, dict]:
        return self.rt.identity.get_implied_role(await self._ictx(token), prior, implied)

    async def delete_implied_role(self, token: str, prior: str, implied: str) -> None:
        self.rt.identity.delete_implied_role(await self._ictx(token), prior, implied)

    async def list_implied_roles(self, token: str, prior: str | None = None) -> list[dict]:
        return self.rt.identity.list_implied_roles(await self._ictx(token), prior)

    # ---- credentials ---------------------------------------------------------------------
    async def create_credential(self, token: str, user: str, type_: str, blob: str,
                                project: str | None = None) -> dict:
        return self.rt.identity.create_credential(await self._ictx(token), user, type_, blob, project)

    async def list_credentials(self, token: str, user: str | None = None, type_: str | None = None) -> list[dict]:
        return self.rt.identity.list_credentials(await self._ictx(token), user, type_)

    async def get_credential(self, token: str, credential: str) -> dict:
        return self.rt.identity.get_credential(await self._ictx(token), credential)

    async def update_credential(self, token: str, credential: str, **changes) -> dict:
        return self.rt.identity.update_credential(await self._ictx(token), credential, **changes)

    async def delete_credential(self, token: str, credential: str) -> None:
        self.rt.identity.delete_credential(await self._ictx(token), credential)

    # ---- application credentials -----------------------------------------------------------
    async def create_app_credential(self, token: str, user: str, name: str, secret: str | None = None,
                                    description: str | None = None, expires_at: str | None = None,
                                    roles: list[dict] | None = None, unrestricted: bool = False) -> dict:
        """The new credential with its secret (shown this once; only its bcrypt hash is kept)."""
        await self._ictx(token)
        return await self.rt.identity.create_app_credential(token, user, name, secret, description, expires_at,
                                                            roles, unrestricted)

    async def list_app_credentials(self, token: str, user: str, name: str | None = None) -> list[dict]:
        return self.rt.identity.list_app_credentials(await self._ictx(token), user, name)

    async def get_app_credential(self, token: str, user: str, credential: str) -> dict:
        return self.rt.identity.get_app_credential(await self._ictx(token), user, credential)

    async def delete_app_credential(self, token: str, user: str, credential: str) -> None:
        self.rt.identity.delete_app_credential(await self._ictx(token), user, credential)

    async def login_app_credential(self, secret: str, credential_id: str | None = None, name: str | None = None,
                                   user: str | None = None, user_domain: str = "Default") -> dict:
        """An application credential's id (or name and its user) and secret -> a token on its
        project carrying its roles (the token view of login)."""
        return await self.rt.identity.authenticate_app_credential(secret, credential_id, name, user, user_domain)

    # ---- domain-scoped tokens --------------------------------------------------------------
    async def login_domain(self, username: str, password: str, domain_scope: str, domain: str = "Default") -> dict:
        """Password -> a token scoped to a domain (id or name) the user holds a role on; its
        view has "domain": {id, name}."""
        return await self.rt.identity.authenticate_password(username, password, None, domain,
                                                            domain_scope=domain_scope)

    async def scope_domain(self, token: str, domain: str) -> dict:
        return self.rt.identity.authenticate_token(token, None, domain_scope=domain)

    # ---- OS-EC2 ------------------------------------------------------------------------------
    async def create_ec2_credential(self, token: str, user: str, project: str) -> dict:
        """{user_id, tenant_id, access, secret, trust_id}: a new EC2 key pair kept for user on project."""
        return self.rt.identity.create_ec2_credential(await self._ictx(token), user, project)

    async def list_ec2_credentials(self, token: str, user: str) -> list[dict]:
        return self.rt.identity.list_ec2_credentials(await self._ictx(token), user)

    async def get_ec2_credential(self, token: str, user: str, access: str) -> dict:
        return self.rt.identity.get_ec2_credential(await self._ictx(token), user, access)

    async def delete_ec2_credential(self, token: str, user: str, access: str) -> None:
        self.rt.identity.delete_ec2_credential(await self._ictx(token), user, access)
