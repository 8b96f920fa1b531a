"""Sign-up and log-in answers: "check your mail", the second-factor step, rate limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.errors import RateLimited as RateLimitedError
from aforo.schema.accounts import AuthPayload
from aforo.schema.base import AppInfo, UserError
from aforo.services.sessions import Client


@strawberry.type(
    description="Sign-up accepted: a mail is on its way to the address. The same answer "
    "whether or not the address had an account (its owner is mailed instead)."
)
class SignUpAccepted:
    email: str
    verification_required: bool = strawberry.field(
        description="Always true: the mailed link verifies the address (and signs in)."
    )


@strawberry.type(
    description="The password was right; send a code from the authenticator app (or a "
    "recovery code) with this challenge to logInSecondFactor before it expires."
)
class SecondFactorRequired:
    challenge: str
    expires_at: datetime


@strawberry.type(description="Too many tries for now: try again after retryAfterSeconds.")
class RateLimited:
    code: str
    message: str
    retry_after_seconds: int
    field: str | None = None

    @classmethod
    def of(cls, e: RateLimitedError) -> RateLimited:
        return cls(code=e.code, message=e.message, retry_after_seconds=e.retry_after, field=e.field)


def client_of(info: AppInfo) -> Client:
    request = info.context.request
    return Client(
        user_agent=request.headers.get("user-agent"),
        ip_address=request.client.host if request.client else None,
    )


SignUpResult = Annotated[SignUpAccepted | UserError, strawberry.union("SignUpResult")]
LogInResult = Annotated[
    AuthPayload | SecondFactorRequired | UserError, strawberry.union("LogInResult")
]
SecondFactorResult = Annotated[
    AuthPayload | RateLimited | UserError, strawberry.union("SecondFactorResult")
]
