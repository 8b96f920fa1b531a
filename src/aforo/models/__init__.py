"""SQLAlchemy tables, one module per domain. Importing this package registers them all."""

from aforo.models import accounts, api_keys, billing, gateway_tokens, outbox, tenants, usage

__all__ = ["accounts", "billing", "gateway_tokens", "outbox", "tenants"]
