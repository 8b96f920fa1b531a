from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from aforo.db import Base, UTCDateTime


class AccountSettings(Base):
    """A tenant's account policy. No row: the defaults (read-only unverified accounts, no
    second factor required)."""

    __tablename__ = "account_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    # What an account may do before it verifies its email: READ_ONLY, FULL or NO_SIGN_IN.
    unverified_access: Mapped[str] = mapped_column(String(12), server_default="READ_ONLY")
    # Staff roles (ADMIN, MODERATOR) only in sessions signed in with a second factor.
    staff_second_factor: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=text("now()"))
