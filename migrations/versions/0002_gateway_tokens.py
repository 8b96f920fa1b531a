"""Gateway tokens: the per-tenant credential gateways use to verify keys and post usage.

Revision ID: 0002_gateway_tokens
Revises: 0001_foundation
"""

from alembic import op

from aforo.rls import ops_function_sql, tenant_table_sql

revision = "0002_gateway_tokens"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table gateway_tokens (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            name varchar(200) not null,
            token_hash bytea not null constraint uq_gateway_tokens_token_hash unique,
            prefix varchar(16) not null,
            last4 varchar(4) not null,
            created_at timestamptz not null default now(),
            last_used_at timestamptz,
            revoked_at timestamptz,
            constraint pk_gateway_tokens primary key (tenant_id, id)
        )"""
    )
    for s in tenant_table_sql("gateway_tokens"):
        op.execute(s)
    for s in ops_function_sql(
        "gateway_token_tenant(bytea)",
        """
        create function ops.gateway_token_tenant(p_hash bytea)
        returns table (tenant_id uuid, token_id uuid, revoked boolean)
        language sql stable security definer set search_path = public, pg_temp as $$
          select t.tenant_id, t.id, t.revoked_at is not null
          from gateway_tokens t where t.token_hash = p_hash
        $$""",
    ):
        op.execute(s)


def downgrade() -> None:
    op.execute("drop function ops.gateway_token_tenant(bytea)")
    op.execute("drop table gateway_tokens")
