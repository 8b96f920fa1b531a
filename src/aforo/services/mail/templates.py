"""Rendering a mail: the tenant's branding around one template per kind, a text part and an
HTML part. Jinja2 with autoescape on the HTML (names, team names and footers are user input);
colours and URLs are validated when they are saved, since escaping does not make a value safe
inside a style attribute."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from aforo.db import utcnow
from aforo.errors import ValidationFailed
from aforo.services.mail import Kind

_DIR = Path(__file__).parent / "templates"
_HTML = Environment(
    loader=FileSystemLoader(_DIR),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
# The text part and the subject are plain text, not HTML: escaping would garble them.
_TEXT = Environment(
    loader=FileSystemLoader(_DIR),
    autoescape=False,  # noqa: S701
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ADDRESS = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]+\.[^@\s<>\"',;]{2,}$")

SUBJECTS: dict[Kind, str] = {
    Kind.VERIFY_EMAIL: "Confirm your email address for {{ brand.name }}",
    Kind.ACCOUNT_EXISTS: "You already have a {{ brand.name }} account",
    Kind.PASSWORD_RESET: "Reset your {{ brand.name }} password",
    Kind.PASSWORD_CHANGED: "Your {{ brand.name }} password was changed",
    Kind.EMAIL_CHANGE: "Confirm your new email address for {{ brand.name }}",
    Kind.EMAIL_CHANGED: "The email address of your {{ brand.name }} account was changed",
    Kind.TEAM_INVITATION: "{{ params.inviter_name }} invited you to {{ params.team_name }}",
}


@dataclass(frozen=True)
class Branding:
    name: str
    portal_url: str  # where mailed links point (``Settings.mail_portal_url`` by default)
    logo_url: str | None = None
    primary_color: str = "#2563eb"
    background_color: str = "#f4f4f5"
    from_address: str = "no-reply@localhost"
    from_name: str | None = None
    footer: str | None = None


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    from_: Address
    to: str

    def message(self, message_id: str) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = self.subject
        msg["From"] = self.from_
        msg["To"] = self.to
        msg["Date"] = format_datetime(utcnow())
        msg["Message-ID"] = message_id
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
        msg.set_content(self.text)
        msg.add_alternative(self.html, subtype="html")
        return msg


def message_id(job_id: str, from_address: str) -> str:
    """Stable per job: a retried send carries the same id, so a receiver can drop a repeat."""
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"<{job_id}@{domain}>" if job_id else make_msgid(domain=domain)


# -- validation of what tenants save ---------------------------------------------------------
def check_color(value: str | None, field: str) -> str | None:
    if value is not None and not _COLOR.match(value):
        raise ValidationFailed("a colour as #RRGGBB", field=field)
    return value


def check_url(value: str | None, field: str, *, https_only: bool) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    schemes = ("https",) if https_only else ("https", "http")
    if len(value) > 500 or parts.scheme not in schemes or not parts.hostname:
        allowed = " or ".join(schemes)
        raise ValidationFailed(f"an absolute {allowed} URL of at most 500 characters", field=field)
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise ValidationFailed("no spaces or control characters", field=field)
    return value


def check_address(value: str | None, field: str) -> str | None:
    if value is not None and (len(value) > 320 or not _ADDRESS.match(value)):
        raise ValidationFailed("a plain address such as dev@example.com", field=field)
    return value


def check_text(value: str | None, field: str, limit: int, *, one_line: bool) -> str | None:
    if value is None:
        return None
    if len(value) > limit:
        raise ValidationFailed(f"at most {limit} characters", field=field)
    bad = ("\r", "\n") if one_line else ("\r",)
    if any(c in value for c in bad) or any(ord(c) < 32 and c != "\n" for c in value):
        raise ValidationFailed("no control characters", field=field)
    return value


# -- rendering -------------------------------------------------------------------------------
def link(brand: Branding, path: str, token: str | None = None) -> str:
    base = brand.portal_url.rstrip("/")
    return f"{base}/{path}" + (f"?token={token}" if token else "")


def render(
    kind: Kind,
    brand: Branding,
    *,
    to: str,
    user_name: str | None,
    params: dict[str, Any],
    token: str | None,
    expires_in: str | None,
) -> Rendered:
    ctx = {
        "brand": brand,
        "user_name": user_name,
        "to": to,
        "params": params,
        "link": link(brand, PATHS[kind], token),
        "log_in": link(brand, "log-in"),
        "forgot": link(brand, "forgot-password"),
        "expires_in": expires_in,
    }
    name = kind.value.lower()
    subject = _TEXT.from_string(SUBJECTS[kind]).render(ctx)
    subject = " ".join(subject.split())[:200]  # one line: header injection is impossible
    return Rendered(
        subject=subject,
        text=_TEXT.get_template(f"{name}.txt.j2").render(ctx),
        html=_HTML.get_template(f"{name}.html.j2").render(ctx),
        from_=Address(display_name=brand.from_name or brand.name, addr_spec=brand.from_address),
        to=to,
    )


PATHS: dict[Kind, str] = {
    Kind.VERIFY_EMAIL: "verify-email",
    Kind.ACCOUNT_EXISTS: "log-in",
    Kind.PASSWORD_RESET: "reset-password",
    Kind.PASSWORD_CHANGED: "forgot-password",
    Kind.EMAIL_CHANGE: "confirm-email",
    Kind.EMAIL_CHANGED: "forgot-password",
    Kind.TEAM_INVITATION: "accept-invitation",
}
