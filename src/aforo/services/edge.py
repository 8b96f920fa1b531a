"""Edge settings of a tenant: the web origins allowed to call it (exact or ``*.`` wildcards,
optionally narrowed per storefront key), trusted documents, and the audit of every change.

Origins are parsed once, when saved, into (scheme, host, port, wildcard); a request's
``Origin`` is matched against them with equality only.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from graphql import GraphQLSyntaxError, parse
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import Conflict, NotFound, ValidationFailed
from aforo.models.edge import AllowedOrigin, EdgeSettings, TenantSettingEvent, TrustedDocument
from aforo.models.tenants import StorefrontKey
from aforo.tenancy import ops

MAX_ORIGINS = 100
MAX_DOCUMENTS = 500  # registered in one call
MAX_DOCUMENT_BYTES = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
ORIGINS = "allowed_origins"
TRUSTED = "trusted_documents"


@dataclass(frozen=True)
class Origin:
    """A concrete web origin, as browsers send it in ``Origin``."""

    scheme: str
    host: str
    port: int

    @property
    def parents(self) -> list[str]:
        """Parent domains a ``*.`` entry covering this host would be stored under."""
        labels = self.host.split(".")
        return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


@dataclass(frozen=True)
class OriginPattern:
    scheme: str
    host: str  # for a wildcard: the domain after "*."
    port: int
    wildcard: bool = False

    def matches(self, o: Origin) -> bool:
        if o.scheme != self.scheme or o.port != self.port:
            return False
        if self.wildcard:
            return o.host.endswith("." + self.host)
        return o.host == self.host

    @property
    def text(self) -> str:
        host = f"*.{self.host}" if self.wildcard else self.host
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def _split(value: str) -> tuple[str, str, int] | None:
    """(scheme, lower-case ASCII host, port) of ``scheme://host[:port]``; None when the text
    is anything else (a path, a query, user info, another scheme)."""
    if not value or len(value) > 300 or any(c.isspace() or ord(c) < 32 for c in value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or "?" in value or "#" in value or parts.username:
        return None
    host = parts.hostname or ""
    if not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return parts.scheme, host.lower(), port or DEFAULT_PORTS[parts.scheme]


def _valid_host(host: str) -> bool:
    if host.startswith("[") or ":" in host:  # IPv6 literal (urlsplit strips the brackets)
        try:
            ipaddress.IPv6Address(host.strip("[]"))
            return True
        except ValueError:
            return False
    return all(_LABEL.match(label) for label in host.split("."))


def parse_origin(value: str | None) -> Origin | None:
    """A request's ``Origin`` header, or None when absent, ``null`` or malformed."""
    if not value or value == "null":
        return None
    split = _split(value)
    if split is None or not _valid_host(split[1]):
        return None
    return Origin(*split)


def parse_pattern(value: str, field: str = "origin") -> OriginPattern:
    """An allowed-origin entry as an admin types it; a clear error otherwise."""
    value = value.strip()
    wildcard = "://*." in value
    split = _split(value.replace("://*.", "://", 1) if wildcard else value)
    if split is None:
        raise ValidationFailed(
            "an origin is scheme://host[:port] (http or https), with no path, query or "
            "credentials; e.g. https://app.example.com or https://*.example.com",
            field=field,
        )
    scheme, host, port = split
    if "*" in host:
        raise ValidationFailed("a wildcard may only be the leftmost label: *.", field=field)
    if not _valid_host(host):
        raise ValidationFailed(f"{host!r} is not a valid host name", field=field)
    if wildcard:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            pass
        else:
            raise ValidationFailed("a wildcard needs a domain name, not an address", field=field)
        if host.count(".") < 1:
            raise ValidationFailed(
                "a wildcard must name a registrable domain: *.example.com, not *.com",
                field=field,
            )
    return OriginPattern(scheme, host, port, wildcard)


