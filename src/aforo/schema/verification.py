from __future__ import annotations

from typing import Annotated

import strawberry

from aforo.schema.accounts import AuthPayload, User
from aforo.schema.base import UserError
from aforo.schema.signin import RateLimited


@strawberry.type(description="The address is verified.")
class EmailVerified:
    user: User
    session: AuthPayload | None = strawberry.field(
        description="A signed-in session, unless the account uses two-factor sign-in (then "
        "log in as usual)."
    )


@strawberry.type(description="A mail is on its way (or, where the answer must not tell, may be).")
class MailRequested:
    ok: bool


VerifyEmailResult = Annotated[EmailVerified | UserError, strawberry.union("VerifyEmailResult")]
ResendVerificationResult = Annotated[
    MailRequested | RateLimited | UserError, strawberry.union("ResendVerificationResult")
]
MailRequestedResult = Annotated[
    MailRequested | RateLimited | UserError, strawberry.union("MailRequestedResult")
]
UserChangedResult = Annotated[User | UserError, strawberry.union("UserChangedResult")]
