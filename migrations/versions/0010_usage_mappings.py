"""Usage ingestion, second round: saved column mappings for uploads, the occurrence counts that
make content-derived row ids exact, MCP fields kept apart, and dead letters that say everything
once.

- ``usage_mappings``: a tenant's named column mappings (chosen by name on upload).
- ``usage_upload_rows``: per upload, how often each row content was seen so far; a row without
  an id column gets ``row:<content digest>:<occurrence>``. Kept in the database (one statement
  per written batch) so a file of any size runs in flat memory; dropped when the upload ends.
- ``usage_events``: ``agent_version``, ``protocol_version`` and ``error_code`` (MCP).
- ``usage_rejections``: ``record_index`` (the record's position in its payload, Firehose
  included), ``errors`` (every bad field) and ``dedupe_key`` (a retried batch does not
  dead-letter its refused records again).

Alters two tables of 0006 (``usage_events``, ``usage_rejections``): new nullable columns only.

Revision ID: 0010_usage_mappings
Revises: 0009_edge
"""

from alembic import op

from aforo.rls import tenant_table_sql

revision = "0010_usage_mappings"
down_revision = "0009_edge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table usage_mappings (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            name varchar(100) not null,
            spec jsonb not null,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            constraint pk_usage_mappings primary key (tenant_id, id),
            constraint uq_usage_mappings_name unique (tenant_id, name)
        )"""
    )
    for s in tenant_table_sql("usage_mappings"):
        op.execute(s)

    op.execute(
        """
        create table usage_upload_rows (
            tenant_id uuid not null,
            upload_id uuid not null,
            digest bytea not null,
            seen bigint not null,
            constraint pk_usage_upload_rows primary key (tenant_id, upload_id, digest),
            constraint fk_usage_upload_rows_upload foreign key (tenant_id, upload_id)
                references usage_uploads (tenant_id, id) on delete cascade
        )"""
    )
    for s in tenant_table_sql("usage_upload_rows"):
        op.execute(s)

    op.execute(
        "alter table usage_events add column agent_version text,"
        " add column protocol_version varchar(32), add column error_code integer"
    )
    op.execute(
        "alter table usage_rejections add column record_index bigint,"
        " add column errors jsonb, add column dedupe_key bytea"
    )
    op.execute(
        "create unique index uq_usage_rejections_key on usage_rejections (tenant_id, dedupe_key)"
    )


def downgrade() -> None:
    op.execute("drop index uq_usage_rejections_key")
    op.execute(
        "alter table usage_rejections drop column dedupe_key, drop column errors,"
        " drop column record_index"
    )
    op.execute(
        "alter table usage_events drop column error_code, drop column protocol_version,"
        " drop column agent_version"
    )
    op.execute("drop table usage_upload_rows")
    op.execute("drop table usage_mappings")
