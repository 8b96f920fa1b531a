from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from aforo.models import playground as m
from aforo.runtime.outbound import Timing
from aforo.schema.base import UserError, parse_id
from aforo.services.playground import Result, TryInput


@strawberry.input(description="One name and value (a path parameter, query parameter, header).")
class KeyValueInput:
    name: str
    value: str


@strawberry.input(
    description="A try-it request. Credentials are never part of it: the server mints a "
    "short-lived token (a JWT, about a minute) for the chosen key and injects it as the "
    "operation's security scheme says: http bearer, oauth2 and openIdConnect as "
    "`Authorization: Bearer <token>`; apiKey in a header, the query or a cookie under the "
    "scheme's name; no scheme: `Authorization: Bearer <token>`. http basic/digest cannot "
    "carry a token (PLAYGROUND_UNSUPPORTED_AUTH). GraphQL operations are POSTed to the "
    "spec's endpoint with `body` as the request."
)
class TryOperationInput:
    operation_id: strawberry.ID
    key_id: strawberry.ID
    path_params: list[KeyValueInput] = strawberry.field(default_factory=list)
    query: list[KeyValueInput] = strawberry.field(default_factory=list)
    headers: list[KeyValueInput] = strawberry.field(
        default_factory=list,
        description="Extra request headers; credential and connection headers are refused.",
    )
    body: str | None = None
    server: str | None = strawberry.field(
        default=None, description="One of the operation's servers; the first one by default."
    )

    def to_service(self) -> TryInput:
        def pairs(items: list[KeyValueInput]) -> list[tuple[str, str]]:
            return [(i.name, i.value) for i in items]

        return TryInput(
            operation_id=parse_id(self.operation_id, "operationId"),
            key_id=parse_id(self.key_id, "keyId"),
            path_params=pairs(self.path_params),
            query=pairs(self.query),
            headers=pairs(self.headers),
            body=self.body,
            server=self.server,
        )


@strawberry.type
class HttpHeader:
    name: str
    value: str


@strawberry.type(description="Where the time went, in milliseconds, measured on the connection.")
class PlaygroundTiming:
    dns_ms: float
    connect_ms: float
    tls_ms: float = strawberry.field(description="0 for plain HTTP and for a reused connection.")
    ttfb_ms: float = strawberry.field(description="From sending the request to its headers.")
    transfer_ms: float
    total_ms: float
    reused_connection: bool

    @classmethod
    def of(cls, t: Timing) -> PlaygroundTiming:
        return cls(
            dns_ms=t.dns_ms,
            connect_ms=t.connect_ms,
            tls_ms=t.tls_ms,
            ttfb_ms=t.ttfb_ms,
            transfer_ms=t.transfer_ms,
            total_ms=t.total_ms,
            reused_connection=t.reused_connection,
        )


@strawberry.type(description="The API's answer, with every credential stripped or redacted.")
class PlaygroundResponse:
    run_id: strawberry.ID
    status: int
    headers: list[HttpHeader]
    body: str
    body_bytes: int
    content_type: str | None
    url: str
    timing: PlaygroundTiming

    @classmethod
    def of(cls, r: Result) -> PlaygroundResponse:
        return cls(
            run_id=strawberry.ID(str(r.run_id)),
            status=r.status,
            headers=[HttpHeader(name=k, value=v) for k, v in r.headers],
            body=r.body,
            body_bytes=r.body_bytes,
            content_type=r.content_type,
            url=r.url,
            timing=PlaygroundTiming.of(r.timing),
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlaygroundResponse:
        return cls(
            run_id=strawberry.ID(d["runId"]),
            status=d["status"],
            headers=[HttpHeader(name=k, value=v) for k, v in d["headers"]],
            body=d["body"],
            body_bytes=d["bodyBytes"],
            content_type=d["contentType"],
            url=d["url"],
            timing=PlaygroundTiming.of(Timing(*d["timing"])),
        )


TryOperationResult = Annotated[
    PlaygroundResponse | UserError, strawberry.union("TryOperationResult")
]


@strawberry.type
class PlaygroundRunStarted:
    run_id: strawberry.ID


StartPlaygroundRunResult = Annotated[
    PlaygroundRunStarted | UserError, strawberry.union("StartPlaygroundRunResult")
]


@strawberry.enum
class PlaygroundPhase(Enum):
    DNS_RESOLVED = "DNS_RESOLVED"
    CONNECTED = "CONNECTED"
    TLS_DONE = "TLS_DONE"
    FIRST_BYTE = "FIRST_BYTE"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"


@strawberry.type(description="One step of a live try-it run.")
class PlaygroundEvent:
    run_id: strawberry.ID | None
    seq: int
    phase: PlaygroundPhase
    elapsed_ms: float = strawberry.field(description="Since the request began.")
    response: PlaygroundResponse | None = None
    error: UserError | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlaygroundEvent:
        err = d.get("error")
        return cls(
            run_id=strawberry.ID(d["runId"]) if d.get("runId") else None,
            seq=d["seq"],
            phase=PlaygroundPhase(d["phase"]),
            elapsed_ms=d["elapsedMs"],
            response=PlaygroundResponse.from_dict(d["response"]) if d.get("response") else None,
            error=UserError(code=err["code"], message=err["message"], field=err.get("field"))
            if err
            else None,
        )


@strawberry.type(description="A recorded try-it run (never the credential).")
class PlaygroundRun:
    id: strawberry.ID
    user_id: strawberry.ID
    key_id: strawberry.ID
    operation_id: strawberry.ID
    method: str
    url: str
    status: int | None
    error_code: str | None
    timing: PlaygroundTiming | None = strawberry.field(
        description="Null when the request never got an answer."
    )
    total_ms: float
    created_at: datetime

    @classmethod
    def of(cls, r: m.PlaygroundRun) -> PlaygroundRun:
        timing = None
        if r.status is not None:
            timing = PlaygroundTiming(
                dns_ms=r.dns_ms or 0.0,
                connect_ms=r.connect_ms or 0.0,
                tls_ms=r.tls_ms or 0.0,
                ttfb_ms=r.ttfb_ms or 0.0,
                transfer_ms=r.transfer_ms or 0.0,
                total_ms=r.total_ms,
                reused_connection=not r.connect_ms,
            )
        return cls(
            id=strawberry.ID(str(r.id)),
            user_id=strawberry.ID(str(r.user_id)),
            key_id=strawberry.ID(str(r.key_id)),
            operation_id=strawberry.ID(str(r.operation_id)),
            method=r.method,
            url=r.url,
            status=r.status,
            error_code=r.error_code,
            timing=timing,
            total_ms=r.total_ms,
            created_at=r.created_at,
        )
