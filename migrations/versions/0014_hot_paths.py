"""Hot paths: the shared cache of several worker processes.

``shared_cache``: what the worker processes of one machine share when Redis is not
configured. An UNLOGGED table (no write-ahead log: an entry is a cache, lost with a crash)
used as a key/value store with expiry, as Redis would be: try-it rate counters and run logs
today. Keys carry the tenant id, as Redis keys do.

Nothing else references it, so its place in the chain does not matter.

Revision ID: 0014_hot_paths
Revises: 0013_accounts_teams
"""

from alembic import op

from aforo.rls import APP_ROLE

revision = "0014_hot_paths"
down_revision = "0013_accounts_teams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create unlogged table shared_cache (
            key text not null,
            value bytea,
            counter bigint not null default 0,
            expires_at timestamptz not null,
            constraint pk_shared_cache primary key (key)
        )"""
    )
    op.execute("create index ix_shared_cache_expires_at on shared_cache (expires_at)")
    op.execute(f"grant select, insert, update, delete on shared_cache to {APP_ROLE}")


def downgrade() -> None:
    op.execute("drop table shared_cache")
