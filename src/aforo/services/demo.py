"""The demo tenant's content, so a first GraphiQL session has something to read: a product
with a plan, published guide pages, an imported OpenAPI spec, a forum category and a thread."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from aforo.services import accounts, billing, docs, forum, specs, tenants

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Weather API", "version": "1.0.0"},
    "servers": [{"url": "https://api.weather.example"}],
    "paths": {
        "/forecast/{city}": {
            "get": {
                "operationId": "getForecast",
                "summary": "Tomorrow's forecast for a city",
                "parameters": [
                    {"name": "city", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "units",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["metric", "imperial"]},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the forecast",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "city": {"type": "string"},
                                        "high": {"type": "number"},
                                        "low": {"type": "number"},
                                    },
                                },
                                "example": {"city": "oslo", "high": 12.5, "low": 4.0},
                            }
                        },
                    }
                },
            }
        }
    },
}
GUIDES = (
    (
        "Getting started",
        "# Getting started\n\nSubscribe to the **Starter** plan, create an API key and call "
        "`GET /forecast/{city}` with it in `Authorization: Bearer`.\n",
    ),
    (
        "Authentication",
        "# Authentication\n\nEvery call carries your API key. Keys are shown once; rotate "
        "them with a grace period so deployments never break.\n",
    ),
)


async def seed(session: AsyncSession, admin_email: str) -> None:
    """Fill a freshly provisioned tenant (the session is bound to it)."""
    admin = await accounts.user_by_email(session, admin_email)
    product = await billing.create_product(
        session,
        name="Weather API",
        slug="weather",
        description="Forecasts for every city, by the hour.",
    )
    await billing.create_plan(
        session,
        billing.PlanInput(
            product_id=product.id,
            name="Starter",
            slug="starter",
            price_cents=0,
            currency="USD",
            interval="MONTH",
            monthly_quota=10_000,
            rate_limit_per_minute=60,
        ),
    )
    for title, body in GUIDES:
        await docs.create_page(
            session,
            product_id=product.id,
            title=title,
            markdown_source=body,
            status="PUBLISHED",
            author_id=admin.id,
        )
    await specs.import_spec(
        session, product_id=product.id, format="OPENAPI_3", content=json.dumps(SPEC)
    )
    category = await forum.save_category(
        session,
        category_id=None,
        name="Questions",
        description="Ask the community and the team",
        parent_id=None,
        position=0,
    )
    await forum.create_thread(
        session,
        forum.Actor(admin.id, moderator=True),
        category_id=category.id,
        title="How do I get my first API key?",
        body="Subscribe to a plan, then create a key under *API keys*: it is shown once.",
        tags=["keys", "getting-started"],
    )


async def provision_demo(session: AsyncSession) -> tenants.ProvisionedTenant:
    demo = await tenants.provision_tenant(session, "Demo", slug="demo")
    await seed(session, demo.admin_email)
    return demo