@dataclass(frozen=True)
class EdgePolicy:
    """What the edge needs of one tenant on every browser request (cached per tenant)."""

    origins: tuple[OriginPattern, ...] = ()
    # Narrowing per storefront key, by the hex SHA-256 of the key.
    key_origins: dict[str, tuple[OriginPattern, ...]] = field(default_factory=dict)
    trusted_documents_only: bool = False

    def allows(self, origin: Origin, storefront_key_hash: str | None = None) -> bool:
        if not any(p.matches(origin) for p in self.origins):
            return False
        narrowed = self.key_origins.get(storefront_key_hash or "")
        return narrowed is None or any(p.matches(origin) for p in narrowed)

    def to_json(self) -> dict[str, Any]:
        def dump(ps: tuple[OriginPattern, ...]) -> list[list[Any]]:
            return [[p.scheme, p.host, p.port, p.wildcard] for p in ps]

        return {
            "o": dump(self.origins),
            "k": {k: dump(v) for k, v in self.key_origins.items()},
            "t": self.trusted_documents_only,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EdgePolicy:
        def load(rows: list[list[Any]]) -> tuple[OriginPattern, ...]:
            return tuple(OriginPattern(str(s), str(h), int(p), bool(w)) for s, h, p, w in rows)

        return cls(load(d["o"]), {k: load(v) for k, v in d["k"].items()}, bool(d["t"]))


async def load_policy(session: AsyncSession) -> EdgePolicy:
    rows = (
        await session.execute(
            select(AllowedOrigin, StorefrontKey.key_hash).outerjoin(
                StorefrontKey,
                (StorefrontKey.tenant_id == AllowedOrigin.tenant_id)
                & (StorefrontKey.id == AllowedOrigin.storefront_key_id),
            )
        )
    ).all()
    tenant: list[OriginPattern] = []
    keys: dict[str, list[OriginPattern]] = {}
    for o, key_hash in rows:
        p = OriginPattern(o.scheme, o.host, o.port, o.wildcard)
        if o.storefront_key_id is None:
            tenant.append(p)
        else:
            keys.setdefault(bytes(key_hash).hex(), []).append(p)
    trusted = bool(await session.scalar(select(EdgeSettings.trusted_documents_only)))
    return EdgePolicy(tuple(tenant), {k: tuple(v) for k, v in keys.items()}, trusted)


async def origin_allowed_anywhere(session: AsyncSession, origin: Origin) -> bool:
    return await ops.origin_allowed_anywhere(
        session, origin.scheme, origin.host, origin.port, origin.parents
    )


# -- admin changes, each audited -------------------------------------------------------------
async def _audit(
    session: AsyncSession,
    setting: str,
    action: str,
    actor_id: uuid.UUID | None,
    detail: dict[str, Any],
) -> None:
    session.add(
        TenantSettingEvent(
            tenant_id=session.info["tenant_id"],
            setting=setting,
            action=action,
            actor_id=actor_id,
            detail=detail,
        )
    )


async def list_origins(session: AsyncSession) -> list[AllowedOrigin]:
    return list(
        await session.scalars(
            select(AllowedOrigin).order_by(
                AllowedOrigin.storefront_key_id.nulls_first(), AllowedOrigin.origin
            )
        )
    )


async def add_origin(
    session: AsyncSession,
    origin: str,
    *,
    storefront_key_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> AllowedOrigin:
    pattern = parse_pattern(origin)
    if storefront_key_id is not None:
        key = await session.scalar(
            select(StorefrontKey).where(
                StorefrontKey.id == storefront_key_id, StorefrontKey.revoked_at.is_(None)
            )
        )
        if key is None:
            raise NotFound("no active storefront key with that id", field="storefrontKeyId")
    same_scope = (
        AllowedOrigin.storefront_key_id.is_(None)
        if storefront_key_id is None
        else AllowedOrigin.storefront_key_id == storefront_key_id
    )
    count = await session.scalar(select(func.count()).where(same_scope))
    if (count or 0) >= MAX_ORIGINS:
        raise ValidationFailed(f"at most {MAX_ORIGINS} origins per list", field="origin")
    row = await session.scalar(
        insert(AllowedOrigin)
        .values(
            tenant_id=session.info["tenant_id"],
            storefront_key_id=storefront_key_id,
            origin=pattern.text,
            scheme=pattern.scheme,
            host=pattern.host,
            port=pattern.port,
            wildcard=pattern.wildcard,
        )
        .on_conflict_do_nothing()
        .returning(AllowedOrigin)
    )
    if row is None:
        raise Conflict(f"{pattern.text} is already allowed", field="origin")
    assert isinstance(row, AllowedOrigin)
    detail: dict[str, Any] = {"origin": pattern.text}
    if storefront_key_id is not None:
        detail["storefrontKeyId"] = str(storefront_key_id)
    await _audit(session, ORIGINS, "added", actor_id, detail)
    return row


async def remove_origin(
    session: AsyncSession, origin_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
) -> AllowedOrigin:
    row = await session.scalar(
        delete(AllowedOrigin).where(AllowedOrigin.id == origin_id).returning(AllowedOrigin)
    )
    if not isinstance(row, AllowedOrigin):
        raise NotFound("no allowed origin with that id", field="id")
    detail: dict[str, Any] = {"origin": row.origin}
    if row.storefront_key_id is not None:
        detail["storefrontKeyId"] = str(row.storefront_key_id)
    await _audit(session, ORIGINS, "removed", actor_id, detail)
    return row


async def settings(session: AsyncSession) -> EdgeSettings:
    found = await session.scalar(select(EdgeSettings))
    return found or EdgeSettings(tenant_id=session.info["tenant_id"], trusted_documents_only=False)


async def set_trusted_documents_only(
    session: AsyncSession, enabled: bool, *, actor_id: uuid.UUID | None = None
) -> EdgeSettings:
    row = await session.scalar(
        insert(EdgeSettings)
        .values(tenant_id=session.info["tenant_id"], trusted_documents_only=enabled)
        .on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={"trusted_documents_only": enabled, "updated_at": func.now()},
        )
        .returning(EdgeSettings)
    )
    assert isinstance(row, EdgeSettings)
    await _audit(session, TRUSTED, "enabled" if enabled else "disabled", actor_id, {})
    return row


def document_hash(body: str) -> str:
    """The hash Apollo's persisted queries and trusted documents use: SHA-256 of the text."""
    return hashlib.sha256(body.encode()).hexdigest()


def check_document(body: str, field: str) -> None:
    if len(body.encode()) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed(f"a document is at most {MAX_DOCUMENT_BYTES} bytes", field=field)
    try:
        parse(body, no_location=True, max_tokens=5000)
    except GraphQLSyntaxError as e:
        raise ValidationFailed(f"not a GraphQL document: {e.message}", field=field) from e


async def register_documents(
    session: AsyncSession, bodies: list[str], *, actor_id: uuid.UUID | None = None
) -> list[TrustedDocument]:
    if not 1 <= len(bodies) <= MAX_DOCUMENTS:
        raise ValidationFailed(f"register 1 to {MAX_DOCUMENTS} documents", field="documents")
    for i, body in enumerate(bodies):
        check_document(body, f"documents.{i}")
    values = {document_hash(b): b for b in bodies}
    tenant_id = session.info["tenant_id"]
    await session.execute(
        insert(TrustedDocument)
        .values([{"tenant_id": tenant_id, "sha256": h, "body": b} for h, b in values.items()])
        .on_conflict_do_nothing()
    )
    await _audit(session, TRUSTED, "registered", actor_id, {"sha256": sorted(values)})
    rows = await session.scalars(
        select(TrustedDocument).where(TrustedDocument.sha256.in_(list(values)))
    )
    by_hash = {d.sha256: d for d in rows}
    return [by_hash[document_hash(b)] for b in bodies]


async def remove_document(
    session: AsyncSession, sha256_hex: str, *, actor_id: uuid.UUID | None = None
) -> TrustedDocument:
    row = await session.scalar(
        delete(TrustedDocument)
        .where(TrustedDocument.sha256 == sha256_hex.lower())
        .returning(TrustedDocument)
    )
    if not isinstance(row, TrustedDocument):
        raise NotFound("no trusted document with that hash", field="sha256")
    await _audit(session, TRUSTED, "removed", actor_id, {"sha256": [row.sha256]})
    return row


async def list_documents(session: AsyncSession, limit: int) -> list[TrustedDocument]:
    return list(
        await session.scalars(
            select(TrustedDocument).order_by(TrustedDocument.created_at.desc()).limit(limit)
        )
    )


async def trusted_document(session: AsyncSession, sha256_hex: str) -> str | None:
    body: str | None = await session.scalar(
        select(TrustedDocument.body).where(TrustedDocument.sha256 == sha256_hex)
    )
    return body


async def setting_events(session: AsyncSession, limit: int) -> list[TenantSettingEvent]:
    return list(
        await session.scalars(
            select(TenantSettingEvent)
            .order_by(TenantSettingEvent.created_at.desc(), TenantSettingEvent.id.desc())
            .limit(limit)
        )
    )
