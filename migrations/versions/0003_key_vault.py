"""Key vault: products, plans, subscriptions, API keys, bindings, audit.

Revision ID: 0003_key_vault
Revises: 0002_gateway_tokens
"""

from alembic import op  # noqa: F401

revision = "0003_key_vault"
down_revision = "0002_gateway_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
