"""The isolation table: for every root field of the live schema (``Type.field``), the argument
sets tenant B's callers send against tenant A's data, and what B's admin must get back.

A field added to the schema without a row here fails ``test_every_field_has_a_case``; a row
whose field is gone fails it too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.test_playground_support import openapi
from tests.world import Served, World, document

Args = Callable[[World, World], list[dict[str, Any]]]
ANY = None  # B's admin may succeed (acting on B's own data) or get a typed error


@dataclass(frozen=True)
class Case:
    args: Args
    # Mutations: the codes B's admin may get (a typed error is required); ``ANY``: the call
    # acts on B's own data and may succeed. Queries: ignored (they must simply not leak).
    expect: frozenset[str] | None = frozenset({"NOT_FOUND"})


def c(args: Args, *codes: str, any_outcome: bool = False) -> Case:
    if any_outcome:
        return Case(args, ANY)
    return Case(args, frozenset(codes or ("NOT_FOUND",)))


FAKE_TOKEN = "at_" + "0" * 43  # well-formed, never issued


def none(a: World, b: World) -> list[dict[str, Any]]:
    return [{}]


def _try(a: World, b: World) -> list[dict[str, Any]]:
    city = [{"name": "city", "value": "oslo"}]
    return [
        {"input": {"operationId": a.operation, "keyId": b.key, "pathParams": city}},
        {"input": {"operationId": b.operation, "keyId": a.key, "pathParams": city}},
        {"input": {"operationId": b.operation, "keyId": a.team_key, "pathParams": city}},
    ]


def _usage(a: World, b: World) -> list[dict[str, Any]]:
    return [
        {"granularity": "DAY"},
        {"granularity": "HOUR", "filter": {"subscriptionId": a.subscription}},
        {"granularity": "MONTH", "filter": {"keyId": a.key}},
    ]


CASES: dict[str, Case] = {
    # -- queries: lists without ids, lookups with A's ids ---------------------------------------
    "Query.tenant": c(none),
    "Query.storefrontKeys": c(none),
    "Query.allowedOrigins": c(none),
    "Query.edgeSettings": c(none),
    "Query.trustedDocuments": c(none),
    "Query.tenantSettingEvents": c(none),
    "Query.me": c(none),
    "Query.users": c(none),
    "Query.gatewayTokens": c(none),
    "Query.products": c(none),
    "Query.mySubscriptions": c(none),
    "Query.subscriptions": c(none),
    "Query.apiKeys": c(none),
    "Query.categories": c(none),
    "Query.threads": c(
        lambda a, b: [
            {},
            {"categoryId": a.category},
            {"tag": a.marker},
            {"includeRemoved": True},
        ]
    ),
    "Query.thread": c(lambda a, b: [{"id": a.thread}]),
    "Query.searchForum": c(lambda a, b: [{"query": a.marker}, {"query": "how things"}]),
    "Query.similarThreads": c(
        lambda a, b: [{"title": f"How to {a.marker} things", "body": f"{a.marker} body"}]
    ),
    "Query.communityProfile": c(lambda a, b: [{"userId": a.dev_id}, {"userId": a.mod_id}]),
    "Query.moderationQueue": c(lambda a, b: [{"status": s} for s in ("OPEN", "RESOLVED")]),
    "Query.moderationLog": c(lambda a, b: [{}, {"targetId": a.thread}]),
    "Query.docTree": c(lambda a, b: [{"productId": a.product}]),
    "Query.docPage": c(
        lambda a, b: [
            {"productId": a.product, "slug": a.doc_slug},
            {"productId": b.product, "slug": a.doc_slug},
        ]
    ),
    "Query.searchDocs": c(
        lambda a, b: [
            {"productId": p, "query": a.marker, "first": 10} for p in (a.product, b.product)
        ]
    ),
    "Query.apiSpecs": c(lambda a, b: [{"productId": a.product}]),
    "Query.apiSpec": c(lambda a, b: [{"id": a.spec}]),
    "Query.apiOperation": c(lambda a, b: [{"id": a.operation}]),
    "Query.specDiff": c(
        lambda a, b: [
            {"from": a.spec_version, "to": a.spec_version},
            {"from": b.spec_version, "to": a.spec_version},
        ]
    ),
    "Query.outboundAllowlist": c(none),
    "Query.usage": c(_usage),
    "Query.currentUsage": c(lambda a, b: [{"subscriptionId": a.subscription}]),
    "Query.usageEvents": c(lambda a, b: [{}, {"filter": {"keyId": a.key}}, {"source": "csv"}]),
    "Query.usageRejections": c(lambda a, b: [{}, {"uploadId": a.upload}]),
    "Query.usageUpload": c(lambda a, b: [{"id": a.upload}]),
    "Query.usageMappings": c(none),
    "Query.playgroundRuns": c(none),
    "Query.invoices": c(
        lambda a, b: [
            {},
            {"subscriptionId": a.subscription},
            {"subscriptionId": a.closed_sub, "status": "FINALIZED"},
        ]
    ),
    "Query.invoice": c(lambda a, b: [{"id": a.invoice}]),
    "Query.upcomingInvoice": c(
        lambda a, b: [{"subscriptionId": a.subscription}, {"subscriptionId": a.closed_sub}]
    ),
    "Query.billingSettings": c(none),
    "Query.integrationGuide": c(lambda a, b: [{"productId": a.product}]),
    "Query.twoFactor": c(none),
    "Query.sessions": c(none),
    "Query.accountSettings": c(none),
    "Query.mailBranding": c(none),
    "Query.emailPreview": c(lambda a, b: [{"template": "TEAM_INVITATION"}]),
    "Query.mailDeliveries": c(lambda a, b: [{}, {"status": "SENT"}]),
    "Query.teams": c(none),
    "Query.team": c(lambda a, b: [{"id": a.team}]),
    # -- mutations ------------------------------------------------------------------------------
    # B's own mapping (never A's); A's by name is not found.
    "Mutation.saveUsageMapping": c(
        lambda a, b: [{"input": {"name": "bravo-map", "fields": []}}], any_outcome=True
    ),
    "Mutation.deleteUsageMapping": c(lambda a, b: [{"name": a.mapping}]),
    "Mutation.createStorefrontKey": c(lambda a, b: [{"name": "bravo extra"}], any_outcome=True),
    "Mutation.revokeStorefrontKey": c(lambda a, b: [{"id": a.storefront_key_id}]),
    "Mutation.addAllowedOrigin": c(
        lambda a, b: [
            {"origin": "https://bravo.example.com", "storefrontKeyId": a.storefront_key_id}
        ]
    ),
    "Mutation.removeAllowedOrigin": c(lambda a, b: [{"id": a.allowed_origin}]),
    "Mutation.setTrustedDocumentsOnly": c(lambda a, b: [{"enabled": False}], any_outcome=True),
    "Mutation.registerTrustedDocuments": c(
        lambda a, b: [{"documents": ["{ tenant { id } }"]}], any_outcome=True
    ),
    "Mutation.removeTrustedDocument": c(lambda a, b: [{"sha256": a.trusted_document}]),
    # B's own new account: it never lands in A (the snapshot of A's users is unchanged).
    "Mutation.signUp": c(
        lambda a, b: [
            {
                "input": {
                    "email": "newcomer@example.com",
                    "password": "another horse battery",
                    "name": "Someone",
                }
            }
        ],
        any_outcome=True,
    ),
    "Mutation.logIn": c(
        lambda a, b: [
            {"input": {"email": f"dev-{a.marker}@example.com", "password": "correct horse battery"}}
        ],
        "INVALID_CREDENTIALS",
    ),
    "Mutation.refreshToken": c(lambda a, b: [{"token": a.dev_refresh}], "INVALID_TOKEN"),
    "Mutation.logOut": c(none, any_outcome=True),  # run last: it ends B's sessions
    "Mutation.setUserRoles": c(lambda a, b: [{"userId": a.dev_id, "roles": ["ADMIN"]}]),
    "Mutation.removeUser": c(lambda a, b: [{"userId": a.dev_id}]),
    "Mutation.createGatewayToken": c(lambda a, b: [{"name": "bravo edge"}], any_outcome=True),
    "Mutation.revokeGatewayToken": c(lambda a, b: [{"id": a.gateway_token_id}]),
    "Mutation.createProduct": c(
        lambda a, b: [{"input": {"name": "Bravo Two", "slug": "bravo-two"}}], any_outcome=True
    ),
    "Mutation.createPlan": c(
        lambda a, b: [
            {
                "input": {
                    "productId": a.product,
                    "name": "Hijack",
                    "slug": "hijack",
                    "priceCents": 0,
                    "currency": "USD",
                    "interval": "MONTH",
                }
            }
        ]
    ),
    "Mutation.archivePlan": c(lambda a, b: [{"id": a.plan}]),
    "Mutation.subscribe": c(
        lambda a, b: [{"planId": a.plan}, {"planId": b.plan, "teamId": a.team}]
    ),
    "Mutation.cancelSubscription": c(
        lambda a, b: [
            {"id": a.subscription},
            {"id": a.subscription, "atPeriodEnd": True},
            {"id": a.team_subscription},
        ]
    ),
    "Mutation.resumeSubscription": c(lambda a, b: [{"id": a.subscription}]),
    "Mutation.changeSubscriptionPlan": c(
        lambda a, b: [
            {"subscriptionId": a.subscription, "planId": a.metered_plan},
            {"subscriptionId": b.subscription, "planId": a.metered_plan},
        ]
    ),
    "Mutation.finalizeInvoice": c(lambda a, b: [{"id": a.invoice}]),
    "Mutation.voidInvoice": c(lambda a, b: [{"id": a.invoice, "reason": "bravo"}]),
    "Mutation.markInvoicePaid": c(lambda a, b: [{"id": a.invoice, "paymentReference": "x"}]),
    "Mutation.closeBillingPeriods": c(none, any_outcome=True),  # B's own due periods
    "Mutation.updateBillingSettings": c(
        lambda a, b: [{"input": {"brandName": "Bravo brand", "taxRate": "5"}}], any_outcome=True
    ),
    "Mutation.createApiKey": c(
        lambda a, b: [{"input": {"subscriptionId": a.subscription, "name": "hijack"}}]
    ),
    "Mutation.rotateApiKey": c(lambda a, b: [{"id": a.key, "graceSeconds": 0}]),
    "Mutation.revokeApiKey": c(lambda a, b: [{"id": a.key}, {"id": a.cc_key}]),
    "Mutation.saveCategory": c(
        lambda a, b: [
            {"input": {"id": a.category, "name": "Hijacked"}},
            {"input": {"name": "Child", "parentId": a.category}},
        ]
    ),
    "Mutation.createThread": c(
        lambda a, b: [{"input": {"categoryId": a.category, "title": "Hijack here", "body": "x"}}]
    ),
    "Mutation.editThread": c(
        lambda a, b: [
            {"input": {"id": a.thread, "title": "Hijacked title"}},
            {"input": {"id": b.thread, "categoryId": a.category}},
        ]
    ),
    "Mutation.deleteThread": c(lambda a, b: [{"id": a.thread}]),
    "Mutation.reply": c(
        lambda a, b: [
            {"threadId": a.thread, "body": "hijack"},
            {"threadId": b.thread, "body": "hijack", "parentReplyId": a.reply},
        ]
    ),
    "Mutation.editReply": c(lambda a, b: [{"id": a.reply, "body": "hijack"}]),
    "Mutation.deleteReply": c(lambda a, b: [{"id": a.reply}]),
    "Mutation.vote": c(
        lambda a, b: [
            {"targetType": "REPLY", "targetId": a.reply, "value": -1},
            {"targetType": "THREAD", "targetId": a.thread, "value": -1},
        ]
    ),
    "Mutation.acceptAnswer": c(lambda a, b: [{"replyId": a.spam_reply}]),
    "Mutation.unacceptAnswer": c(lambda a, b: [{"threadId": a.thread}]),
    "Mutation.report": c(
        lambda a, b: [
            {"targetType": "THREAD", "targetId": a.thread, "reason": "SPAM"},
            {"targetType": "REPLY", "targetId": a.reply, "reason": "OTHER", "note": "x"},
        ]
    ),
    "Mutation.moderate": c(
        lambda a, b: [
            {"input": {"action": "DISMISS", "reason": "x", "reportId": a.report}},
            {"input": {"action": "BAN", "reason": "x", "targetType": "USER", "targetId": a.dev_id}},
            {
                "input": {
                    "action": "SOFT_DELETE",
                    "reason": "x",
                    "targetType": "THREAD",
                    "targetId": a.thread,
                }
            },
            {
                "input": {
                    "action": "LOCK",
                    "reason": "x",
                    "targetType": "REPLY",
                    "targetId": a.reply,
                }
            },
        ]
    ),
    "Mutation.createDocPage": c(
        lambda a, b: [
            {"input": {"productId": a.product, "title": "Hijack"}},
            {"input": {"productId": b.product, "title": "Child", "parentId": a.doc_page}},
        ]
    ),
    "Mutation.updateDocPage": c(lambda a, b: [{"input": {"id": a.doc_page, "title": "Hijack"}}]),
    "Mutation.moveDocPage": c(
        lambda a, b: [
            {"id": a.doc_page, "position": 0},
            {"id": b.doc_page, "parentId": a.doc_page, "position": 0},
        ]
    ),
    "Mutation.deleteDocPage": c(lambda a, b: [{"id": a.doc_page}]),
    "Mutation.restoreDocPageVersion": c(lambda a, b: [{"id": a.doc_page, "version": 1}]),
    "Mutation.importSpec": c(
        lambda a, b: [
            {"input": {"productId": a.product, "format": "OPENAPI_3", "content": openapi([])}},
            {
                "input": {
                    "productId": b.product,
                    "format": "OPENAPI_3",
                    "content": openapi([]),
                    "specId": a.spec,
                }
            },
        ]
    ),
    "Mutation.syncSpec": c(lambda a, b: [{"id": a.spec}]),
    "Mutation.addOutboundAllow": c(
        lambda a, b: [{"entry": "127.0.0.2", "note": "bravo"}], any_outcome=True
    ),
    "Mutation.removeOutboundAllow": c(lambda a, b: [{"id": a.allow_entry}]),
    # -- accounts: mailed links, two-factor sign-in, sessions, policy, mail, teams -----------
    "Mutation.verifyEmail": c(lambda a, b: [{"token": FAKE_TOKEN}], "INVALID_TOKEN"),
    "Mutation.resendVerificationEmail": c(none, "ALREADY_VERIFIED"),
    "Mutation.requestPasswordReset": c(
        lambda a, b: [{"email": f"dev-{a.marker}@example.com"}], any_outcome=True
    ),
    "Mutation.resetPassword": c(
        lambda a, b: [{"token": FAKE_TOKEN, "newPassword": "a long new password"}],
        "INVALID_TOKEN",
    ),
    "Mutation.requestEmailChange": c(
        lambda a, b: [{"newEmail": f"dev-{a.marker}@example.com", "password": "nope nope"}],
        "INVALID_CREDENTIALS",
    ),
    "Mutation.confirmEmailChange": c(lambda a, b: [{"token": FAKE_TOKEN}], "INVALID_TOKEN"),
    "Mutation.logInSecondFactor": c(
        lambda a, b: [{"challenge": "mfa_" + "x" * 43, "code": "123456"}], "INVALID_CHALLENGE"
    ),
    "Mutation.beginTwoFactorEnrollment": c(
        lambda a, b: [{"password": "not the password"}], "INVALID_CREDENTIALS"
    ),
    "Mutation.confirmTwoFactorEnrollment": c(lambda a, b: [{"code": "123456"}], "NO_ENROLMENT"),
    "Mutation.regenerateRecoveryCodes": c(lambda a, b: [{"code": "123456"}], "NOT_ENABLED"),
    "Mutation.disableTwoFactor": c(
        lambda a, b: [{"password": "not the password", "code": "123456"}], "INVALID_CREDENTIALS"
    ),
    "Mutation.revokeSession": c(lambda a, b: [{"id": a.dev_session}]),
    "Mutation.updateAccountSettings": c(
        lambda a, b: [{"input": {"unverifiedAccess": "READ_ONLY"}}], any_outcome=True
    ),
    "Mutation.updateMailBranding": c(
        lambda a, b: [{"input": {"brandName": "Bravo brand"}}], any_outcome=True
    ),
    "Mutation.retryMailDelivery": c(lambda a, b: [{"id": a.mail_job}]),
    "Mutation.createTeam": c(lambda a, b: [{"name": "bravo team"}], any_outcome=True),
    "Mutation.inviteTeamMember": c(
        lambda a, b: [{"teamId": a.team, "email": "hijack@example.com", "role": "ADMIN"}]
    ),
    "Mutation.revokeTeamInvitation": c(lambda a, b: [{"id": a.invitation}]),
    "Mutation.acceptTeamInvitation": c(lambda a, b: [{"token": FAKE_TOKEN}], "INVALID_TOKEN"),
    "Mutation.setTeamMemberRole": c(
        lambda a, b: [
            {"teamId": a.team, "userId": a.mod_id, "role": "ADMIN"},
            {"teamId": b.team, "userId": a.mod_id, "role": "ADMIN"},
        ],
        "NOT_FOUND",
        "TEAM_ROLE_FORBIDS",  # B's moderator, a MEMBER of B's team, may not even try
    ),
    "Mutation.removeTeamMember": c(
        lambda a, b: [
            {"teamId": a.team, "userId": a.mod_id},
            {"teamId": b.team, "userId": a.dev_id},
        ],
        "NOT_FOUND",
        "TEAM_ROLE_FORBIDS",
    ),
    "Mutation.transferTeamOwnership": c(
        lambda a, b: [
            {"teamId": a.team, "userId": a.mod_id},
            {"teamId": b.team, "userId": a.mod_id},
        ],
        "NOT_FOUND",
        "TEAM_ROLE_FORBIDS",
    ),
    "Mutation.deleteTeam": c(lambda a, b: [{"id": a.team}]),
    "Mutation.tryOperation": c(_try),
    "Mutation.startPlaygroundRun": c(_try),
    # -- subscriptions (walked over a websocket, see test_subscriptions_...) ----------------------
    "RootSubscription.threadActivity": c(lambda a, b: [{"threadId": a.thread}]),
    "RootSubscription.playgroundRun": c(_try),
    "RootSubscription.playgroundRunEvents": c(lambda a, b: [{"runId": a.run}]),
}


# -- A's world, as A reads it ------------------------------------------------------------------
# Read-side counters and clocks A's own snapshot reads move (they are not B's doing).
VOLATILE = {"viewCount", "lastUsedAt", "Thread_viewCount", "pdfUrl"}  # pdfUrl: a fresh link


def kind(key: str) -> str:
    return key.split(".")[0]


async def call(s: Served, who: World, role: str, key: str, args: dict[str, Any]) -> Any:
    r = await s.api.raw(document(key, args), args, **who.caller(role))
    assert r.status_code in (200, 400), (key, role, r.status_code, r.text)
    body: dict[str, Any] = r.json()
    return body


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


async def snapshot(s: Served, a: World) -> dict[str, Any]:
    """A's world as A's admin and developer read it, through every query case."""
    b_like = a  # the argument sets name A's ids; run by A they read A's own data
    calls = {
        f"{key}#{i}@{role}": call(s, a, role, key, args)
        for key, case in sorted(CASES.items())
        if kind(key) == "Query"
        for i, args in enumerate(case.args(a, b_like))
        for role in ("admin", "developer")
    }
    bodies = await asyncio.gather(*calls.values())
    return {k: _strip(body) for k, body in zip(calls, bodies, strict=True)}


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [k for k in before if json.dumps(before[k]) != json.dumps(after.get(k))]
