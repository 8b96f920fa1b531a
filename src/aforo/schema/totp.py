from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from aforo.schema.base import UserError
from aforo.schema.signin import RateLimited
from aforo.services import totp


@strawberry.type(
    description="Add this secret to an authenticator app (the URI fits a QR code), then "
    "confirm with a code it shows. The secret is shown this once."
)
class TwoFactorEnrollment:
    secret: str
    otpauth_uri: str


@strawberry.type(
    description="One-time recovery codes, each standing in for the app once. Shown this once: "
    "store them somewhere safe."
)
class RecoveryCodes:
    codes: list[str]


@strawberry.type
class TwoFactorStatus:
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int

    @classmethod
    def of(cls, s: totp.Status) -> TwoFactorStatus:
        return cls(
            enabled=s.enabled, enabled_at=s.enabled_at, recovery_codes_left=s.recovery_codes_left
        )


@strawberry.type
class TwoFactorDisabled:
    ok: bool


TwoFactorEnrollmentResult = Annotated[
    TwoFactorEnrollment | UserError, strawberry.union("TwoFactorEnrollmentResult")
]
RecoveryCodesResult = Annotated[
    RecoveryCodes | RateLimited | UserError, strawberry.union("RecoveryCodesResult")
]
TwoFactorDisabledResult = Annotated[
    TwoFactorDisabled | UserError, strawberry.union("TwoFactorDisabledResult")
]
