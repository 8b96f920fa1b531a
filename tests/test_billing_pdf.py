"""Invoice PDFs under the tenant's brand: served to the session or a signed link only, parsed
back to compare with the invoice, rendered to an image to see that it drew."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import pypdfium2
from PIL import Image
from pypdf import PdfReader

from aforo.services.billing.pdf import LINK_AUDIENCE
from tests.gateway import app_of
from tests.support import Api
from tests.test_billing_helpers import (
    Billing,
    another_subscriber,
    backdate,
    close_periods,
    event,
    finalize,
    ingest,
    make_billing,
    past_anchor,
    set_settings,
)

BRAND = (0x1A, 0x73, 0xE8)


def logo_png() -> bytes:
    img = Image.new("RGB", (120, 40), (220, 20, 60))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def text_of(pdf: bytes) -> str:
    """The PDF's text, whitespace collapsed (extraction breaks lines where the layout wraps)."""
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


async def test_the_pdf_shows_the_invoice_under_the_tenants_brand(api: Api) -> None:
    b = await make_billing(api)
    await settings_are_validated_field_by_field(api, b)  # (below) and charges likewise
    await set_settings(
        api,
        b.admin,
        brandName="Météo Acme",
        brandColor="#1A73E8",
        logoBase64=base64.b64encode(logo_png()).decode(),
        address="1 Rue du Ciel\n75001 Paris",
        footer="Paid by card within 14 days. Thank you.",
        taxRate="20",
        taxLabel="TVA",
    )
    start = past_anchor(40)
    await backdate(api.settings, b.tenant.id, b.sub, start)
    await ingest(
        api,
        b.gateway,
        [
            event("c", "api_calls", "11500", start, b.key),
            event("t", "tokens", "1300.5", start, b.key),
        ],
    )
    (draft,) = await close_periods(api, b.admin)
    r = await api.client.get(draft["pdfPath"], headers={"Authorization": f"Bearer {b.admin}"})
    assert "Invoice (draft, not numbered) DRAFT" in text_of(r.content)  # marked as such
    inv = await finalize(api, b.admin, draft["id"])
    path = inv["pdfPath"]
    assert path == f"/v1/billing/invoices/{inv['id']}.pdf"

    r = await api.client.get(path, headers={"Authorization": f"Bearer {b.dev}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'inline; filename="invoice-{inv["number"]}.pdf"'
    assert r.headers["cache-control"] == "private, no-store"

    # Parsed back: the brand, the customer, every line's amount and the totals, as invoiced.
    text = text_of(r.content)
    for expected in (
        "Météo Acme",
        "75001 Paris",
        f"Invoice {inv['number']}",
        inv["customerEmail"],
        "Paid by card within 14 days.",
        *(f"USD {x['amount']['amount']}" for x in inv["lines"]),
        f"Subtotal USD {inv['subtotal']['amount']}",
        f"TVA (20%) USD {inv['tax']['amount']}",
        f"Total USD {inv['total']['amount']}",
        "Over 10,000: 1,500 x 0.001 + 1.00 = 2.500",  # the tier breakdown
        "500 units included; billable 800.5",
    ):
        assert expected in text, (expected, text)
    assert inv["total"]["amount"] == "47.78"  # 39.82 (19.00 + 20.50 + 0.32) + 7.96 VAT

    # Rendered to PNG: an A4 page that drew the brand band and the logo, not a blank sheet.
    page = pypdfium2.PdfDocument(r.content)[0]
    png = io.BytesIO()
    page.render(scale=1).to_pil().save(png, format="PNG")
    image = Image.open(io.BytesIO(png.getvalue())).convert("RGB")
    assert image.size == (596, 842)  # A4, 595.3 x 841.9 points, whole pixels
    raw = image.tobytes()
    pixels = [tuple(raw[i : i + 3]) for i in range(0, len(raw), 3)]
    near = sum(1 for p in pixels if all(abs(a - c) < 8 for a, c in zip(p, BRAND, strict=True)))
    logo = sum(1 for p in pixels if p[0] > 200 and p[1] < 40 and p[2] < 80)
    ink = sum(1 for p in pixels if sum(p) < 200)  # dark text
    assert near > 20_000 and logo > 2_000 and ink > 1_000, (near, logo, ink)

    # A signed link opens it without a session, for this invoice only and not for long.
    d = await api.data(
        "query($id: ID!) { invoice(id: $id) { pdfUrl } }", {"id": inv["id"]}, token=b.dev
    )
    link = d["invoice"]["pdfUrl"]
    assert link.startswith(path + "?token=")
    r = await api.client.get(link)
    assert r.status_code == 200 and f"Total USD {inv['total']['amount']}" in text_of(r.content)
    token = link.split("token=")[1]
    ring = app_of(api).state.runtime.auth.ring
    issuer = app_of(api).state.runtime.auth.issuer
    expired, _ = ring.sign(
        {"sub": inv["id"], "tid": b.tenant.id, "aud": LINK_AUDIENCE, "iss": issuer}, ttl_s=-5
    )
    other_invoice = f"/v1/billing/invoices/{uuid.uuid4()}.pdf"
    for url, code in (
        (f"{path}?token={expired}", "LINK_EXPIRED"),
        (f"{other_invoice}?token={token}", "INVALID_TOKEN"),  # another invoice's path
        (f"{path}?token={token[:-4]}AAAA", "INVALID_TOKEN"),
        (f"{path}?token={b.dev}", "INVALID_TOKEN"),  # a session token is not a link
        (path, "UNAUTHENTICATED"),
    ):
        r = await api.client.get(url)
        assert (r.status_code, r.json()["error"]["code"]) == (401, code), url

    # Sessions: the admin may, another developer of the tenant may not (as if it did not exist).
    stranger, _, _ = await another_subscriber(api, b, "stranger@example.com")
    r = await api.client.get(path, headers={"Authorization": f"Bearer {b.admin}"})
    assert r.status_code == 200
    for url in (path, "/v1/billing/invoices/not-an-id.pdf"):
        r = await api.client.get(url, headers={"Authorization": f"Bearer {stranger}"})
        assert (r.status_code, r.json()["error"]["code"]) == (404, "NOT_FOUND")


async def settings_are_validated_field_by_field(api: Api, b: Billing) -> None:
    d = await api.data(
        "{ billingSettings { taxRate taxLabel invoicePrefix paymentTermsDays hasLogo brandName } }",
        token=b.admin,
    )
    assert d["billingSettings"] == {
        "taxRate": "0",
        "taxLabel": "Tax",
        "invoicePrefix": "INV",
        "paymentTermsDays": 0,
        "hasLogo": False,
        "brandName": None,
    }
    q = """mutation($i: BillingSettingsInput!) { updateBillingSettings(input: $i) {
             __typename ... on UserError { code field } } }"""
    cases: list[tuple[dict[str, Any], str]] = [
        ({"taxRate": "100.5"}, "taxRate"),
        ({"taxRate": "-1"}, "taxRate"),
        ({"taxRate": "8.12345"}, "taxRate"),
        ({"taxLabel": " "}, "taxLabel"),
        ({"invoicePrefix": "inv"}, "invoicePrefix"),
        ({"invoicePrefix": "A" * 13}, "invoicePrefix"),
        ({"paymentTermsDays": 400}, "paymentTermsDays"),
        ({"brandColor": "blue"}, "brandColor"),
        ({"logoBase64": "%%%"}, "logoBase64"),
        ({"logoBase64": base64.b64encode(b"GIF89a not really").decode()}, "logo"),
        ({"logoBase64": base64.b64encode(b"x" * 150_000).decode()}, "logo"),
        ({"brandName": "x" * 201}, "brandName"),
    ]
    for values, field in cases:
        got = (await api.data(q, {"i": values}, token=b.admin))["updateBillingSettings"]
        assert (got["__typename"], got["code"], got["field"]) == ("UserError", "INVALID", field), (
            values
        )
    # A control character is refused for every text input, before the mutation runs.
    body = await api.gql(q, {"i": {"address": "line\u0000"}}, token=b.admin)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID_CHARACTERS"
    assert error["extensions"]["field"].endswith("address")
    # Nothing of the refused inputs was kept; a valid update keeps what it does not name.
    await set_settings(
        api, b.admin, taxRate="7.5", logoBase64=base64.b64encode(logo_png()).decode()
    )
    kept = await set_settings(api, b.admin, brandColor="#00AA00")
    assert (kept["taxRate"], kept["hasLogo"], kept["brandColor"]) == ("7.5", True, "#00aa00")
    cleared = await set_settings(api, b.admin, clearLogo=True, brandColor="")
    assert (cleared["hasLogo"], cleared["brandColor"]) == (False, None)
    # A plan's charges are checked the same way, the field naming the charge and the tier.
    q = """mutation($i: CreatePlanInput!) { createPlan(input: $i) { __typename
             ... on UserError { code field } } }"""
    plan = {"productId": b.product, "name": "Bad", "slug": "bad", "priceCents": 0}
    plan |= {"currency": "USD", "interval": "MONTH"}
    for charges, field in (
        ([{"metric": "calls", "model": "PER_UNIT"}], "charges[0].unitPrice"),
        (
            [
                {"metric": "calls", "model": "PER_UNIT", "unitPrice": "1"},
                {"metric": "gb", "model": "VOLUME", "tiers": [{"upTo": "5", "unitPrice": "1"}]},
            ],
            "charges[1].tiers[0].upTo",
        ),
        ([{"metric": "calls", "model": "PER_UNIT", "unitPrice": "1e-13"}], "charges[0].unitPrice"),
    ):
        got = (await api.data(q, {"i": {**plan, "charges": charges}}, token=b.admin))["createPlan"]
        assert (got.get("code"), got.get("field")) == ("INVALID", field), (charges, got)
    # A JSON number is read as written (its shortest decimal form), never as a binary float.
    created = await api.data(
        """mutation($i: CreatePlanInput!) { createPlan(input: $i) {
             ... on Plan { charges { unitPrice } } } }""",
        {"i": {**plan, "charges": [{"metric": "c", "model": "PER_UNIT", "unitPrice": 0.1}]}},
        token=b.admin,
    )
    assert created["createPlan"]["charges"] == [{"unitPrice": "0.1"}]
