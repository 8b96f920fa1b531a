"""Foundation: tenants, storefront keys, accounts, refresh tokens, outbox; roles and RLS.

Revision ID: 0001_foundation
Revises:
"""

from alembic import op

from aforo.rls import APP_ROLE, CURRENT_TENANT, ops_function_sql, roles_sql, tenant_table_sql

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def _exec(statements: list[str]) -> None:
    for s in statements:
        op.execute(s)


def upgrade() -> None:
    _exec(roles_sql())
    op.execute("create extension if not exists pg_trgm")
    op.execute(
        """
        create table tenants (
            id uuid primary key default gen_random_uuid(),
            name varchar(200) not null,
            slug varchar(63) not null constraint uq_tenants_slug unique,
            created_at timestamptz not null default now()
        )"""
    )
    # A tenant sees its own row only. Not forced: the owner (CLI) lists and creates tenants.
    _exec(
        [
            "alter table tenants enable row level security",
            f"create policy tenant_isolation on tenants using (id = {CURRENT_TENANT})",
            f"grant select on tenants to {APP_ROLE}",
        ]
    )
    op.execute(
        """
        create table storefront_keys (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            name varchar(200) not null,
            key_hash bytea not null,
            prefix varchar(16) not null,
            last4 varchar(4) not null,
            created_at timestamptz not null default now(),
            revoked_at timestamptz,
            constraint pk_storefront_keys primary key (tenant_id, id)
        )"""
    )
    op.execute("create unique index ix_storefront_keys_key_hash on storefront_keys (key_hash)")
    _exec(tenant_table_sql("storefront_keys"))

    op.execute(
        """
        create table users (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            email varchar(320) not null,
            name varchar(200) not null,
            password_hash varchar(200) not null,
            roles varchar(20)[] not null default '{DEVELOPER}',
            created_at timestamptz not null default now(),
            constraint pk_users primary key (tenant_id, id),
            constraint uq_users_tenant_id_email unique (tenant_id, email)
        )"""
    )
    _exec(tenant_table_sql("users"))

    op.execute(
        """
        create table refresh_tokens (
            tenant_id uuid not null,
            id uuid not null default gen_random_uuid(),
            user_id uuid not null,
            family_id uuid not null,
            token_hash bytea not null,
            created_at timestamptz not null default now(),
            expires_at timestamptz not null,
            used_at timestamptz,
            revoked_at timestamptz,
            constraint pk_refresh_tokens primary key (tenant_id, id),
            constraint fk_refresh_tokens_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id) on delete cascade
        )"""
    )
    op.execute("create index ix_refresh_tokens_hash on refresh_tokens (tenant_id, token_hash)")
    op.execute("create index ix_refresh_tokens_family on refresh_tokens (tenant_id, family_id)")
    _exec(tenant_table_sql("refresh_tokens"))

    op.execute(
        """
        create table outbox (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            seq bigint generated always as identity constraint uq_outbox_seq unique,
            topic varchar(120) not null,
            type varchar(120) not null,
            payload jsonb not null,
            created_at timestamptz not null default now(),
            published_at timestamptz,
            constraint pk_outbox primary key (tenant_id, id)
        )"""
    )
    op.execute("create index ix_outbox_pending on outbox (seq) where published_at is null")
    _exec(tenant_table_sql("outbox"))

    # Cross-tenant lookups, before a tenant is known. Each returns the minimum it must.
    _exec(
        ops_function_sql(
            "storefront_key_tenant(bytea)",
            """
            create function ops.storefront_key_tenant(p_hash bytea)
            returns table (tenant_id uuid, revoked boolean)
            language sql stable security definer set search_path = public, pg_temp as $$
              select k.tenant_id, k.revoked_at is not null
              from storefront_keys k where k.key_hash = p_hash
            $$""",
        )
    )
    op.execute("grant select on tenants to aforo_ops")
    # The relay claims pending events of every tenant; the rows stay locked until it commits.
    _exec(
        ops_function_sql(
            "outbox_claim(integer)",
            """
            create function ops.outbox_claim(p_limit integer)
            returns setof outbox
            language sql volatile security definer set search_path = public, pg_temp as $$
              select * from outbox where published_at is null
              order by seq limit p_limit for update skip locked
            $$""",
        )
    )
    _exec(
        ops_function_sql(
            "outbox_mark_published(bigint[])",
            """
            create function ops.outbox_mark_published(p_seqs bigint[])
            returns integer
            language sql volatile security definer set search_path = public, pg_temp as $$
              with done as (
                update outbox set published_at = now()
                where seq = any(p_seqs) and published_at is null returning 1
              ) select count(*)::integer from done
            $$""",
        )
    )
    # /readyz compares the applied revision with the code's head.
    op.execute(f"grant select on alembic_version to {APP_ROLE}")


def downgrade() -> None:
    op.execute("drop schema ops cascade")
    for t in ("outbox", "refresh_tokens", "users", "storefront_keys", "tenants"):
        op.execute(f"drop table {t}")
