"""The REST contract: ``/openapi.json`` lists every REST route with its request body, its
security scheme and every response with the shape actually sent.

The routes read their bodies themselves (batches stream, gateways post their own formats),
so FastAPI cannot infer them; this module states them, path by path, on top of the
generated document. ``/v1/keys/verify`` is a plain Starlette route on the hot path and is
described here in full. One error envelope, ``{"error": {"code", "message", "field"?}}``,
is used by every route except ``/oauth/token`` (RFC 6749's) and the Firehose endpoint (AWS's
delivery contract); ingestion refusals carry it beside their batch result.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "The REST error envelope: a stable code, a message, the offending field.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {**STRING, "examples": ["UNAUTHENTICATED", "INVALID", "TOO_LARGE"]},
                    "message": STRING,
                    "field": {**STRING, "description": "the input at fault, when one is"},
                    "problems": {
                        "type": "array",
                        "description": "spec import: each problem found, with where",
                        "items": {
                            "type": "object",
                            "properties": {
                                "pointer": STRING,
                                "line": {"type": ["integer", "null"]},
                                "message": STRING,
                            },
                        },
                    },
                },
            }
        },
    },
    "OAuthError": {
        "type": "object",
        "description": "RFC 6749 section 5.2",
        "required": ["error", "error_description"],
        "properties": {
            "error": {"enum": ["invalid_request", "invalid_client", "unsupported_grant_type"]},
            "error_description": STRING,
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {**STRING, "description": "a JWT, verifiable at /v1/keys/verify"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer"},
        },
    },
    "TokenRequest": {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"const": "client_credentials"},
            "client_id": {**STRING, "description": "unless sent with HTTP Basic"},
            "client_secret": {**STRING, "description": "unless sent with HTTP Basic"},
        },
    },
    "VerifyRequest": {
        "type": "object",
        "required": ["key"],
        "properties": {
            "key": {**STRING, "description": "the API key (or a JWT from /oauth/token)"}
        },
    },
    "Plan": {
        "type": "object",
        "properties": {
            "id": STRING,
            "slug": STRING,
            "name": STRING,
            "monthly_quota": {"type": ["integer", "null"]},
            "rate_limit_per_minute": {"type": ["integer", "null"]},
            "hard_quota": {"type": "boolean"},
        },
    },
    "Verdict": {
        "type": "object",
        "description": "The verdict on a key. Response headers repeat it for gateways that "
        "read only headers: X-Aforo-Code, X-Aforo-Key-Id, X-Aforo-Subscription-Id, "
        "X-Aforo-Plan, and the quota headers. QUOTA_EXCEEDED adds `quota` (limit, used, "
        "remaining, hard, resets_at).",
        "required": ["valid", "code"],
        "properties": {
            "valid": {"type": "boolean"},
            "code": {
                **STRING,
                "examples": ["VALID", "NOT_FOUND", "REVOKED", "EXPIRED", "MALFORMED"],
            },
            "key_id": NULLABLE_STRING,
            "subscription_id": NULLABLE_STRING,
            "plan": {"anyOf": [_ref("Plan"), {"type": "null"}]},
            "tenant": NULLABLE_STRING,
            "expires_at": {**NULLABLE_STRING, "format": "date-time"},
            "hint": {
                **STRING,
                "description": "what to do instead, when the key is usable "
                "elsewhere (a client secret: exchange it at /oauth/token)",
            },
        },
        "additionalProperties": True,
    },
    "Rejection": {
        "type": "object",
        "properties": {
            "index": {"type": ["integer", "null"]},
            "event_id": NULLABLE_STRING,
            "code": STRING,
            "field": NULLABLE_STRING,
            "message": STRING,
        },
    },
    "IngestResult": {
        "type": "object",
        "description": "A batch's outcome. When the envelope itself was unusable (400, 413, "
        "415, 503) nothing was ingested and `error` says why.",
        "required": ["outcome", "accepted", "duplicates", "rejected"],
        "properties": {
            "outcome": {"enum": ["ACCEPTED", "PARTIAL", "REJECTED"]},
            "accepted": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "rejected": {"type": "array", "items": _ref("Rejection")},
            "free": {"type": "integer", "description": "MCP records that are not metered"},
            "queued": {"type": "boolean"},
            "error": {
                "type": "object",
                "description": "present when nothing was ingested: the envelope's error",
                "properties": {"code": STRING, "message": STRING},
            },
        },
    },
    "UploadResult": {
        "type": "object",
        "properties": {
            "id": STRING,
            "status": {"enum": ["COMPLETED", "FAILED"]},
            "outcome": {"enum": ["ACCEPTED", "PARTIAL", "REJECTED"]},
            "rows": {"type": "integer"},
            "accepted": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "rejected": {"type": "integer"},
            "error": {**NULLABLE_STRING, "description": "why the upload stopped (422)"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "row": {"type": ["integer", "null"]},
                        "column": NULLABLE_STRING,
                        "code": STRING,
                        "message": STRING,
                    },
                },
            },
        },
    },
    "UploadPreview": {
        "type": "object",
        "description": "the first rows of a usage file as they would be read; nothing is stored",
        "properties": {
            "format": {"enum": ["csv", "json", "ndjson"]},
            "columns": {"type": ["array", "null"], "items": STRING},
            "fields": {
                "type": "object",
                "description": "event field → the column that feeds it",
                "additionalProperties": STRING,
            },
            "properties": {"type": "array", "items": STRING},
            "derived_ids": {"type": "boolean"},
            "rows": {"type": "integer"},
            "events": {"type": "array", "items": {"type": "object"}},
            "errors": {"type": "array", "items": {"type": "object"}},
            "error": {"type": ["object", "null"], "description": "why reading stopped (422)"},
        },
    },
    "FirehoseResponse": {
        "type": "object",
        "description": "Kinesis Data Firehose HTTP endpoint delivery response",
        "required": ["requestId", "timestamp"],
        "properties": {
            "requestId": STRING,
            "timestamp": {"type": "integer"},
            "errorMessage": STRING,
        },
    },
    "SpecImportRequest": {
        "type": "object",
        "required": ["product_id", "spec_format", "source_url"],
        "properties": {
            "product_id": {**STRING, "format": "uuid"},
            "spec_format": {"enum": ["OPENAPI_3", "GRAPHQL"]},
            "source_url": {**STRING, "format": "uri"},
            "server_url": STRING,
            "name": STRING,
        },
    },
    "SpecImportUpload": {
        "type": "object",
        "required": ["product_id", "spec_format", "file"],
        "properties": {
            "product_id": {**STRING, "format": "uuid"},
            "spec_format": {"enum": ["OPENAPI_3", "GRAPHQL"]},
            "server_url": STRING,
            "name": STRING,
            "file": {**STRING, "format": "binary"},
        },
    },
    "SpecImported": {
        "type": "object",
        "properties": {
            "spec_id": STRING,
            "version_id": STRING,
            "version": {"type": "integer"},
            "created": {"type": "boolean"},
            "operations": {"type": "integer"},
        },
    },
}
SECURITY_SCHEMES: dict[str, Any] = {
    "gatewayToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The tenant's gateway token (gwt_…), created with createGatewayToken",
    },
    "gatewayTokenHeader": {"type": "apiKey", "in": "header", "name": "X-Gateway-Token"},
    "firehoseAccessKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Amz-Firehose-Access-Key",
        "description": "The gateway token, set as the Firehose HTTP endpoint's access key",
    },
    "clientCredentials": {
        "type": "oauth2",
        "description": "A CLIENT_CREDENTIALS API key's client id and secret",
        "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
    },
    "clientSecretBasic": {"type": "http", "scheme": "basic"},
    "consoleJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "storefrontKey": {"type": "apiKey", "in": "header", "name": "X-Storefront-Key"},
}
GATEWAY: list[dict[str, list[str]]] = [{"gatewayToken": []}, {"gatewayTokenHeader": []}]
AUTH_ERRORS = {
    "401": _error("no, an unknown or a revoked credential (`WWW-Authenticate` says which)"),
}
INGEST_RESPONSES = {
    "200": _json("IngestResult", "the batch's outcome (records may be refused one by one)"),
    "400": _json("IngestResult", "the envelope is unusable: nothing ingested"),
    **AUTH_ERRORS,
    "413": _json("IngestResult", "the body is too large: nothing ingested"),
    "415": _json("IngestResult", "unsupported content type: nothing ingested"),
    "422": _json("IngestResult", "every record was refused: nothing ingested (REJECTED)"),
    "503": _json("IngestResult", "the usage queue is unavailable: retry (event ids dedupe)"),
}
EVENTS = {
    "type": "object",
    "description": "A canonical usage event; see docs/usage-formats.md",
    "required": ["event_id", "metric"],
    "additionalProperties": True,
}


def _body(*media: tuple[str, dict[str, Any]], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {m: {"schema": s} for m, s in media}}


JSON_ANY: tuple[str, dict[str, Any]] = ("application/json", {})
CONTRACT: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/usage/events", "post"): {
        "security": GATEWAY,
        "requestBody": _body(
            (
                "application/json",
                {
                    "anyOf": [
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {"events": {"type": "array", "items": EVENTS}},
                        },
                        {"type": "array", "items": EVENTS},
                    ]
                },
            ),
            ("application/x-ndjson", {**STRING, "description": "one event per line"}),
        ),
        "responses": INGEST_RESPONSES,
    },
    ("/v1/usage/mcp", "post"): {
        "security": GATEWAY,
        "requestBody": _body(
            (
                "application/json",
                {
                    "type": "object",
                    "required": ["records"],
                    "properties": {"records": {"type": "array", "items": {"type": "object"}}},
                },
            )
        ),
        "responses": INGEST_RESPONSES,
    },
    ("/v1/usage/upload", "post"): {
        "security": GATEWAY,
        "requestBody": _body(
            ("text/csv", STRING),
            ("application/json", {"type": "array", "items": EVENTS}),
            ("application/x-ndjson", STRING),
        ),
        "responses": {
            "200": _json("UploadResult", "the file was read to its end"),
            **AUTH_ERRORS,
            "404": _error("no saved mapping of that name"),
            "413": _error("over the size limit"),
            "415": _error("unknown format, content type or content encoding"),
            "422": {
                "description": "the upload stopped, rows before it kept (UploadResult); or a "
                "query parameter is invalid (Error)",
                "content": {
                    "application/json": {"schema": {"anyOf": [_ref("UploadResult"), _ref("Error")]}}
                },
            },
        },
    },
    ("/v1/usage/upload/preview", "post"): {
        "security": GATEWAY,
        "requestBody": _body(
            ("text/csv", STRING),
            ("application/json", {"type": "array", "items": {"type": "object"}}),
            ("application/x-ndjson", STRING),
        ),
        "responses": {
            "200": _json("UploadPreview", "the first rows, parsed"),
            **AUTH_ERRORS,
            "404": _error("no saved mapping of that name"),
            "415": _error("unknown format, content type or content encoding"),
            "422": {
                "description": "the file cannot be read past a point (UploadPreview with its "
                "error); or a query parameter is invalid (Error)",
                "content": {
                    "application/json": {
                        "schema": {"anyOf": [_ref("UploadPreview"), _ref("Error")]}
                    }
                },
            },
        },
    },
    ("/v1/usage/gateways/aws", "post"): {
        "security": [{"firehoseAccessKey": []}, {"gatewayTokenHeader": []}],
        "requestBody": _body(JSON_ANY),
        "responses": {
            "200": _json("FirehoseResponse", "delivered"),
            "400": _json("FirehoseResponse", "unreadable delivery (Firehose retries)"),
            "401": _json("FirehoseResponse", "wrong access key"),
            "413": _json("FirehoseResponse", "delivery too large"),
            "503": _json("FirehoseResponse", "queue unavailable (Firehose retries)"),
        },
    },
    ("/api/v1/docs/api-specs", "post"): {
        "security": [{"consoleJwt": []}],
        "requestBody": _body(
            ("application/json", _ref("SpecImportRequest")),
            ("multipart/form-data", _ref("SpecImportUpload")),
        ),
        "responses": {
            "200": _json("SpecImported", "the same content was already imported"),
            "201": _json("SpecImported", "a new spec version"),
            "400": _error("not a valid request"),
            **AUTH_ERRORS,
            "403": _error("requires the ADMIN role"),
            "404": _error("no such product"),
            "422": _error("the spec or a field is invalid (problems lists each)"),
        },
    },
    ("/v1/billing/invoices/{invoice_id}.pdf", "get"): {
        "security": [{"consoleJwt": []}, {}],  # or a signed link (?token=)
        "responses": {
            "200": {
                "description": "the invoice under the tenant's brand",
                "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            },
            "401": _error("no session and no signed link, or a link that is not valid"),
            "404": _error("no such invoice visible to the caller"),
            "422": _error("a parameter is invalid"),
        },
    },
    ("/oauth/token", "post"): {
        "security": [{"clientSecretBasic": []}, {}],
        "requestBody": _body(("application/x-www-form-urlencoded", _ref("TokenRequest"))),
        "responses": {
            "200": _json("TokenResponse", "a short-lived JWT (Cache-Control: no-store)"),
            "400": _json("OAuthError", "invalid_request or unsupported_grant_type"),
            "401": _json("OAuthError", "invalid_client (WWW-Authenticate: Basic with Basic)"),
        },
    },
}
for _gw in ("kong", "azure", "apigee", "mulesoft"):
    CONTRACT[(f"/v1/usage/gateways/{_gw}", "post")] = {
        "security": GATEWAY,
        "requestBody": _body(JSON_ANY, ("application/x-ndjson", STRING)),
        "responses": INGEST_RESPONSES,
    }

VERIFY: dict[str, Any] = {
    "post": {
        "tags": ["auth"],
        "operationId": "verify_key",
        "summary": "Verify an API key (gateways: nginx auth_request, forward-auth, plugins)",
        "description": 'Two forms. **Body**: `{"key": "…"}` with the gateway token in '
        "`Authorization: Bearer` (or `X-Gateway-Token`). **Header** (no body, as nginx "
        "`auth_request` sends): the key in `X-Api-Key`, or in `Authorization: Bearer` as the "
        "client sent it when the gateway token is in `X-Gateway-Token`. The status is the "
        "verdict for gateways that read only that: 200 valid, 403 refused.",
        "security": GATEWAY,
        "parameters": [
            {
                "name": "X-Api-Key",
                "in": "header",
                "required": False,
                "schema": STRING,
                "description": "header form: the key to verify",
            },
        ],
        "requestBody": _body(("application/json", _ref("VerifyRequest")), required=False),
        "responses": {
            "200": _json("Verdict", "the key is valid"),
            "400": _error('the body is not {"key": string}'),
            "401": _error("no or a bad gateway token (WWW-Authenticate: Bearer)"),
            "403": _json("Verdict", "the key is refused; code says why"),
            "413": _error("the body is over 8 KiB"),
            "503": _error("verification is unavailable (Retry-After)"),
        },
    }
}


def build(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description="REST side of Aforo Console. The GraphQL API is at /graphql "
        "(schema.graphql); this document covers the REST routes: key verification, OAuth "
        "client credentials, usage ingestion and spec import. Errors use one envelope, "
        "`Error`, except /oauth/token (RFC 6749) and the Firehose endpoint (AWS's contract).",
        routes=app.routes,
    )
    doc["paths"]["/v1/keys/verify"] = VERIFY
    for (path, method), spec in CONTRACT.items():
        op = doc["paths"].get(path, {}).get(method)
        if op is None:
            continue
        op.update({k: v for k, v in spec.items() if k != "responses"})
        op["responses"] = spec["responses"]
    for item in doc["paths"].values():
        for op in item.values():
            # FastAPI documents a 422 `HTTPValidationError` its handler never sends here.
            if op.get("responses", {}).get("422", {}).get("content", {}).get(
                "application/json", {}
            ).get("schema") == _ref("HTTPValidationError"):
                op["responses"]["422"] = _error("a parameter is invalid")
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(SCHEMAS)
    components["securitySchemes"] = SECURITY_SCHEMES
    return doc


def install(app: FastAPI) -> None:
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(build(app))
        return cached

    app.openapi = openapi  # type: ignore[method-assign]

    async def legacy(_: Request) -> Response:  # the address before /openapi.json
        return JSONResponse(openapi())

    app.router.routes.append(
        Route("/api/openapi.json", legacy, methods=["GET"], include_in_schema=False)
    )
