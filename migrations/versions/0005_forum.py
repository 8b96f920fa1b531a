"""Community forum: categories, threads, replies, votes, reports, profiles.

Revision ID: 0005_forum
Revises: 0004_docs_specs

Search vectors are generated stored columns (title weight A over body B; the title alone too,
so title matches are found first), so every write keeps them current without triggers.

The text-search GIN indexes do not lead with ``tenant_id``: a GIN entry for the tenant matches
all of its rows, the planner costs that posting list and falls back to a sequential scan. They
index the vector alone, partial on ``deleted_at is null``; the tenant predicate of the RLS policy
is then checked on the few matching rows.

Row-level security only lets the planner use an index for a user's condition when the
condition's function is LEAKPROOF (it runs before the policy filter). ``@@`` (``ts_match_vq``)
is not marked so, which turns every search into a sequential scan of the table. It returns a
boolean computed from its arguments and raises no data-dependent error, so it cannot leak
another tenant's rows: we mark it LEAKPROOF when the migration runs as a superuser (our
launcher, CI). Elsewhere search stays correct, only slower; ``bench/forum_search.py`` measures
the difference (over 100x on a million replies).
"""

from alembic import op

from aforo.rls import tenant_table_sql

revision = "0005_forum"
down_revision = "0004_docs_specs"
branch_labels = None
depends_on = None

TABLES = (
    "community_categories",
    "community_threads",
    "community_replies",
    "community_revisions",
    "community_votes",
    "community_user_profiles",
    "community_badges",
    "community_reports",
    "community_moderation_actions",
)


def _fk_user(table: str, column: str) -> str:
    return (
        f"constraint fk_{table}_{column}_users foreign key (tenant_id, {column}) "
        "references users (tenant_id, id)"
    )


