"""Expected failures carry a stable code and, when an input caused them, the offending field."""

from __future__ import annotations

import re


class DomainError(Exception):
    """An expected, user-facing failure. GraphQL turns it into ``UserError``; REST into a 4xx."""

    code = "INVALID"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class ValidationFailed(DomainError):
    code = "INVALID"
    status = 422


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = 404


class Conflict(DomainError):
    code = "CONFLICT"
    status = 409


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    status = 401


class Forbidden(DomainError):
    code = "FORBIDDEN"
    status = 403


class RateLimited(DomainError):
    """Too many tries for now; ``retry_after`` (seconds) says when the next one is accepted.
    Raised by the request limiter (``runtime.throttle``: the whole request is refused, HTTP 429)
    and by per-account cooldowns that a mutation answers as its ``RateLimited`` payload."""

    code = "RATE_LIMITED"
    status = 429

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, retry_after)


def snake_field(name: str) -> str:
    """A field as the REST side spells it (snake_case): services name inputs as GraphQL does
    (``productId``), REST bodies use ``product_id``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)
