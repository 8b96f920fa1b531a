"""Docs and specs: page tree, versions, spec versions, operations, outbound allow-list.

Revision ID: 0004_docs_specs
Revises: 0003_key_vault
"""

from alembic import op

from aforo.rls import ops_function_sql, tenant_table_sql

revision = "0004_docs_specs"
down_revision = "0003_key_vault"
branch_labels = None
depends_on = None

TABLES = (
    "doc_pages",
    "doc_page_versions",
    "api_specs",
    "spec_versions",
    "spec_operations",
    "outbound_allowlist",
)


def upgrade() -> None:
    # btree_gin lets the search index lead with tenant_id like every other index.
    op.execute("create extension if not exists btree_gin")
    op.execute(
        """
        create table doc_pages (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            product_id uuid not null,
            parent_id uuid,
            depth smallint not null constraint ck_doc_pages_depth check (depth between 1 and 3),
            sort_order integer not null default 0,
            slug varchar(100) not null,
            title varchar(200) not null,
            status varchar(10) not null default 'DRAFT'
                constraint ck_doc_pages_status check (status in ('DRAFT', 'PUBLISHED')),
            markdown text not null default '',
            current_version integer not null default 1,
            search tsvector generated always as (
                setweight(to_tsvector('english', title), 'A')
                || setweight(to_tsvector('english', markdown), 'B')
            ) stored,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            constraint pk_doc_pages primary key (tenant_id, id),
            constraint fk_doc_pages_tenant_id_product_id_products foreign key (tenant_id, product_id)
                references products (tenant_id, id) on delete cascade,
            constraint fk_doc_pages_tenant_id_parent_id_doc_pages foreign key (tenant_id, parent_id)
                references doc_pages (tenant_id, id) on delete cascade,
            constraint uq_doc_pages_tenant_id_product_id_parent_id_slug
                unique nulls not distinct (tenant_id, product_id, parent_id, slug)
        )"""
    )
    op.execute(
        "create index ix_doc_pages_tree on doc_pages (tenant_id, product_id, parent_id, sort_order)"
    )
    op.execute(
        "create index ix_doc_pages_search on doc_pages using gin (tenant_id, product_id, search)"
    )
    op.execute(
        """
        create table doc_page_versions (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            page_id uuid not null,
            number integer not null,
            title varchar(200) not null,
            markdown text not null,
            html text not null,
            toc jsonb not null default '[]',
            author_id uuid,
            created_at timestamptz not null default now(),
            constraint pk_doc_page_versions primary key (tenant_id, id),
            constraint fk_doc_page_versions_tenant_id_page_id_doc_pages foreign key (tenant_id, page_id)
                references doc_pages (tenant_id, id) on delete cascade,
            constraint fk_doc_page_versions_tenant_id_author_id_users foreign key (tenant_id, author_id)
                references users (tenant_id, id) on delete set null (author_id),
            constraint uq_doc_page_versions_tenant_id_page_id_number unique (tenant_id, page_id, number)
        )"""
    )
    op.execute(
        """
        create table api_specs (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            product_id uuid not null,
            name varchar(200) not null,
            format varchar(16) not null
                constraint ck_api_specs_format check (format in ('OPENAPI_3', 'GRAPHQL')),
            source_url varchar(2048),
            server_url varchar(2048),
            etag varchar(512),
            last_modified varchar(64),
            current_version integer not null default 0,
            last_checked_at timestamptz,
            last_error text,
            created_at timestamptz not null default now(),
            constraint pk_api_specs primary key (tenant_id, id),
            constraint fk_api_specs_tenant_id_product_id_products foreign key (tenant_id, product_id)
                references products (tenant_id, id) on delete cascade
        )"""
    )
    op.execute("create index ix_api_specs_product on api_specs (tenant_id, product_id)")
    op.execute(
        """
        create table spec_versions (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            spec_id uuid not null,
            number integer not null,
            content_hash bytea not null,
            source text not null,
            title varchar(500) not null,
            api_version varchar(100) not null default '',
            description text not null default '',
            servers jsonb not null default '[]',
            security_schemes jsonb not null default '{}',
            tags jsonb not null default '[]',
            created_at timestamptz not null default now(),
            constraint pk_spec_versions primary key (tenant_id, id),
            constraint fk_spec_versions_tenant_id_spec_id_api_specs foreign key (tenant_id, spec_id)
                references api_specs (tenant_id, id) on delete cascade,
            constraint uq_spec_versions_tenant_id_spec_id_number unique (tenant_id, spec_id, number),
            constraint uq_spec_versions_tenant_id_spec_id_content_hash
                unique (tenant_id, spec_id, content_hash)
        )"""
    )
    op.execute(
        """
        create table spec_operations (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            version_id uuid not null,
            position integer not null,
            key varchar(2100) not null,
            method varchar(16) not null,
            path varchar(2048) not null,
            operation_id varchar(300),
            summary text not null default '',
            description text not null default '',
            tags varchar(200)[] not null default '{}',
            deprecated boolean not null default false,
            parameters jsonb not null default '[]',
            request_body jsonb,
            responses jsonb not null default '[]',
            security jsonb not null default '[]',
            constraint pk_spec_operations primary key (tenant_id, id),
            constraint fk_spec_operations_tenant_id_version_id_spec_versions
                foreign key (tenant_id, version_id) references spec_versions (tenant_id, id)
                on delete cascade,
            constraint uq_spec_operations_tenant_id_version_id_position
                unique (tenant_id, version_id, position)
        )"""
    )
    op.execute(
        """
        create table outbound_allowlist (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            entry varchar(255) not null,
            note varchar(200) not null default '',
            created_at timestamptz not null default now(),
            constraint pk_outbound_allowlist primary key (tenant_id, id),
            constraint uq_outbound_allowlist_tenant_id_entry unique (tenant_id, entry)
        )"""
    )
    for table in TABLES:
        for s in tenant_table_sql(table):
            op.execute(s)
    # The sync scheduler runs before any tenant is bound: it lists due URL specs of every tenant.
    for s in ops_function_sql(
        "spec_sync_due(timestamptz, integer)",
        """
        create function ops.spec_sync_due(p_before timestamptz, p_limit integer)
        returns table (tenant_id uuid, spec_id uuid)
        language sql stable security definer set search_path = public, pg_temp as $$
          select s.tenant_id, s.id from api_specs s
          where s.source_url is not null
            and (s.last_checked_at is null or s.last_checked_at < p_before)
          order by s.last_checked_at nulls first
          limit p_limit
        $$""",
    ):
        op.execute(s)


def downgrade() -> None:
    op.execute("drop function ops.spec_sync_due(timestamptz, integer)")
    for table in reversed(TABLES):
        op.execute(f"drop table {table}")
