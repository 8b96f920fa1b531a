"""Billing that closes the loop: prices on plans, billing periods, invoices, tenant settings.

Alters ``subscriptions`` (billing anchor, cancel at period end) and backfills, for every active
subscription, its anchor and the period it is in now (none is billed retroactively).

Invoices are immutable once finalized, enforced here as well as in the code: a trigger refuses
any change to a finalized, paid or void invoice other than the two transitions it may still
make (finalized -> paid, finalized -> void), and any insert, update or delete of the lines of
an invoice that is no longer a draft. Numbers come from ``invoice_counters``, one row per
tenant, incremented under its row lock by the finalizing transaction: a rollback gives the
number back, so numbers have no gaps.

Revision ID: 0012_invoices
Revises: 0011_spec_components
"""

from alembic import op

from aforo.rls import ops_function_sql, tenant_table_sql

revision = "0012_invoices"
down_revision = "0011_spec_components"
branch_labels = None
depends_on = None

TABLES = (
    "plan_charges",
    "billing_periods",
    "invoices",
    "invoice_lines",
    "invoice_events",
    "billing_settings",
    "invoice_counters",
)


def _exec(statements: list[str]) -> None:
    for s in statements:
        op.execute(s)


INVOICE_GUARD = """
create function billing_invoice_guard() returns trigger
language plpgsql set search_path = public, pg_temp as $$
declare
  mutable constant text[] := array['status', 'paid_at', 'payment_reference', 'voided_at',
                                   'void_reason'];
begin
  if tg_op = 'DELETE' then
    if old.status <> 'DRAFT' then
      raise exception 'invoice % is %: it can no longer be deleted', old.id, old.status
        using errcode = 'object_not_in_prerequisite_state';
    end if;
    return old;
  end if;
  if old.status = 'DRAFT' then
    return new;
  end if;
  if to_jsonb(new) = to_jsonb(old) then
    return new;
  end if;
  if (to_jsonb(new) - mutable) is distinct from (to_jsonb(old) - mutable)
     or not (old.status = 'FINALIZED' and new.status in ('PAID', 'VOID')) then
    raise exception 'invoice % is %: it can no longer be changed', old.id, old.status
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  return new;
end $$
"""

LINE_GUARD = """
create function billing_invoice_line_guard() returns trigger
language plpgsql set search_path = public, pg_temp as $$
declare
  inv uuid := case when tg_op = 'INSERT' then new.invoice_id else old.invoice_id end;
  tid uuid := case when tg_op = 'INSERT' then new.tenant_id else old.tenant_id end;
  st text;
begin
  select status into st from invoices where tenant_id = tid and id = inv;
  if st is distinct from 'DRAFT' then
    raise exception 'invoice % is %: its lines can no longer change', inv, st
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end $$
"""


