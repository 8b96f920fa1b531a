"""Tenant isolation is enforced by PostgreSQL row-level security, not by WHERE clauses."""

from __future__ import annotations

import asyncpg
import pytest

from aforo.config import Settings
from aforo.runtime.postgres import EmbeddedPostgres
from tests.support import Api, make_tenant


async def _connect(pg: EmbeddedPostgres, role: str, database: str) -> asyncpg.Connection:
    creds = pg.credentials()
    return await asyncpg.connect(
        host="127.0.0.1", port=pg.port, user=role, password=creds[role], database=database
    )


async def test_every_tenant_table_has_forced_rls_and_a_policy(
    pg: EmbeddedPostgres, database: str
) -> None:
    conn = await _connect(pg, "aforo_owner", database)
    try:
        rows = await conn.fetch(
            """
            select c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   (select count(*) from pg_policy p where p.polrelid = c.oid) as policies,
                   (select string_agg(pg_get_expr(p.polqual, p.polrelid), ' ')
                      from pg_policy p where p.polrelid = c.oid) as quals
            from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
            where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
            """
        )
    finally:
        await conn.close()
    assert len(rows) >= 5, "expected the foundation's tenant tables"
    for r in rows:
        assert r["relrowsecurity"] and r["relforcerowsecurity"], f"{r['relname']}: RLS not forced"
        assert r["policies"] >= 1, f"{r['relname']}: no policy"
        assert "app.tenant_id" in r["quals"], f"{r['relname']}: policy not on app.tenant_id"


async def test_app_role_cannot_bypass_rls(pg: EmbeddedPostgres, database: str) -> None:
    conn = await _connect(pg, "aforo_app", database)
    try:
        row = await conn.fetchrow(
            "select rolsuper, rolbypassrls, rolcreaterole from pg_roles "
            "where rolname = current_user"
        )
        assert row is not None
        assert not row["rolsuper"] and not row["rolbypassrls"] and not row["rolcreaterole"]
        # Owning no table: FORCE aside, an owner would be exempt from its own policies.
        owned = await conn.fetchval(
            "select count(*) from pg_class c join pg_roles r on r.oid = c.relowner "
            "where r.rolname = current_user"
        )
        assert owned == 0
    finally:
        await conn.close()


async def test_no_tenant_bound_means_zero_rows(
    settings: Settings, pg: EmbeddedPostgres, database: str
) -> None:
    await make_tenant(settings, "One")
    conn = await _connect(pg, "aforo_app", database)
    try:
        for table in ("users", "storefront_keys", "outbox", "tenants"):
            assert await conn.fetchval(f"select count(*) from {table}") == 0, table
        async with conn.transaction():
            await conn.execute("select set_config('app.tenant_id', '', true)")
            assert await conn.fetchval("select count(*) from users") == 0
    finally:
        await conn.close()


async def test_direct_sql_on_app_role_is_confined_to_the_bound_tenant(
    settings: Settings, pg: EmbeddedPostgres, database: str
) -> None:
    a = await make_tenant(settings, "Alpha")
    b = await make_tenant(settings, "Beta")
    conn = await _connect(pg, "aforo_app", database)
    try:
        async with conn.transaction():
            await conn.execute("select set_config('app.tenant_id', $1, true)", b.id)
            emails = [r["email"] for r in await conn.fetch("select email from users")]
            assert emails == [b.admin_email]
            assert await conn.fetchval("select count(*) from tenants") == 1
            # Updates and deletes cannot reach A's rows ...
            assert (
                await conn.execute("update users set name = 'x' where tenant_id = $1::uuid", a.id)
                == "UPDATE 0"
            )
            assert (
                await conn.execute("delete from users where tenant_id = $1::uuid", a.id)
                == "DELETE 0"
            )
            # ... and an insert claiming A's tenant id is refused by the policy.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "insert into users (tenant_id, email, name, password_hash) "
                    "values ($1::uuid, 'mallory@x.io', 'M', 'x')",
                    a.id,
                )
    finally:
        await conn.close()
    # A's admin is intact.
    owner = await _connect(pg, "aforo_owner", database)
    try:
        assert (
            await owner.fetchval("select name from users where tenant_id = $1::uuid", a.id)
            == "Admin"
        )
    finally:
        await owner.close()


async def test_graphql_tenant_b_sees_nothing_of_tenant_a(api: Api) -> None:
    a = await make_tenant(api.settings, "Alpha")
    b = await make_tenant(api.settings, "Beta")
    dev_a = await api.sign_up(a, "dev@alpha.io")
    admin_b = await api.admin_token(b)

    d = await api.data("{ tenant { id name } users { id email } }", token=admin_b)
    assert d["tenant"] == {"id": b.id, "name": "Beta"}
    assert [u["email"] for u in d["users"]] == [b.admin_email]

    # B's admin cannot change A's user through an id it learned elsewhere.
    d = await api.data(
        """mutation($u: ID!) { setUserRoles(userId: $u, roles: [ADMIN]) {
             __typename ... on UserError { code field } } }""",
        {"u": dev_a["user"]["id"]},
        token=admin_b,
    )
    assert d["setUserRoles"] == {"__typename": "UserError", "code": "NOT_FOUND", "field": "id"}
    me = await api.data("{ me { roles } }", token=dev_a["accessToken"])
    assert me["me"]["roles"] == ["DEVELOPER"]

    # A's access token presented with B's storefront key is refused, not re-scoped.
    r = await api.raw("{ me { id } }", token=dev_a["accessToken"], storefront=b.storefront_key)
    assert r.status_code == 200 and "data" not in r.json()  # a GraphQL refusal (application/json)
    assert r.json()["errors"][0]["extensions"]["code"] == "TENANT_MISMATCH"
