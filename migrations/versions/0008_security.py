"""Security at the boundary: removed accounts, and a cheap read of a user's ended sessions.

A removed account keeps its row (its posts, keys and audit records point at it) and can no
longer sign in; every request with one of its tokens is refused. The index serves the per-user
"standing" read behind current authorization: the sessions (refresh-token families) a user
ended recently.

Revision ID: 0008_security
Revises: 0007_playground
"""

from alembic import op

revision = "0008_security"
down_revision = "0007_playground"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table users add column removed_at timestamptz")
    op.execute(
        "create index ix_refresh_tokens_user_revoked on refresh_tokens "
        "(tenant_id, user_id, revoked_at) where revoked_at is not null"
    )


def downgrade() -> None:
    op.execute("drop index ix_refresh_tokens_user_revoked")
    op.execute("alter table users drop column removed_at")
