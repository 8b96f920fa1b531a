"""DDL helpers for migrations: row-level security on tenant tables, and the ops functions.

Every tenant-owned table gets RLS enabled *and forced* (so even its owner is filtered) with one
policy comparing ``tenant_id`` to the transaction's ``app.tenant_id``. With no tenant bound the
setting is empty, ``nullif`` turns it into NULL and no row matches: fail closed.
"""

from __future__ import annotations

APP_ROLE = "aforo_app"
OPS_ROLE = "aforo_ops"
CURRENT_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"


def tenant_table_sql(table: str, *, column: str = "tenant_id") -> list[str]:
    return [
        f"alter table {table} enable row level security",
        f"alter table {table} force row level security",
        f"create policy tenant_isolation on {table} "
        f"using ({column} = {CURRENT_TENANT}) with check ({column} = {CURRENT_TENANT})",
        f"grant select, insert, update, delete on {table} to {APP_ROLE}",
        f"grant select, update on {table} to {OPS_ROLE}",
    ]


def roles_sql() -> list[str]:
    """The app role serves requests; the ops role owns the few cross-tenant lookup functions."""
    return [
        f"""do $$ begin
              if not exists (select 1 from pg_roles where rolname = '{APP_ROLE}') then
                create role {APP_ROLE} nologin nosuperuser nobypassrls;
              end if;
              if not exists (select 1 from pg_roles where rolname = '{OPS_ROLE}') then
                create role {OPS_ROLE} nologin nosuperuser bypassrls;
              end if;
            end $$""",
        "create schema if not exists ops",
        f"grant usage on schema ops to {APP_ROLE}",
        f"grant usage on schema public to {APP_ROLE}, {OPS_ROLE}",
        f"grant create on schema ops to {OPS_ROLE}",
    ]


def ops_function_sql(name_and_args: str, body: str) -> list[str]:
    """A SECURITY DEFINER function owned by the BYPASSRLS ops role, callable by the app role.

    This is the only way the app crosses tenants; ``grep -r ops_function_sql`` lists them all.
    """
    return [
        body,
        f"alter function ops.{name_and_args} owner to {OPS_ROLE}",
        f"revoke all on function ops.{name_and_args} from public",
        f"grant execute on function ops.{name_and_args} to {APP_ROLE}",
    ]
