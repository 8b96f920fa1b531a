"""Docs and specs: page tree, versions, spec versions, operations.

Revision ID: 0004_docs_specs
Revises: 0003_key_vault
"""

from alembic import op  # noqa: F401

revision = "0004_docs_specs"
down_revision = "0003_key_vault"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
