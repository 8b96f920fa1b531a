"""Usage: partitioned events, their idempotency claims, hourly rollups, dead letters, uploads.

``usage_events`` is range-partitioned by month on ``occurred_at``. A unique index on a
partitioned table must contain the partition key, so it cannot say "one ``event_id`` per tenant";
``usage_event_ids`` (not partitioned) holds exactly that claim, with a hash of the event's
content, and is written by the same statement that inserts the event.

Partitions: the current month, three before and twelve after are created here; later months are
created on demand by ``ops.usage_ensure_partition`` (owned by the table owner, so the app role
can ask for a partition without owning any table); a default partition catches anything else so
no event is ever refused for want of a partition.

Revision ID: 0006_usage
Revises: 0005_forum
"""

from alembic import op

from aforo.rls import APP_ROLE, tenant_table_sql

revision = "0006_usage"
down_revision = "0005_forum"
branch_labels = None
depends_on = None


def _exec(statements: list[str]) -> None:
    for s in statements:
        op.execute(s)


ENSURE_PARTITION = """
create function ops.usage_ensure_partition(p_month date) returns boolean
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  m date := date_trunc('month', p_month)::date;
  part text := 'usage_events_' || to_char(m, 'YYYYMM');
  lo timestamptz := m::timestamp at time zone 'UTC';
  hi timestamptz := (m + interval '1 month')::timestamp at time zone 'UTC';
begin
  -- true: the partition already existed (callers may cache that); false: created now.
  if to_regclass('public.' || part) is not null then
    return true;
  end if;
  perform pg_advisory_xact_lock(hashtext('usage_events_partition'));
  if to_regclass('public.' || part) is not null then
    return true;
  end if;
  -- Rows of that month may already sit in the default partition: move them, then attach.
  execute format('create table %I (like usage_events including defaults including constraints)', part);
  execute format(
    'insert into %I select * from usage_events_default where occurred_at >= %L and occurred_at < %L',
    part, lo, hi);
  execute format(
    'delete from usage_events_default where occurred_at >= %L and occurred_at < %L', lo, hi);
  execute format(
    'alter table usage_events attach partition %I for values from (%L) to (%L)', part, lo, hi);
  return false;
end $$
"""


def upgrade() -> None:
    op.execute(
        """
        create table usage_events (
            tenant_id uuid not null,
            occurred_at timestamptz not null,
            event_id varchar(200) collate "C" not null,
            source varchar(16) not null,
            metric varchar(200) not null,
            quantity numeric not null check (quantity >= 0),
            consumer text,
            subscription_id uuid,
            key_id uuid,
            source_account text,
            method varchar(16),
            path text,
            route text,
            status integer,
            latency_ms double precision,
            request_bytes bigint,
            response_bytes bigint,
            request_id text,
            client_ip text,
            tool text,
            agent text,
            session text,
            outcome varchar(16),
            properties jsonb,
            upload_id uuid,
            received_at timestamptz not null default now(),
            constraint pk_usage_events primary key (tenant_id, occurred_at, event_id)
        ) partition by range (occurred_at)"""
    )
    op.execute(
        "create index ix_usage_events_subscription on usage_events "
        "(tenant_id, subscription_id, occurred_at) where subscription_id is not null"
    )
    op.execute("create table usage_events_default partition of usage_events default")
    _exec(tenant_table_sql("usage_events"))
    op.execute(ENSURE_PARTITION)
    op.execute("revoke all on function ops.usage_ensure_partition(date) from public")
    op.execute(f"grant execute on function ops.usage_ensure_partition(date) to {APP_ROLE}")
    op.execute(
        """
        select ops.usage_ensure_partition((date_trunc('month', now() at time zone 'UTC')
                                           + make_interval(months => g))::date)
        from generate_series(-3, 12) g"""
    )

    # One claim per (tenant, event id): the exact idempotency key, with the content's hash so a
    # resend with other content is told apart from a retry. Event ids compare bytewise
    # (collate "C"): an id is an opaque key, and locale-aware comparison would make every
    # index insert several times slower.
    op.execute(
        """
        create table usage_event_ids (
            tenant_id uuid not null,
            event_id varchar(200) collate "C" not null,
            content_hash bytea not null,
            occurred_at timestamptz not null,
            constraint pk_usage_event_ids primary key (tenant_id, event_id)
        )"""
    )
    _exec(tenant_table_sql("usage_event_ids"))

    # Hourly sums, upserted by the statement that inserts the events. NULLS NOT DISTINCT: an
    # event with no subscription / key / tool / agent still lands in exactly one bucket.
    op.execute(
        """
        create table usage_rollups (
            tenant_id uuid not null,
            id bigint generated always as identity,
            hour timestamptz not null,
            metric varchar(200) not null,
            subscription_id uuid,
            key_id uuid,
            tool text,
            agent text,
            quantity numeric not null,
            events bigint not null,
            constraint pk_usage_rollups primary key (tenant_id, id)
        )"""
    )
    op.execute(
        "create unique index uq_usage_rollups_bucket on usage_rollups "
        "(tenant_id, hour, metric, subscription_id, key_id, tool, agent) nulls not distinct"
    )
    op.execute(
        "create index ix_usage_rollups_subscription on usage_rollups "
        "(tenant_id, subscription_id, hour)"
    )
    _exec(tenant_table_sql("usage_rollups"))

    op.execute(
        """
        create table usage_uploads (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            format varchar(8) not null,
            filename varchar(300),
            status varchar(12) not null default 'processing',
            rows integer not null default 0,
            accepted integer not null default 0,
            duplicates integer not null default 0,
            rejected integer not null default 0,
            bytes bigint not null default 0,
            error text,
            gateway_token_id uuid,
            created_at timestamptz not null default now(),
            finished_at timestamptz,
            constraint pk_usage_uploads primary key (tenant_id, id)
        )"""
    )
    op.execute("create index ix_usage_uploads_created on usage_uploads (tenant_id, created_at)")
    _exec(tenant_table_sql("usage_uploads"))

    # Dead letters: every refused record, with why, and what it was (truncated).
    op.execute(
        """
        create table usage_rejections (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            source varchar(16) not null,
            event_id varchar(200),
            upload_id uuid,
            row_number bigint,
            code varchar(40) not null,
            field varchar(200),
            message text not null,
            record text,
            created_at timestamptz not null default now(),
            constraint pk_usage_rejections primary key (tenant_id, id)
        )"""
    )
    op.execute(
        "create index ix_usage_rejections_created on usage_rejections (tenant_id, created_at)"
    )
    op.execute(
        "create index ix_usage_rejections_upload on usage_rejections "
        "(tenant_id, upload_id, row_number) where upload_id is not null"
    )
    _exec(tenant_table_sql("usage_rejections"))


def downgrade() -> None:
    op.execute("drop table usage_rejections")
    op.execute("drop table usage_uploads")
    op.execute("drop table usage_rollups")
    op.execute("drop table usage_event_ids")
    op.execute("drop function ops.usage_ensure_partition(date)")
    op.execute("drop table usage_events")
