from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    DEVELOPER = "DEVELOPER"
    MODERATOR = "MODERATOR"
    ADMIN = "ADMIN"


class PrincipalKind(StrEnum):
    ANONYMOUS = "anonymous"  # a storefront SDK: public reads, sign-up, log-in
    USER = "user"  # a signed-in account (JWT)
    GATEWAY = "gateway"  # a gateway / ingestion token


STAFF_ROLES = frozenset({Role.ADMIN, Role.MODERATOR})


@dataclass(frozen=True)
class TenantContext:
    """The caller of one request, resolved once from its credentials."""

    tenant_id: uuid.UUID
    kind: PrincipalKind
    user_id: uuid.UUID | None = None
    roles: frozenset[Role] = frozenset()
    session_id: uuid.UUID | None = None  # the refresh-token family of a signed-in user
    credential_id: uuid.UUID | None = None  # the gateway token a gateway caller used
    expires_at: float | None = None  # when the access token ends (epoch seconds)
    # The session signed in without the second factor the tenant requires of staff: its
    # tokens carry no staff role, whatever the account's roles are now.
    staff_withheld: bool = False

    def current_roles(self, roles: frozenset[Role]) -> frozenset[Role]:
        """The account's roles now, as far as this session may carry them."""
        if not self.staff_withheld:
            return roles
        return (roles - STAFF_ROLES) or frozenset({Role.DEVELOPER})

    def has(self, role: Role) -> bool:
        return role in self.roles or Role.ADMIN in self.roles

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & {Role.ADMIN, Role.MODERATOR})
