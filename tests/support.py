"""Test helpers: factories (plain async functions) and a GraphQL client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from aforo.config import Settings
from aforo.db import create_engine, sessionmaker
from aforo.services import tenants
from aforo.tenancy.context import Role
from tests.mailbox import Mailbox, token_of


@dataclass
class TenantFixture:
    id: str
    slug: str
    storefront_key: str
    admin_email: str
    admin_password: str


async def make_tenant(
    settings: Settings, name: str = "Acme", slug: str | None = None
) -> TenantFixture:
    """Provision a tenant through the owner connection, as ``aforo tenant create`` does."""
    engine = create_engine(settings.owner_url or "", pool_size=1)
    try:
        async with sessionmaker(engine)() as s, s.begin():
            p = await tenants.provision_tenant(s, name, slug=slug)
    finally:
        await engine.dispose()
    return TenantFixture(
        str(p.tenant.id), p.tenant.slug, p.storefront_key, p.admin_email, p.admin_password
    )


class Api:
    """POSTs GraphQL over the ASGI app, as a tenant frontend would."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        # The app's outgoing mail (.eml files): each message is handed out once.
        self.mailbox = Mailbox(settings.mail_dir)

    async def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        storefront: str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        h = dict(headers or {})
        if storefront:
            h["X-Storefront-Key"] = storefront
        if token:
            h["Authorization"] = f"Bearer {token}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=h
        )

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        r = await self.raw(query, variables, **kw)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        body = await self.gql(query, variables, **kw)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def sign_up(
        self,
        tenant: TenantFixture,
        email: str,
        password: str = "correct horse battery",
        name: str = "Dev",
    ) -> dict[str, Any]:
        """Sign up and verify the address with the mailed link, as a new developer does;
        returns the session ``verifyEmail`` signs in with (accessToken, refreshToken, user)."""
        d = await self.data(
            """mutation($i: SignUpInput!) { signUp(input: $i) {
                 __typename ... on UserError { code message field } } }""",
            {"i": {"email": email, "password": password, "name": name}},
            storefront=tenant.storefront_key,
        )
        assert d["signUp"]["__typename"] == "SignUpAccepted", d
        msg = await self.mailbox.wait(email.lower(), "Confirm your email")
        return await self.verify_email(tenant, token_of(msg))

    async def verify_email(self, tenant: TenantFixture, token: str) -> dict[str, Any]:
        d = await self.data(
            """mutation($t: String!) { verifyEmail(token: $t) { __typename
                 ... on EmailVerified { session {
                       accessToken refreshToken user { id email roles } } }
                 ... on UserError { code message field } } }""",
            {"t": token},
            storefront=tenant.storefront_key,
        )
        assert d["verifyEmail"]["__typename"] == "EmailVerified", d
        session: dict[str, Any] = d["verifyEmail"]["session"]
        return session

    async def log_in(self, tenant: TenantFixture, email: str, password: str) -> dict[str, Any]:
        d = await self.data(
            """mutation($i: LogInInput!) { logIn(input: $i) {
                 __typename
                 ... on AuthPayload { accessToken refreshToken user { id email roles } }
                 ... on UserError { code message field } } }""",
            {"i": {"email": email, "password": password}},
            storefront=tenant.storefront_key,
        )
        result: dict[str, Any] = d["logIn"]
        return result

    async def admin_token(self, tenant: TenantFixture) -> str:
        r = await self.log_in(tenant, tenant.admin_email, tenant.admin_password)
        assert r["__typename"] == "AuthPayload", r
        assert Role.ADMIN.value in r["user"]["roles"]
        token: str = r["accessToken"]
        return token
