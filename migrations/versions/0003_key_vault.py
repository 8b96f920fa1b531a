"""Key vault: products, plans, subscriptions, API keys, bindings, audit.

Revision ID: 0003_key_vault
Revises: 0002_gateway_tokens
"""

from alembic import op

from aforo.rls import ops_function_sql, tenant_table_sql

revision = "0003_key_vault"
down_revision = "0002_gateway_tokens"
branch_labels = None
depends_on = None


def _exec(statements: list[str]) -> None:
    for s in statements:
        op.execute(s)


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
    _exec(tenant_table_sql("products"))

    op.execute(
        """
        create table plans (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            product_id uuid not null,
            name varchar(200) not null,
            slug varchar(63) not null,
            price_cents bigint not null constraint ck_plans_price check (price_cents >= 0),
            currency char(3) not null,
            interval varchar(10) not null
                constraint ck_plans_interval check (interval in ('MONTH', 'YEAR')),
            monthly_quota bigint constraint ck_plans_quota check (monthly_quota > 0),
            rate_limit_per_minute integer constraint ck_plans_rate check (rate_limit_per_minute > 0),
            hard_quota boolean not null default false,
            created_at timestamptz not null default now(),
            archived_at timestamptz,
            constraint pk_plans primary key (tenant_id, id),
            constraint uq_plans_tenant_id_product_id_slug unique (tenant_id, product_id, slug),
            constraint fk_plans_tenant_id_product_id_products
                foreign key (tenant_id, product_id) references products (tenant_id, id)
        )"""
    )
    _exec(tenant_table_sql("plans"))

    op.execute(
        """
        create table subscriptions (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            user_id uuid not null,
            plan_id uuid not null,
            status varchar(12) not null default 'ACTIVE'
                constraint ck_subscriptions_status check (status in ('ACTIVE', 'CANCELLED')),
            created_at timestamptz not null default now(),
            cancelled_at timestamptz,
            constraint pk_subscriptions primary key (tenant_id, id),
            constraint fk_subscriptions_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id),
            constraint fk_subscriptions_tenant_id_plan_id_plans
                foreign key (tenant_id, plan_id) references plans (tenant_id, id)
        )"""
    )
    op.execute("create index ix_subscriptions_user on subscriptions (tenant_id, user_id)")
    # One active subscription per developer and plan; a cancelled one can be taken again.
    op.execute(
        "create unique index uq_subscriptions_active on subscriptions (tenant_id, user_id, plan_id)"
        " where status = 'ACTIVE'"
    )
    _exec(tenant_table_sql("subscriptions"))

    op.execute(
        """
        create table api_keys (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            user_id uuid not null,
            name varchar(200) not null,
            format varchar(20) not null
                constraint ck_api_keys_format check (format in ('BEARER_TOKEN', 'CLIENT_CREDENTIALS')),
            client_id varchar(64),
            key_hash bytea not null,
            prefix varchar(16) not null,
            last4 varchar(4) not null,
            created_at timestamptz not null default now(),
            last_used_at timestamptz,
            expires_at timestamptz,
            revoked_at timestamptz,
            rotated_at timestamptz,
            replaced_by_id uuid,
            constraint pk_api_keys primary key (tenant_id, id),
            constraint fk_api_keys_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id)
        )"""
    )
    # The hash is looked up before the tenant is known (ops.api_key_state), like gateway tokens.
    op.execute("create unique index uq_api_keys_key_hash on api_keys (key_hash)")
    op.execute("create index ix_api_keys_user on api_keys (tenant_id, user_id, created_at)")
    op.execute(
        "create unique index uq_api_keys_client_id on api_keys (tenant_id, client_id)"
        " where client_id is not null and rotated_at is null"
    )
    _exec(tenant_table_sql("api_keys"))

    op.execute(
        """
        create table key_subscription_bindings (
            tenant_id uuid not null references tenants(id),
            key_id uuid not null,
            subscription_id uuid not null,
            created_at timestamptz not null default now(),
            constraint pk_key_subscription_bindings primary key (tenant_id, key_id, subscription_id),
            constraint fk_key_subscription_bindings_tenant_id_key_id_api_keys
                foreign key (tenant_id, key_id) references api_keys (tenant_id, id),
            constraint fk_key_subscription_bindings_tenant_id_subscription_id_subscriptions
                foreign key (tenant_id, subscription_id) references subscriptions (tenant_id, id)
        )"""
    )
    op.execute(
        "create index ix_key_subscription_bindings_sub"
        " on key_subscription_bindings (tenant_id, subscription_id)"
    )
    _exec(tenant_table_sql("key_subscription_bindings"))

    op.execute(
        """
        create table api_key_events (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            key_id uuid not null,
            type varchar(40) not null,
            actor_id uuid,
            detail jsonb not null default '{}',
            created_at timestamptz not null default now(),
            constraint pk_api_key_events primary key (tenant_id, id),
            constraint fk_api_key_events_tenant_id_key_id_api_keys
                foreign key (tenant_id, key_id) references api_keys (tenant_id, id)
        )"""
    )
    op.execute(
        "create index ix_api_key_events_key on api_key_events (tenant_id, key_id, created_at)"
    )
    _exec(tenant_table_sql("api_key_events"))

    # Verification by hash, before the tenant is known: the key and each of its bindings with
    # the subscription's status and plan, one row per binding (one row with nulls if none).
    _exec(
        ops_function_sql(
            "api_key_state(bytea)",
            """
            create function ops.api_key_state(p_hash bytea)
            returns table (
                tenant_id uuid, key_id uuid, format varchar, client_id varchar,
                expires_at timestamptz, revoked boolean, subscription_id uuid, active boolean,
                plan_id uuid, plan_slug varchar, plan_name varchar, monthly_quota bigint,
                rate_limit_per_minute integer, hard_quota boolean
            )
            language plpgsql stable security definer set search_path = public, pg_temp as $$
            begin
              -- plpgsql, not sql: its plan is prepared once per connection (the hot path).
              return query
              select k.tenant_id, k.id, k.format, k.client_id, k.expires_at,
                     k.revoked_at is not null, s.id, s.status = 'ACTIVE', p.id, p.slug, p.name,
                     p.monthly_quota, p.rate_limit_per_minute, p.hard_quota
              from api_keys k
              left join key_subscription_bindings b
                on b.tenant_id = k.tenant_id and b.key_id = k.id
              left join subscriptions s
                on s.tenant_id = b.tenant_id and s.id = b.subscription_id
              left join plans p on p.tenant_id = s.tenant_id and p.id = s.plan_id
              where k.key_hash = p_hash
              order by s.created_at;
            end
            $$""",
        )
    )


def downgrade() -> None:
    op.execute("drop function ops.api_key_state(bytea)")
    for t in (
        "api_key_events",
        "key_subscription_bindings",
        "api_keys",
        "subscriptions",
        "plans",
        "products",
    ):
        op.execute(f"drop table {t}")
