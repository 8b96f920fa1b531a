"""SQLAlchemy tables, one module per domain. Importing this package registers them all."""

from aforo.models import accounts, outbox, tenants

__all__ = ["accounts", "outbox", "tenants"]
