"""SQLAlchemy tables, one module per domain. Importing this package registers them all."""

from aforo.models import accounts, gateway_tokens, outbox, tenants

__all__ = ["accounts", "gateway_tokens", "outbox", "tenants"]
