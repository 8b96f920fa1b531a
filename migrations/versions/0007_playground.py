"""Playground: the try-it runs (who, which key, which operation, outcome and timing).

Revision ID: 0007_playground
Revises: 0006_usage
"""

from alembic import op

from aforo.rls import tenant_table_sql

revision = "0007_playground"
down_revision = "0006_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table playground_runs (
            tenant_id uuid not null references tenants(id),
            id uuid not null,
            user_id uuid not null,
            key_id uuid not null,
            subscription_id uuid,
            operation_id uuid not null,
            method varchar(16) not null,
            url varchar(2048) not null,
            status integer,
            error_code varchar(64),
            dns_ms double precision,
            connect_ms double precision,
            tls_ms double precision,
            ttfb_ms double precision,
            transfer_ms double precision,
            total_ms double precision not null,
            response_bytes integer,
            created_at timestamptz not null default now(),
            constraint pk_playground_runs primary key (tenant_id, id),
            constraint fk_playground_runs_user foreign key (tenant_id, user_id)
                references users (tenant_id, id),
            constraint fk_playground_runs_key foreign key (tenant_id, key_id)
                references api_keys (tenant_id, id),
            constraint fk_playground_runs_operation foreign key (tenant_id, operation_id)
                references spec_operations (tenant_id, id),
            constraint ck_playground_runs_outcome check (
                (status is null) <> (error_code is null)
            )
        )"""
    )
    # A developer's own runs, newest first; an admin's view of the whole tenant.
    op.execute(
        "create index ix_playground_runs_user on playground_runs "
        "(tenant_id, user_id, created_at desc, id desc)"
    )
    op.execute(
        "create index ix_playground_runs_created on playground_runs "
        "(tenant_id, created_at desc, id desc)"
    )
    for s in tenant_table_sql("playground_runs"):
        op.execute(s)


def downgrade() -> None:
    op.execute("drop table playground_runs")
