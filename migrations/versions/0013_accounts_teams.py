"""Accounts for companies: verified email, account tokens, two-factor sign-in, sessions,
mail jobs and branding, account policy, teams owning subscriptions and keys.

Alters ``users`` (email_verified_at; existing accounts count as verified), ``subscriptions``
and ``api_keys`` (a nullable owning ``team_id``; the one-active-subscription index becomes
one per person and plan, and one per team and plan).

Revision ID: 0013_accounts_teams
Revises: 0012_invoices
"""

from alembic import op

from aforo.rls import ops_function_sql, tenant_table_sql

revision = "0013_accounts_teams"
down_revision = "0012_invoices"
branch_labels = None
depends_on = None


def _exec(statements: list[str]) -> None:
    for s in statements:
        op.execute(s)


def upgrade() -> None:
    # Accounts made before verification existed are grandfathered in as verified.
    op.execute("alter table users add column email_verified_at timestamptz")
    op.execute("update users set email_verified_at = created_at")

    op.execute(
        """
        create table account_settings (
            tenant_id uuid not null references tenants(id),
            unverified_access varchar(12) not null default 'READ_ONLY'
                constraint ck_account_settings_unverified
                check (unverified_access in ('READ_ONLY', 'FULL', 'NO_SIGN_IN')),
            staff_second_factor boolean not null default false,
            updated_at timestamptz not null default now(),
            constraint pk_account_settings primary key (tenant_id)
        )"""
    )
    _exec(tenant_table_sql("account_settings"))

    op.execute(
        """
        create table mail_settings (
            tenant_id uuid not null references tenants(id),
            brand_name varchar(200),
            logo_url varchar(500),
            primary_color varchar(7),
            background_color varchar(7),
            from_address varchar(320),
            from_name varchar(200),
            footer varchar(1000),
            portal_url varchar(500),
            updated_at timestamptz not null default now(),
            constraint pk_mail_settings primary key (tenant_id)
        )"""
    )
    _exec(tenant_table_sql("mail_settings"))

    op.execute(
        """
        create table mail_jobs (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            kind varchar(30) not null,
            user_id uuid,
            to_address varchar(320) not null,
            params jsonb not null default '{}',
            status varchar(10) not null default 'PENDING'
                constraint ck_mail_jobs_status
                check (status in ('PENDING', 'SENT', 'DEAD', 'CANCELLED')),
            attempts integer not null default 0,
            next_attempt_at timestamptz not null default now(),
            last_error varchar(500),
            created_at timestamptz not null default now(),
            sent_at timestamptz,
            constraint pk_mail_jobs primary key (tenant_id, id),
            constraint fk_mail_jobs_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id)
                on delete cascade
        )"""
    )
    # The dispatcher's claim crosses tenants (like the outbox relay's): due jobs by time.
    op.execute(
        "create index ix_mail_jobs_due on mail_jobs (next_attempt_at) where status = 'PENDING'"
    )
    # Resend cooldowns count a user's recent mails of one kind.
    op.execute(
        "create index ix_mail_jobs_user_kind on mail_jobs (tenant_id, user_id, kind, created_at)"
    )
    op.execute("create index ix_mail_jobs_status on mail_jobs (tenant_id, status, created_at)")
    _exec(tenant_table_sql("mail_jobs"))
    _exec(
        ops_function_sql(
            "mail_claim(integer, integer)",
            """
            create function ops.mail_claim(p_limit integer, p_lease_s integer)
            returns table (tenant_id uuid, id uuid)
            language sql volatile security definer set search_path = public, pg_temp as $$
              update mail_jobs j
                 set attempts = j.attempts + 1,
                     next_attempt_at = now() + make_interval(secs => p_lease_s)
                from (select m.tenant_id, m.id from mail_jobs m
                      where m.status = 'PENDING' and m.next_attempt_at <= now()
                      order by m.next_attempt_at limit p_limit
                      for update skip locked) due
               where j.tenant_id = due.tenant_id and j.id = due.id
              returning j.tenant_id, j.id
            $$""",
        )
    )

    op.execute(
        """
        create table teams (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            name varchar(200) not null,
            created_by uuid not null,
            created_at timestamptz not null default now(),
            deleted_at timestamptz,
            constraint pk_teams primary key (tenant_id, id),
            constraint fk_teams_tenant_id_created_by_users
                foreign key (tenant_id, created_by) references users (tenant_id, id)
        )"""
    )
    _exec(tenant_table_sql("teams"))
    op.execute(
        """
        create table team_members (
            tenant_id uuid not null references tenants(id),
            team_id uuid not null,
            user_id uuid not null,
            role varchar(10) not null
                constraint ck_team_members_role
                check (role in ('OWNER', 'ADMIN', 'BILLING', 'MEMBER')),
            created_at timestamptz not null default now(),
            constraint pk_team_members primary key (tenant_id, team_id, user_id),
            constraint fk_team_members_tenant_id_team_id_teams
                foreign key (tenant_id, team_id) references teams (tenant_id, id),
            constraint fk_team_members_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id)
        )"""
    )
    op.execute("create index ix_team_members_user on team_members (tenant_id, user_id)")
    op.execute(
        "create unique index uq_team_members_owner on team_members (tenant_id, team_id)"
        " where role = 'OWNER'"
    )
    _exec(tenant_table_sql("team_members"))
    op.execute(
        """
        create table team_invitations (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            team_id uuid not null,
            email varchar(320) not null,
            role varchar(10) not null
                constraint ck_team_invitations_role
                check (role in ('ADMIN', 'BILLING', 'MEMBER')),
            invited_by uuid not null,
            created_at timestamptz not null default now(),
            expires_at timestamptz not null,
            accepted_at timestamptz,
            accepted_by uuid,
            revoked_at timestamptz,
            constraint pk_team_invitations primary key (tenant_id, id),
            constraint fk_team_invitations_tenant_id_team_id_teams
                foreign key (tenant_id, team_id) references teams (tenant_id, id),
            constraint fk_team_invitations_tenant_id_invited_by_users
                foreign key (tenant_id, invited_by) references users (tenant_id, id)
        )"""
    )
    op.execute(
        "create index ix_team_invitations_team on team_invitations (tenant_id, team_id, created_at)"
    )
    _exec(tenant_table_sql("team_invitations"))

    op.execute(
        """
        create table account_tokens (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            purpose varchar(20) not null
                constraint ck_account_tokens_purpose
                check (purpose in ('VERIFY_EMAIL', 'RESET_PASSWORD', 'CHANGE_EMAIL',
                                   'TEAM_INVITATION')),
            user_id uuid,
            email varchar(320) not null,
            invitation_id uuid,
            mail_job_id uuid,
            token_hash bytea not null,
            created_at timestamptz not null default now(),
            expires_at timestamptz not null,
            used_at timestamptz,
            constraint pk_account_tokens primary key (tenant_id, id),
            constraint fk_account_tokens_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id)
                on delete cascade,
            constraint fk_account_tokens_tenant_id_invitation_id_team_invitations
                foreign key (tenant_id, invitation_id) references team_invitations (tenant_id, id)
        )"""
    )
    op.execute(
        "create unique index uq_account_tokens_hash on account_tokens (tenant_id, token_hash)"
    )
    op.execute(
        "create index ix_account_tokens_user on account_tokens (tenant_id, user_id, purpose)"
    )
    _exec(tenant_table_sql("account_tokens"))

    op.execute(
        """
        create table totp_credentials (
            tenant_id uuid not null references tenants(id),
            user_id uuid not null,
            secret_sealed bytea not null,
            confirmed_at timestamptz,
            last_step bigint,
            created_at timestamptz not null default now(),
            constraint pk_totp_credentials primary key (tenant_id, user_id),
            constraint fk_totp_credentials_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id)
                on delete cascade
        )"""
    )
    _exec(tenant_table_sql("totp_credentials"))
    op.execute(
        """
        create table recovery_codes (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            user_id uuid not null,
            code_hash bytea not null,
            created_at timestamptz not null default now(),
            used_at timestamptz,
            constraint pk_recovery_codes primary key (tenant_id, id),
            constraint fk_recovery_codes_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id)
                on delete cascade
        )"""
    )
    op.execute("create index ix_recovery_codes_user on recovery_codes (tenant_id, user_id)")
    _exec(tenant_table_sql("recovery_codes"))
    op.execute(
        """
        create table login_challenges (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            user_id uuid not null,
            token_hash bytea not null,
            created_at timestamptz not null default now(),
            expires_at timestamptz not null,
            attempts integer not null default 0,
            used_at timestamptz,
            constraint pk_login_challenges primary key (tenant_id, id),
            constraint fk_login_challenges_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id)
                on delete cascade
        )"""
    )
    op.execute(
        "create unique index uq_login_challenges_hash on login_challenges (tenant_id, token_hash)"
    )
    op.execute(
        "create index ix_login_challenges_user on login_challenges (tenant_id, user_id, created_at)"
    )
    _exec(tenant_table_sql("login_challenges"))
    op.execute(
        """
        create table account_sessions (
            tenant_id uuid not null references tenants(id),
            id uuid not null,
            user_id uuid not null,
            second_factor boolean not null default false,
            user_agent varchar(300),
            ip_address varchar(64),
            created_at timestamptz not null default now(),
            constraint pk_account_sessions primary key (tenant_id, id),
            constraint fk_account_sessions_tenant_id_user_id_users
                foreign key (tenant_id, user_id) references users (tenant_id, id)
                on delete cascade
        )"""
    )
    op.execute("create index ix_account_sessions_user on account_sessions (tenant_id, user_id)")
    _exec(tenant_table_sql("account_sessions"))

    # Ownership: a subscription (and the keys drawing on it) belongs to a person or a team.
    op.execute("alter table subscriptions add column team_id uuid")
    op.execute(
        "alter table subscriptions add constraint fk_subscriptions_tenant_id_team_id_teams"
        " foreign key (tenant_id, team_id) references teams (tenant_id, id)"
    )
    op.execute("create index ix_subscriptions_team on subscriptions (tenant_id, team_id)")
    op.execute("drop index uq_subscriptions_active")
    op.execute(
        "create unique index uq_subscriptions_active on subscriptions (tenant_id, user_id, plan_id)"
        " where status = 'ACTIVE' and team_id is null"
    )
    op.execute(
        "create unique index uq_subscriptions_team_active"
        " on subscriptions (tenant_id, team_id, plan_id)"
        " where status = 'ACTIVE' and team_id is not null"
    )
    op.execute("alter table api_keys add column team_id uuid")
    op.execute(
        "alter table api_keys add constraint fk_api_keys_tenant_id_team_id_teams"
        " foreign key (tenant_id, team_id) references teams (tenant_id, id)"
    )
    op.execute("create index ix_api_keys_team on api_keys (tenant_id, team_id, created_at)")


def downgrade() -> None:
    op.execute("drop index ix_api_keys_team")
    op.execute("alter table api_keys drop column team_id")
    op.execute("drop index uq_subscriptions_team_active")
    op.execute("drop index uq_subscriptions_active")
    op.execute(
        "create unique index uq_subscriptions_active on subscriptions (tenant_id, user_id, plan_id)"
        " where status = 'ACTIVE'"
    )
    op.execute("drop index ix_subscriptions_team")
    op.execute("alter table subscriptions drop column team_id")
    op.execute("drop function ops.mail_claim(integer, integer)")
    for t in (
        "account_sessions",
        "login_challenges",
        "recovery_codes",
        "totp_credentials",
        "account_tokens",
        "team_invitations",
        "team_members",
        "teams",
        "mail_jobs",
        "mail_settings",
        "account_settings",
    ):
        op.execute(f"drop table {t}")
    op.execute("alter table users drop column email_verified_at")
