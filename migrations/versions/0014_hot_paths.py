"""Hot paths: the shared cache of several workers, and a try-it run's target in one read.

* ``shared_cache``: what the worker processes of one machine share when Redis is not
  configured. An UNLOGGED table (no write-ahead log: an entry is a cache, lost with a crash)
  used as a key/value store with expiry, as Redis would be: try-it rate counters and run logs
  today. Keys carry the tenant id, as Redis keys do.
* ``playground_target(tenant, operation)``: what a try-it run needs of an operation, its spec
  version, its spec and the tenant's allow-list, in one statement that binds the tenant for
  itself (``set_config(..., true)``: for this statement's transaction only, so row-level
  security applies as in any request). One round trip on a bare connection, where a session
  spends five (ping, begin, binding, select, commit). SECURITY INVOKER: it runs as the app
  role and sees only what that tenant's rows allow.

Nothing else references them, so their place in the chain does not matter.

Revision ID: 0014_hot_paths
Revises: 0007_playground
"""

from alembic import op

from aforo.rls import APP_ROLE

revision = "0014_hot_paths"
down_revision = "0007_playground"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create unlogged table shared_cache (
            key text not null,
            value bytea,
            counter bigint not null default 0,
            expires_at timestamptz not null,
            constraint pk_shared_cache primary key (key)
        )"""
    )
    op.execute("create index ix_shared_cache_expires_at on shared_cache (expires_at)")
    op.execute(f"grant select, insert, update, delete on shared_cache to {APP_ROLE}")
    op.execute(
        """
        create function playground_target(p_tenant uuid, p_operation uuid)
        returns table (
            op spec_operations,
            format text,
            server_url text,
            source_url text,
            servers jsonb,
            security_schemes jsonb,
            allow text[]
        )
        language plpgsql security invoker as $$
        begin
            perform set_config('app.tenant_id', p_tenant::text, true);
            return query
                select o, s.format::text, s.server_url::text, s.source_url::text,
                       v.servers, v.security_schemes,
                       array(select a.entry::text from outbound_allowlist a)
                  from spec_operations o
                  join spec_versions v on v.tenant_id = o.tenant_id and v.id = o.version_id
                  join api_specs s on s.tenant_id = v.tenant_id and s.id = v.spec_id
                 where o.id = p_operation;
        end
        $$"""
    )
    op.execute("revoke all on function playground_target(uuid, uuid) from public")
    op.execute(f"grant execute on function playground_target(uuid, uuid) to {APP_ROLE}")


def downgrade() -> None:
    op.execute("drop function playground_target(uuid, uuid)")
    op.execute("drop table shared_cache")
