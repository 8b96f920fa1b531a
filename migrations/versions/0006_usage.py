"""Usage: partitioned events, rollups, dead letters, uploads.

Revision ID: 0006_usage
Revises: 0005_forum
"""

from alembic import op  # noqa: F401

revision = "0006_usage"
down_revision = "0005_forum"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
