"""Community forum: categories, threads, replies, votes, reports, profiles.

Revision ID: 0005_forum
Revises: 0004_docs_specs
"""

from alembic import op  # noqa: F401

revision = "0005_forum"
down_revision = "0004_docs_specs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
