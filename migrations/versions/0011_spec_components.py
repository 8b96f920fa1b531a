"""Specs: components stored once; what a complete reference needs; order kept.

- ``spec_components``: the named schemas (and other components) of a version, stored once;
  operations keep their ``$ref``s and reads expand them to a depth.
- ``spec_operations``: ``kind`` (operation, webhook, callback), ``parent_key`` of a callback,
  ``extra`` (externalDocs, servers, callback name).
- ``spec_versions``: ``info``, ``external_docs``, ``tag_groups``, ``conversions`` (Swagger 2.0 →
  OpenAPI 3.0), ``source_version``, ``files`` (of a multi-file spec), ``operation_count``.
- The JSON columns of both become ``json`` (text as written) instead of ``jsonb``: ``jsonb``
  reorders object keys, and a reference must show properties in the order the spec gives.
- Large values are compressed with lz4 where the server has it.

Revision ID: 0011_spec_components
Revises: 0010_usage_mappings
"""

from alembic import op

from aforo.rls import tenant_table_sql

revision = "0011_spec_components"
down_revision = "0010_usage_mappings"
branch_labels = None
depends_on = None

_OPERATION_JSON = ("parameters", "request_body", "responses", "security")
_VERSION_JSON = ("servers", "security_schemes", "tags")


def upgrade() -> None:
    op.execute(
        """
        create table spec_components (
            tenant_id uuid not null references tenants(id),
            id uuid not null default gen_random_uuid(),
            version_id uuid not null,
            position integer not null,
            kind varchar(20) not null,
            name varchar(500) not null,
            ref varchar(2100) not null,
            body json not null,
            constraint pk_spec_components primary key (tenant_id, id),
            constraint fk_spec_components_tenant_id_version_id_spec_versions
                foreign key (tenant_id, version_id) references spec_versions (tenant_id, id)
                on delete cascade,
            constraint uq_spec_components_tenant_id_version_id_ref unique (tenant_id, version_id, ref)
        )"""
    )
    op.execute(
        "create index ix_spec_components_listing on spec_components "
        "(tenant_id, version_id, kind, position)"
    )
    for s in tenant_table_sql("spec_components"):
        op.execute(s)
    for column in _OPERATION_JSON:
        op.execute(
            f"alter table spec_operations alter column {column} drop default, "
            f"alter column {column} type json using {column}::text::json"
        )
    op.execute("alter table spec_operations alter column parameters set default '[]'")
    op.execute("alter table spec_operations alter column responses set default '[]'")
    op.execute("alter table spec_operations alter column security set default '[]'")
    op.execute(
        """
        alter table spec_operations
            add column kind varchar(16) not null default 'operation'
                constraint ck_spec_operations_kind check (kind in ('operation', 'webhook', 'callback')),
            add column parent_key varchar(2100),
            add column extra json not null default '{}'
        """
    )
    op.execute(
        "create index ix_spec_operations_kind on spec_operations "
        "(tenant_id, version_id, kind, position)"
    )
    for column in _VERSION_JSON:
        op.execute(
            f"alter table spec_versions alter column {column} drop default, "
            f"alter column {column} type json using {column}::text::json"
        )
    op.execute("alter table spec_versions alter column servers set default '[]'")
    op.execute("alter table spec_versions alter column security_schemes set default '{}'")
    op.execute("alter table spec_versions alter column tags set default '[]'")
    op.execute(
        """
        alter table spec_versions
            add column info json not null default '{}',
            add column external_docs json,
            add column tag_groups json not null default '[]',
            add column conversions json not null default '[]',
            add column source_version varchar(40) not null default '',
            add column files varchar(2048)[] not null default '{}',
            add column operation_count integer not null default 0
        """
    )
    # lz4 compresses the large values (a 4 MB source, big schemas) several times faster than
    # PostgreSQL's default pglz; a server built without lz4 keeps pglz.
    op.execute(
        """
        do $$ begin
            alter table spec_versions alter column source set compression lz4;
            alter table spec_components alter column body set compression lz4;
            alter table spec_operations alter column responses set compression lz4;
        exception when feature_not_supported or invalid_parameter_value then null;
        end $$
        """
    )
    op.execute(
        """
        update spec_versions v set operation_count = (
            select count(*) from spec_operations o
            where o.tenant_id = v.tenant_id and o.version_id = v.id)
        """
    )
    # Tags now carry their operation counts, and the tags operations use without declaring
    # them (``default`` for untagged ones), as imports store them from now on.
    op.execute(
        """
        update spec_versions v set tags = (
            with used as (
                select t.name, count(*) as n, min(o.position) as first
                from spec_operations o
                cross join lateral unnest(
                    coalesce(nullif(o.tags, '{}'::varchar[]), array['default']::varchar[])
                ) as t(name)
                where o.tenant_id = v.tenant_id and o.version_id = v.id
                group by t.name
            ),
            declared as (
                select d.value as tag, d.position
                from json_array_elements(v.tags) with ordinality as d(value, position)
            )
            select coalesce(json_agg(x.tag order by x.position), '[]'::json) from (
                select (d.tag::jsonb || jsonb_build_object(
                            'declared', true, 'operationCount', coalesce(u.n, 0)))::json as tag,
                       d.position
                from declared d left join used u on u.name = d.tag->>'name'
                union all
                select json_build_object('name', u.name, 'description', '', 'declared', false,
                                         'operationCount', u.n),
                       1000000 + u.first
                from used u
                where u.name not in (select d.tag->>'name' from declared d)
            ) x
        )
        """
    )


def downgrade() -> None:
    op.execute(
        """
        alter table spec_versions
            drop column info, drop column external_docs, drop column tag_groups,
            drop column conversions, drop column source_version, drop column files,
            drop column operation_count
        """
    )
    for column in _VERSION_JSON:
        op.execute(
            f"alter table spec_versions alter column {column} type jsonb using {column}::jsonb"
        )
    op.execute("drop index ix_spec_operations_kind")
    op.execute(
        "alter table spec_operations drop column kind, drop column parent_key, drop column extra"
    )
    for column in _OPERATION_JSON:
        op.execute(
            f"alter table spec_operations alter column {column} type jsonb using {column}::jsonb"
        )
    op.execute("drop table spec_components")