def upgrade() -> None:
    op.execute(
        "alter table subscriptions add column billing_anchor timestamptz not null default now(),"
        " add column cancel_at_period_end boolean not null default false"
    )
    op.execute(
        """
        create table plan_charges (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            plan_id uuid not null,
            position integer not null,
            metric varchar(200) not null,
            model varchar(12) not null constraint ck_plan_charges_model
                check (model in ('PER_UNIT', 'PACKAGE', 'GRADUATED', 'VOLUME')),
            included_units numeric not null default 0
                constraint ck_plan_charges_included check (included_units >= 0),
            spec jsonb not null,
            constraint pk_plan_charges primary key (tenant_id, id),
            constraint uq_plan_charges_tenant_id_plan_id_metric unique (tenant_id, plan_id, metric),
            constraint fk_plan_charges_tenant_id_plan_id_plans
                foreign key (tenant_id, plan_id) references plans (tenant_id, id)
        )"""
    )

    op.execute(
        """
        create table billing_periods (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            subscription_id uuid not null,
            plan_id uuid not null,
            seq integer not null,
            period_start timestamptz not null,
            period_end timestamptz not null,
            starts_at timestamptz not null,
            ends_at timestamptz not null,
            status varchar(8) not null default 'OPEN'
                constraint ck_billing_periods_status check (status in ('OPEN', 'CLOSED')),
            final boolean not null default false,
            closed_at timestamptz,
            constraint pk_billing_periods primary key (tenant_id, id),
            constraint ck_billing_periods_span check (
                period_start <= starts_at and starts_at <= ends_at and ends_at <= period_end),
            constraint uq_billing_periods_tenant_id_subscription_id_starts_at
                unique (tenant_id, subscription_id, starts_at),
            constraint fk_billing_periods_tenant_id_subscription_id_subscriptions
                foreign key (tenant_id, subscription_id) references subscriptions (tenant_id, id),
            constraint fk_billing_periods_tenant_id_plan_id_plans
                foreign key (tenant_id, plan_id) references plans (tenant_id, id)
        )"""
    )
    # At most one open stretch per subscription; the due ones are found through this index.
    op.execute(
        "create unique index uq_billing_periods_open on billing_periods "
        "(tenant_id, subscription_id) where status = 'OPEN'"
    )
    op.execute(
        "create index ix_billing_periods_due on billing_periods (tenant_id, ends_at) "
        "where status = 'OPEN'"
    )

    op.execute(
        """
        create table invoices (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            subscription_id uuid not null,
            billing_period_id uuid not null,
            user_id uuid not null,
            status varchar(10) not null default 'DRAFT' constraint ck_invoices_status
                check (status in ('DRAFT', 'FINALIZED', 'PAID', 'VOID')),
            seq bigint,
            number varchar(40),
            currency char(3) not null,
            period_start timestamptz not null,
            period_end timestamptz not null,
            subtotal_minor bigint not null,
            tax_rate numeric not null,
            tax_label varchar(40) not null,
            tax_minor bigint not null,
            total_minor bigint not null,
            customer_name varchar(200) not null,
            customer_email varchar(320) not null,
            created_at timestamptz not null default now(),
            finalized_at timestamptz,
            due_at timestamptz,
            paid_at timestamptz,
            payment_reference varchar(200),
            voided_at timestamptz,
            void_reason varchar(500),
            constraint pk_invoices primary key (tenant_id, id),
            constraint uq_invoices_tenant_id_billing_period_id unique (tenant_id, billing_period_id),
            constraint uq_invoices_tenant_id_seq unique (tenant_id, seq),
            constraint ck_invoices_numbered check (
                status in ('DRAFT', 'VOID') or (seq is not null and number is not null)),
            constraint ck_invoices_total check (total_minor = subtotal_minor + tax_minor),
            constraint fk_invoices_tenant_id_subscription_id_subscriptions
                foreign key (tenant_id, subscription_id) references subscriptions (tenant_id, id),
            constraint fk_invoices_tenant_id_billing_period_id_billing_periods
                foreign key (tenant_id, billing_period_id)
                references billing_periods (tenant_id, id),
            constraint fk_invoices_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id)
        )"""
    )
    op.execute("create index ix_invoices_created on invoices (tenant_id, created_at)")
    op.execute(
        "create index ix_invoices_subscription on invoices (tenant_id, subscription_id, created_at)"
    )
    op.execute(INVOICE_GUARD)
    op.execute(
        "create trigger invoices_immutable before update or delete on invoices "
        "for each row execute function billing_invoice_guard()"
    )

    op.execute(
        """
        create table invoice_lines (
            tenant_id uuid not null references tenants(id),
            invoice_id uuid not null,
            position integer not null,
            kind varchar(12) not null constraint ck_invoice_lines_kind
                check (kind in ('FIXED_FEE', 'USAGE', 'ADJUSTMENT')),
            description varchar(300) not null,
            metric varchar(200),
            quantity numeric not null,
            unit_price numeric,
            amount_minor bigint not null,
            billing_period_id uuid not null,
            period_start timestamptz not null,
            period_end timestamptz not null,
            adjusts_invoice_id uuid,
            detail jsonb not null default '{}',
            constraint pk_invoice_lines primary key (tenant_id, invoice_id, position),
            constraint fk_invoice_lines_tenant_id_invoice_id_invoices
                foreign key (tenant_id, invoice_id) references invoices (tenant_id, id),
            constraint fk_invoice_lines_tenant_id_billing_period_id_billing_periods
                foreign key (tenant_id, billing_period_id)
                references billing_periods (tenant_id, id)
        )"""
    )
    # What each stretch has been billed so far, per metric (late usage is the difference).
    op.execute(
        "create index ix_invoice_lines_period on invoice_lines (tenant_id, billing_period_id)"
    )
    op.execute(LINE_GUARD)
    op.execute(
        "create trigger invoice_lines_immutable before insert or update or delete on "
        "invoice_lines for each row execute function billing_invoice_line_guard()"
    )

    op.execute(
        """
        create table invoice_events (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            invoice_id uuid not null,
            type varchar(20) not null,
            actor_id uuid,
            detail jsonb not null default '{}',
            created_at timestamptz not null default now(),
            constraint pk_invoice_events primary key (tenant_id, id),
            constraint fk_invoice_events_tenant_id_invoice_id_invoices
                foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)
        )"""
    )
    op.execute(
        "create index ix_invoice_events_invoice on invoice_events (tenant_id, invoice_id, created_at)"
    )

    op.execute(
        """
        create table billing_settings (
            tenant_id uuid not null references tenants(id),
            tax_rate numeric not null default 0
                constraint ck_billing_settings_tax check (tax_rate >= 0 and tax_rate <= 100),
            tax_label varchar(40) not null default 'Tax',
            invoice_prefix varchar(12) not null default 'INV',
            payment_terms_days integer not null default 0
                constraint ck_billing_settings_terms check (payment_terms_days between 0 and 365),
            brand_name varchar(200),
            brand_color varchar(7),
            logo bytea,
            address text not null default '',
            footer text not null default '',
            updated_at timestamptz not null default now(),
            constraint pk_billing_settings primary key (tenant_id)
        )"""
    )
    op.execute(
        """
        create table invoice_counters (
            tenant_id uuid not null references tenants(id),
            last_seq bigint not null,
            constraint pk_invoice_counters primary key (tenant_id)
        )"""
    )
    for t in TABLES:
        _exec(tenant_table_sql(t))

    # The billing job finds due stretches of every tenant before it binds one.
    _exec(
        ops_function_sql(
            "billing_due_periods(timestamptz, integer)",
            """
            create function ops.billing_due_periods(p_now timestamptz, p_limit integer)
            returns table (tenant_id uuid, period_id uuid)
            language sql stable security definer set search_path = public, pg_temp as $$
              select p.tenant_id, p.id from billing_periods p
              where p.status = 'OPEN' and p.ends_at <= p_now
              order by p.ends_at, p.tenant_id, p.id
              limit p_limit
            $$""",
        )
    )

    # Backfill: existing subscriptions are anchored where they began and enter the period
    # they are in now. The owner is subject to the forced policies, so they are lifted for
    # the length of this transaction.
    op.execute("alter table subscriptions no force row level security")
    op.execute("alter table billing_periods no force row level security")
    op.execute("update subscriptions set billing_anchor = created_at")
    op.execute(
        """
        insert into billing_periods
            (tenant_id, subscription_id, plan_id, seq, period_start, period_end, starts_at, ends_at)
        select s.tenant_id, s.id, s.plan_id, n.seq, b.lo, b.hi, b.lo, b.hi
        from subscriptions s
        join plans p on p.tenant_id = s.tenant_id and p.id = s.plan_id
        cross join lateral (
            select case p.interval when 'YEAR' then 12 else 1 end as months) k
        cross join lateral (
            select coalesce(max(g), 0) as seq from generate_series(0, 1200) g
            where (s.billing_anchor at time zone 'UTC' + make_interval(months => g * k.months))
                  at time zone 'UTC' <= now()) n
        cross join lateral (
            select (s.billing_anchor at time zone 'UTC'
                    + make_interval(months => n.seq * k.months)) at time zone 'UTC' as lo,
                   (s.billing_anchor at time zone 'UTC'
                    + make_interval(months => (n.seq + 1) * k.months)) at time zone 'UTC' as hi) b
        where s.status = 'ACTIVE'
        """
    )
    op.execute("alter table billing_periods force row level security")
    op.execute("alter table subscriptions force row level security")


def downgrade() -> None:
    op.execute("drop function ops.billing_due_periods(timestamptz, integer)")
    for t in reversed(TABLES):
        op.execute(f"drop table {t}")
    op.execute("drop function billing_invoice_line_guard()")
    op.execute("drop function billing_invoice_guard()")
    op.execute(
        "alter table subscriptions drop column billing_anchor, drop column cancel_at_period_end"
    )