def upgrade() -> None:
    op.execute(
        """
        do $$ begin
          if (select rolsuper from pg_roles where rolname = current_user) then
            alter function ts_match_vq(tsvector, tsquery) leakproof;
          end if;
        end $$"""
    )
    op.execute(
        """
        create table community_categories (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            parent_id uuid,
            name varchar(80) not null,
            slug varchar(80) not null,
            description varchar(500) not null default '',
            position integer not null default 0,
            created_at timestamptz not null default now(),
            constraint pk_community_categories primary key (tenant_id, id),
            constraint uq_community_categories_tenant_id_slug unique (tenant_id, slug),
            constraint fk_community_categories_parent foreign key (tenant_id, parent_id)
                references community_categories (tenant_id, id)
        )"""
    )
    op.execute(
        "create index ix_community_categories_parent "
        "on community_categories (tenant_id, parent_id, position)"
    )
    op.execute(
        f"""
        create table community_threads (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            category_id uuid not null,
            author_id uuid not null,
            title varchar(200) not null,
            body text not null,
            body_html text not null,
            tags varchar(30)[] not null default '{{}}',
            status varchar(10) not null default 'OPEN'
                constraint ck_community_threads_status check (status in ('OPEN', 'SOLVED', 'LOCKED')),
            accepted_reply_id uuid,
            pinned boolean not null default false,
            view_count bigint not null default 0,
            reply_count integer not null default 0,
            score integer not null default 0,
            last_activity_at timestamptz not null default now(),
            created_at timestamptz not null default now(),
            edited_at timestamptz,
            deleted_at timestamptz,
            deleted_by uuid,
            search tsvector generated always as (
                setweight(to_tsvector('english', title), 'A')
                || setweight(to_tsvector('english', body), 'B')
            ) stored,
            title_search tsvector generated always as (to_tsvector('english', title)) stored,
            title_key text generated always as (
                rtrim(lower(regexp_replace(title, '\\s+', ' ', 'g')), '?!. ')
            ) stored,
            constraint pk_community_threads primary key (tenant_id, id),
            constraint fk_community_threads_category foreign key (tenant_id, category_id)
                references community_categories (tenant_id, id),
            {_fk_user("community_threads", "author_id")},
            {_fk_user("community_threads", "deleted_by")}
        )"""
    )
    for name, cols in (
        ("activity", "tenant_id, pinned desc, last_activity_at desc, id desc"),
        ("newest", "tenant_id, pinned desc, created_at desc, id desc"),
        ("top", "tenant_id, pinned desc, score desc, id desc"),
        ("category", "tenant_id, category_id, pinned desc, last_activity_at desc, id desc"),
        ("author", "tenant_id, author_id"),
    ):
        op.execute(f"create index ix_community_threads_{name} on community_threads ({cols})")
    op.execute(
        "create index ix_community_threads_search on community_threads "
        "using gin (search) where deleted_at is null"
    )
    # Title-only matches are looked up first so they are never crowded out of the ranked set.
    op.execute(
        "create index ix_community_threads_title_search on community_threads "
        "using gin (title_search) where deleted_at is null"
    )
    # The exact-title lookup of search: "an exact title match first", whatever else matches.
    # A stored column, not an expression index: under RLS only a LEAKPROOF condition can use
    # an index, and lower() or regexp_replace() are not; text equality is.
    op.execute(
        "create index ix_community_threads_title_key on community_threads (tenant_id, title_key) "
        "where deleted_at is null"
    )

    op.execute(
        f"""
        create table community_replies (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            thread_id uuid not null,
            parent_reply_id uuid,
            depth smallint not null default 0,
            author_id uuid not null,
            body text not null,
            body_html text not null,
            score integer not null default 0,
            created_at timestamptz not null default now(),
            edited_at timestamptz,
            deleted_at timestamptz,
            deleted_by uuid,
            search tsvector generated always as (setweight(to_tsvector('english', body), 'B')) stored,
            constraint pk_community_replies primary key (tenant_id, id),
            constraint fk_community_replies_thread foreign key (tenant_id, thread_id)
                references community_threads (tenant_id, id),
            constraint fk_community_replies_parent foreign key (tenant_id, parent_reply_id)
                references community_replies (tenant_id, id),
            {_fk_user("community_replies", "author_id")},
            {_fk_user("community_replies", "deleted_by")}
        )"""
    )
    op.execute(
        "create index ix_community_replies_thread on community_replies "
        "(tenant_id, thread_id, created_at, id)"
    )
    op.execute(
        "create index ix_community_replies_author on community_replies (tenant_id, author_id)"
    )
    op.execute(
        "create index ix_community_replies_search on community_replies "
        "using gin (search) where deleted_at is null"
    )
    op.execute(
        "alter table community_threads add constraint fk_community_threads_accepted_reply "
        "foreign key (tenant_id, accepted_reply_id) references community_replies (tenant_id, id)"
    )

    op.execute(
        f"""
        create table community_revisions (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            thread_id uuid not null,
            reply_id uuid,
            editor_id uuid not null,
            title varchar(200),
            body text not null,
            created_at timestamptz not null default now(),
            constraint pk_community_revisions primary key (tenant_id, id),
            constraint fk_community_revisions_thread foreign key (tenant_id, thread_id)
                references community_threads (tenant_id, id),
            constraint fk_community_revisions_reply foreign key (tenant_id, reply_id)
                references community_replies (tenant_id, id),
            {_fk_user("community_revisions", "editor_id")}
        )"""
    )
    op.execute(
        "create index ix_community_revisions_target on community_revisions "
        "(tenant_id, thread_id, reply_id, created_at)"
    )

    op.execute(
        f"""
        create table community_votes (
            tenant_id uuid not null references tenants(id),
            user_id uuid not null,
            target_id uuid not null,
            thread_id uuid not null,
            reply_id uuid,
            value smallint not null constraint ck_community_votes_value check (value in (-1, 1)),
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            constraint pk_community_votes primary key (tenant_id, user_id, target_id),
            constraint ck_community_votes_target check (target_id = coalesce(reply_id, thread_id)),
            constraint fk_community_votes_thread foreign key (tenant_id, thread_id)
                references community_threads (tenant_id, id),
            constraint fk_community_votes_reply foreign key (tenant_id, reply_id)
                references community_replies (tenant_id, id),
            {_fk_user("community_votes", "user_id")}
        )"""
    )
    op.execute("create index ix_community_votes_target on community_votes (tenant_id, target_id)")

    op.execute(
        f"""
        create table community_user_profiles (
            tenant_id uuid not null references tenants(id),
            user_id uuid not null,
            reputation integer not null default 0,
            thread_count integer not null default 0,
            reply_count integer not null default 0,
            accepted_count integer not null default 0,
            warning_count integer not null default 0,
            is_banned boolean not null default false,
            banned_at timestamptz,
            ban_reason varchar(500),
            created_at timestamptz not null default now(),
            constraint pk_community_user_profiles primary key (tenant_id, user_id),
            {_fk_user("community_user_profiles", "user_id")}
        )"""
    )
    op.execute(
        f"""
        create table community_badges (
            tenant_id uuid not null references tenants(id),
            user_id uuid not null,
            badge varchar(40) not null,
            awarded_at timestamptz not null default now(),
            constraint pk_community_badges primary key (tenant_id, user_id, badge),
            {_fk_user("community_badges", "user_id")}
        )"""
    )

    op.execute(
        f"""
        create table community_reports (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            reporter_id uuid not null,
            target_type varchar(10) not null
                constraint ck_community_reports_target_type check (target_type in ('THREAD', 'REPLY')),
            target_id uuid not null,
            thread_id uuid not null,
            reply_id uuid,
            reason varchar(20) not null,
            note varchar(1000) not null default '',
            status varchar(10) not null default 'OPEN'
                constraint ck_community_reports_status check (status in ('OPEN', 'RESOLVED', 'DISMISSED')),
            created_at timestamptz not null default now(),
            resolved_at timestamptz,
            resolved_by uuid,
            constraint pk_community_reports primary key (tenant_id, id),
            constraint fk_community_reports_thread foreign key (tenant_id, thread_id)
                references community_threads (tenant_id, id),
            constraint fk_community_reports_reply foreign key (tenant_id, reply_id)
                references community_replies (tenant_id, id),
            {_fk_user("community_reports", "reporter_id")},
            {_fk_user("community_reports", "resolved_by")}
        )"""
    )
    # One open report per reporter and target; a resolved one does not block a new report.
    op.execute(
        "create unique index uq_community_reports_open on community_reports "
        "(tenant_id, reporter_id, target_id) where status = 'OPEN'"
    )
    op.execute(
        "create index ix_community_reports_queue on community_reports "
        "(tenant_id, status, target_id, created_at)"
    )

    op.execute(
        f"""
        create table community_moderation_actions (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            moderator_id uuid not null,
            action varchar(20) not null,
            target_type varchar(10) not null,
            target_id uuid not null,
            subject_user_id uuid,
            report_id uuid,
            reason varchar(1000) not null default '',
            created_at timestamptz not null default now(),
            constraint pk_community_moderation_actions primary key (tenant_id, id),
            constraint fk_community_moderation_actions_report foreign key (tenant_id, report_id)
                references community_reports (tenant_id, id),
            {_fk_user("community_moderation_actions", "moderator_id")},
            {_fk_user("community_moderation_actions", "subject_user_id")}
        )"""
    )
    op.execute(
        "create index ix_community_moderation_actions_created on community_moderation_actions "
        "(tenant_id, created_at desc, id desc)"
    )
    op.execute(
        "create index ix_community_moderation_actions_target on community_moderation_actions "
        "(tenant_id, target_id)"
    )

    for table in TABLES:
        for s in tenant_table_sql(table):
            op.execute(s)


def downgrade() -> None:
    op.execute(
        """
        do $$ begin
          if (select rolsuper from pg_roles where rolname = current_user) then
            alter function ts_match_vq(tsvector, tsquery) not leakproof;
          end if;
        end $$"""
    )
    op.execute("alter table community_threads drop constraint fk_community_threads_accepted_reply")
    for table in reversed(TABLES):
        op.execute(f"drop table {table}")
