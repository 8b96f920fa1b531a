"""Key vault: products, plans, subscriptions, API keys, bindings, audit.

Revision ID: 0003_key_vault
Revises: 0002_gateway_tokens
"""

from alembic import op

from aforo.rls import tenant_table_sql

revision = "0003_key_vault"
down_revision = "0002_gateway_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table products (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            name varchar(200) not null,
            slug varchar(63) not null,
            description text not null default '',
            created_at timestamptz not null default now(),
            constraint pk_products primary key (tenant_id, id),
            constraint uq_products_tenant_id_slug unique (tenant_id, slug)
        )"""
    )
    for s in tenant_table_sql("products"):
        op.execute(s)


def downgrade() -> None:
    op.execute("drop table products")
