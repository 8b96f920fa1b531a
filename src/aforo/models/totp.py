from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, ForeignKeyConstraint, LargeBinary, text
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


def _user_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
    )


class TotpCredential(Base):
    """An account's RFC 6238 authenticator. The seed is sealed (AES-GCM, a key file outside
    the database); ``confirmed_at`` None means enrolment is not finished."""

    __tablename__ = "totp_credentials"
    __table_args__ = (_user_fk(),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The time step of the last code accepted: a code is good once (RFC 6238 §5.2).
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))


class RecoveryCode(Base):
    """A one-time code standing in for the authenticator; stored as its SHA-256 (80 random
    bits each, so a hash is as safe as a slow one)."""

    __tablename__ = "recovery_codes"
    __table_args__ = (_user_fk(),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID]
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginChallenge(Base):
    """A password check passed, the second factor pending: short-lived, a few tries."""

    __tablename__ = "login_challenges"
    __table_args__ = (_user_fk(),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID]
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
