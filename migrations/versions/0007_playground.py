"""Playground: try-it runs, tenant outbound allow-list.

Revision ID: 0007_playground
Revises: 0006_usage
"""

from alembic import op  # noqa: F401

revision = "0007_playground"
down_revision = "0006_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
