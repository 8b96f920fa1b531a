"""GraphQL types of the tenant's edge settings: allowed origins, trusted documents, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from aforo.models import edge as m
from aforo.schema.base import UserError


@strawberry.type(
    description="A web origin allowed to call the tenant from a browser (CORS and WebSocket "
    "origin checks): exact, or a wildcard on the leftmost label such as https://*.example.com."
)
class AllowedOrigin:
    id: strawberry.ID
    origin: str
    storefront_key_id: strawberry.ID | None = strawberry.field(
        description="Set: this entry narrows one storefront key (the key is usable only from "
        "origins on both the tenant's list and its own). Null: the tenant's list."
    )
    created_at: datetime

    @classmethod
    def of(cls, o: m.AllowedOrigin) -> AllowedOrigin:
        key = o.storefront_key_id
        return cls(
            id=strawberry.ID(str(o.id)),
            origin=o.origin,
            storefront_key_id=strawberry.ID(str(key)) if key else None,
            created_at=o.created_at,
        )


@strawberry.type(description="A GraphQL document registered by an admin, by its SHA-256.")
class TrustedDocument:
    sha256: str
    body: str
    created_at: datetime

    @classmethod
    def of(cls, d: m.TrustedDocument) -> TrustedDocument:
        return cls(sha256=d.sha256, body=d.body, created_at=d.created_at)


@strawberry.type
class EdgeSettings:
    trusted_documents_only: bool = strawberry.field(
        description="When true, only registered documents run (sent by hash, Apollo's "
        "persisted-query protocol); staff signed in as ADMIN or MODERATOR are exempt."
    )

    @classmethod
    def of(cls, s: m.EdgeSettings) -> EdgeSettings:
        return cls(trusted_documents_only=bool(s.trusted_documents_only))


@strawberry.type(description="One change to a tenant setting: who, when, what.")
class TenantSettingEvent:
    id: strawberry.ID
    setting: str = strawberry.field(description="allowed_origins or trusted_documents")
    action: str = strawberry.field(description="added, removed, enabled, disabled, registered")
    actor_id: strawberry.ID | None
    detail: JSON
    occurred_at: datetime

    @classmethod
    def of(cls, e: m.TenantSettingEvent) -> TenantSettingEvent:
        return cls(
            id=strawberry.ID(str(e.id)),
            setting=e.setting,
            action=e.action,
            actor_id=strawberry.ID(str(e.actor_id)) if e.actor_id else None,
            detail=JSON(e.detail),
            occurred_at=e.created_at,
        )


@strawberry.type
class TrustedDocumentsRegistered:
    documents: list[TrustedDocument]


AllowedOriginResult = Annotated[AllowedOrigin | UserError, strawberry.union("AllowedOriginResult")]
EdgeSettingsResult = Annotated[EdgeSettings | UserError, strawberry.union("EdgeSettingsResult")]
TrustedDocumentsResult = Annotated[
    TrustedDocumentsRegistered | UserError, strawberry.union("TrustedDocumentsResult")
]
TrustedDocumentResult = Annotated[
    TrustedDocument | UserError, strawberry.union("TrustedDocumentResult")
]
