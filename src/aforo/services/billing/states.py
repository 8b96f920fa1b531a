"""Names shared by the billing modules: the events topic and the states of each thing."""

from __future__ import annotations

TOPIC = "aforo.billing.events"
INTERVALS = ("MONTH", "YEAR")
ACTIVE, CANCELLED = "ACTIVE", "CANCELLED"  # subscriptions
OPEN, CLOSED = "OPEN", "CLOSED"  # billing periods
DRAFT, FINALIZED, PAID, VOID = "DRAFT", "FINALIZED", "PAID", "VOID"  # invoices
INVOICE_STATUSES = (DRAFT, FINALIZED, PAID, VOID)
FIXED_FEE, USAGE, ADJUSTMENT = "FIXED_FEE", "USAGE", "ADJUSTMENT"  # invoice lines
