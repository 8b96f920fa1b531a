"""SQLAlchemy tables, one module per domain. Importing this package registers them all."""

from aforo.models import (
    accounts,
    api_keys,
    billing,
    docs,
    edge,
    forum,
    gateway_tokens,
    moderation,
    outbox,
    playground,
    specs,
    tenants,
    usage,
)

__all__ = [
    "accounts",
    "api_keys",
    "billing",
    "docs",
    "edge",
    "forum",
    "gateway_tokens",
    "moderation",
    "outbox",
    "playground",
    "specs",
    "tenants",
    "usage",
]
