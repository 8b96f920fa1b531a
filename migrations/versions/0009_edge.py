"""Edge: web origins a tenant allows (optionally narrowed per storefront key), trusted
documents and the tenant's edge settings, and the audit trail of those settings.

Revision ID: 0009_edge
Revises: 0008_security
"""

from alembic import op

from aforo.rls import ops_function_sql, tenant_table_sql

revision = "0009_edge"
down_revision = "0008_security"
branch_labels = None
depends_on = None

TABLES = ("tenant_setting_events", "trusted_documents", "allowed_origins", "edge_settings")


def upgrade() -> None:
    # One row per allowed origin, parsed: scheme, host (the domain after "*." for a wildcard)
    # and port, so "is this origin allowed" is an equality lookup, never a pattern scan.
    op.execute(
        """
        create table allowed_origins (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            storefront_key_id uuid,
            origin varchar(300) not null,
            scheme varchar(5) not null,
            host varchar(253) not null,
            port integer not null,
            wildcard boolean not null,
            created_at timestamptz not null default now(),
            constraint pk_allowed_origins primary key (tenant_id, id),
            constraint fk_allowed_origins_key foreign key (tenant_id, storefront_key_id)
                references storefront_keys (tenant_id, id),
            constraint ck_allowed_origins_scheme check (scheme in ('http', 'https'))
        )"""
    )
    op.execute(
        "create unique index uq_allowed_origins on allowed_origins "
        "(tenant_id, coalesce(storefront_key_id, '00000000-0000-0000-0000-000000000000'), origin)"
    )
    # The preflight lookup across tenants: by host, then scheme and port.
    op.execute(
        "create index ix_allowed_origins_host on allowed_origins (host, scheme, port) "
        "where storefront_key_id is null"
    )
    op.execute(
        """
        create table edge_settings (
            tenant_id uuid not null references tenants(id),
            trusted_documents_only boolean not null default false,
            updated_at timestamptz not null default now(),
            constraint pk_edge_settings primary key (tenant_id)
        )"""
    )
    op.execute(
        """
        create table trusted_documents (
            tenant_id uuid not null references tenants(id),
            sha256 varchar(64) not null,
            body text not null,
            name varchar(200),
            created_at timestamptz not null default now(),
            constraint pk_trusted_documents primary key (tenant_id, sha256)
        )"""
    )
    op.execute(
        """
        create table tenant_setting_events (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            actor_id uuid,
            setting varchar(40) not null,
            action varchar(40) not null,
            detail jsonb not null default '{}',
            created_at timestamptz not null default now(),
            constraint pk_tenant_setting_events primary key (tenant_id, id),
            constraint fk_tenant_setting_events_actor foreign key (tenant_id, actor_id)
                references users (tenant_id, id)
        )"""
    )
    op.execute(
        "create index ix_tenant_setting_events_created on tenant_setting_events "
        "(tenant_id, created_at desc, id desc)"
    )
    for table in TABLES:
        for s in tenant_table_sql(table):
            op.execute(s)
    # A browser's preflight carries no credential: is the origin allowed by any tenant?
    # Answers a boolean only, never which tenant.
    for s in ops_function_sql(
        "origin_allowed_anywhere(text, text, integer, text[])",
        """
        create function ops.origin_allowed_anywhere(
            p_scheme text, p_host text, p_port integer, p_parents text[]
        ) returns boolean
        language sql stable security definer set search_path = public, pg_temp as $$
          select exists (
            select 1 from allowed_origins o
            where o.storefront_key_id is null and o.scheme = p_scheme and o.port = p_port
              and (
                (not o.wildcard and o.host = p_host) or (o.wildcard and o.host = any(p_parents))
              )
          )
        $$""",
    ):
        op.execute(s)


def downgrade() -> None:
    op.execute("drop function ops.origin_allowed_anywhere(text, text, integer, text[])")
    for table in TABLES:
        op.execute(f"drop table {table}")
