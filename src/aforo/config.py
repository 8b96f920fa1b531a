"""Every setting of the service, read from ``AFORO_*`` environment variables in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw is not None else default


def _float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw is not None else default


def _list(name: str) -> tuple[str, ...]:
    """A comma-separated list (blanks dropped)."""
    return tuple(p.strip() for p in (_env(name) or "").split(",") if p.strip())


def _pairs(name: str) -> tuple[tuple[str, str], ...]:
    """``name=value`` pairs, comma-separated (values may hold ``;``)."""
    out = []
    for item in _list(name):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{name}: expected name=value, got {item!r}")
        out.append((key.strip(), value.strip()))
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: Path(_env("AFORO_HOME", ".aforo") or ".aforo"))
    # URL the service connects with (the app role). Unset: the embedded cluster is launched.
    database_url: str | None = field(default_factory=lambda: _env("AFORO_DATABASE_URL"))
    # URL migrations and admin CLI commands connect with (the owner role).
    migration_database_url: str | None = field(
        default_factory=lambda: _env("AFORO_MIGRATION_DATABASE_URL")
    )
    redis_url: str | None = field(default_factory=lambda: _env("AFORO_REDIS_URL"))
    kafka_bootstrap: str | None = field(default_factory=lambda: _env("AFORO_KAFKA_BOOTSTRAP"))
    # Consumer-group liveness (the usage writer). Brokers refuse values below their
    # group.min.session.timeout.ms (Kafka's default: 6 s); small ones make rebalances fast.
    kafka_session_timeout_ms: int = field(
        default_factory=lambda: _int("AFORO_KAFKA_SESSION_TIMEOUT_MS", 10_000)
    )
    kafka_heartbeat_ms: int = field(default_factory=lambda: _int("AFORO_KAFKA_HEARTBEAT_MS", 3_000))
    host: str = field(default_factory=lambda: _env("AFORO_HOST", "127.0.0.1") or "127.0.0.1")
    port: int = field(default_factory=lambda: _int("AFORO_PORT", 8000))
    issuer: str = field(default_factory=lambda: _env("AFORO_ISSUER", "aforo") or "aforo")
    jwt_keys_dir: Path | None = field(
        default_factory=lambda: Path(p) if (p := _env("AFORO_JWT_KEYS_DIR")) else None
    )
    access_token_ttl_s: int = field(default_factory=lambda: _int("AFORO_ACCESS_TOKEN_TTL", 900))
    refresh_token_ttl_s: int = field(
        default_factory=lambda: _int("AFORO_REFRESH_TOKEN_TTL", 30 * 24 * 3600)
    )
    db_pool_size: int = field(default_factory=lambda: _int("AFORO_DB_POOL_SIZE", 10))
    outbox_poll_s: float = field(
        default_factory=lambda: float(_env("AFORO_OUTBOX_POLL", "0.5") or "0.5")
    )
    log_level: str = field(default_factory=lambda: _env("AFORO_LOG_LEVEL", "info") or "info")
    # The console's public base URL (what gateways and SDKs reach); the Integration Guide writes
    # it into snippets. Unset: the URL each request came in on.
    public_url: str | None = field(default_factory=lambda: _env("AFORO_PUBLIC_URL"))
    # Worker processes of ``aforo serve`` (set by ``--workers``): with several, and no Redis,
    # the bus and the shared state go through PostgreSQL.
    workers: int = field(default_factory=lambda: _int("AFORO_WORKERS", 1))
    # Cross-process bus: auto (Redis when configured, else PostgreSQL with several workers,
    # else in-process), memory, postgres (several instances on one database without Redis).
    bus: str = field(default_factory=lambda: _env("AFORO_BUS", "auto") or "auto")
    # Try-it runs a signed-in member may start per minute (a benchmark raises it).
    playground_rate_per_minute: int = field(
        default_factory=lambda: _int("AFORO_PLAYGROUND_RATE_PER_MINUTE", 30)
    )
    # Seconds between re-fetches of specs imported from a URL; 0 turns live sync off.
    spec_sync_interval_s: float = field(
        default_factory=lambda: float(_env("AFORO_SPEC_SYNC_INTERVAL", "300") or "300")
    )
    # CPU seconds one spec import (or diff) may use in the import worker before it is refused,
    # and the address space of a worker process in MB (0: unlimited).
    spec_import_cpu_s: float = field(
        default_factory=lambda: float(_env("AFORO_SPEC_IMPORT_CPU", "60") or "60")
    )
    spec_import_memory_mb: int = field(
        default_factory=lambda: _int("AFORO_SPEC_IMPORT_MEMORY_MB", 2048)
    )
    # -- the security boundary (docs/security.md) ------------------------------------------
    # The operator's outbound policy: non-public ranges opened to outbound fetches (spec URLs,
    # try-it) for every tenant, e.g. an on-premises network; by default only public unicast.
    outbound_allow: tuple[str, ...] = field(default_factory=lambda: _list("AFORO_OUTBOUND_ALLOW"))
    # Ranges refused although public (the deployment's own public addresses, its peers).
    outbound_deny: tuple[str, ...] = field(default_factory=lambda: _list("AFORO_OUTBOUND_DENY"))
    # Rate limits by name (runtime/throttle.py DEFAULTS), e.g. "login.account=10/minute".
    rate_limits: tuple[tuple[str, str], ...] = field(
        default_factory=lambda: _pairs("AFORO_RATE_LIMITS")
    )
    # Static query-cost budgets per caller kind (graphql_cost.py).
    cost_anonymous: int = field(default_factory=lambda: _int("AFORO_COST_ANONYMOUS", 10_000))
    cost_developer: int = field(default_factory=lambda: _int("AFORO_COST_DEVELOPER", 20_000))
    cost_admin: int = field(default_factory=lambda: _int("AFORO_COST_ADMIN", 100_000))
    max_response_bytes: int = field(
        default_factory=lambda: _int("AFORO_MAX_RESPONSE_BYTES", 8 * 1024 * 1024)
    )
    # /metrics: a bearer token it requires, and/or a separate listener ("host:port") it moves
    # to (then the main listener no longer serves it).
    metrics_token: str | None = field(default_factory=lambda: _env("AFORO_METRICS_TOKEN"))
    metrics_listen: str | None = field(default_factory=lambda: _env("AFORO_METRICS_LISTEN"))
    # Seconds a client may take to send its request head, and between two pieces of its body.
    header_timeout_s: float = field(default_factory=lambda: _float("AFORO_HEADER_TIMEOUT", 10))
    body_timeout_s: float = field(default_factory=lambda: _float("AFORO_BODY_TIMEOUT", 30))

    # Seconds between runs of the billing job (closing due periods); 0 turns it off.
    billing_interval_s: float = field(
        default_factory=lambda: float(_env("AFORO_BILLING_INTERVAL", "60") or "60")
    )

    # Accounts and mail. Unset SMTP URL: each message is written as an .eml file to mail_dir.
    smtp_url: str | None = field(default_factory=lambda: _env("AFORO_SMTP_URL"))
    mail_dir_path: Path | None = field(
        default_factory=lambda: Path(p) if (p := _env("AFORO_MAIL_DIR")) else None
    )
    mail_from: str = field(
        default_factory=lambda: _env("AFORO_MAIL_FROM", "no-reply@localhost") or ""
    )
    # Where mailed links point until a tenant sets its own portal URL. Unset: the reference
    # portal this service serves under /portal (``mail_portal_url``).
    portal_url: str | None = field(default_factory=lambda: _env("AFORO_PORTAL_URL"))
    # Idle polls for mail queued by other instances (this one's is sent on commit).
    mail_poll_s: float = field(default_factory=lambda: float(_env("AFORO_MAIL_POLL", "5") or "5"))
    mail_max_attempts: int = field(default_factory=lambda: _int("AFORO_MAIL_MAX_ATTEMPTS", 10))
    mail_retry_base_s: float = field(
        default_factory=lambda: float(_env("AFORO_MAIL_RETRY_BASE", "30") or "30")
    )
    data_keys_path: Path | None = field(
        default_factory=lambda: Path(p) if (p := _env("AFORO_DATA_KEYS_DIR")) else None
    )

    # Web origins allowed for every tenant (development): comma-separated, or "*" for any.
    cors_origins: str = field(default_factory=lambda: _env("AFORO_CORS_ORIGINS", "") or "")
    # Where UI assets (GraphiQL, the REST reference) are kept once fetched and verified.
    assets_dir: Path | None = field(
        default_factory=lambda: Path(p) if (p := _env("AFORO_ASSETS_DIR")) else None
    )

    # The developer portal's built files (portal/dist of the source tree by default).
    portal_dir: Path | None = field(
        default_factory=lambda: Path(p) if (p := _env("AFORO_PORTAL_DIR")) else None
    )

    @property
    def ui_assets_dir(self) -> Path:
        return self.assets_dir or self.home / "assets"

    @property
    def keys_dir(self) -> Path:
        return self.jwt_keys_dir or self.home / "jwt"

    @property
    def mail_dir(self) -> Path:
        return self.mail_dir_path or self.home / "mail"

    @property
    def data_keys_dir(self) -> Path:
        return self.data_keys_path or self.home / "data-keys"

    @property
    def mail_portal_url(self) -> str:
        """``portal_url``, else the portal under /portal at ``public_url``, else at this
        service's own address (a wildcard listen address is reached as localhost)."""
        if self.portal_url:
            return self.portal_url
        if self.public_url:
            return self.public_url.rstrip("/") + "/portal"
        host = "localhost" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/portal"

    @property
    def bus_kind(self) -> str:
        """``redis``, ``postgres`` or ``memory``: where cross-process effects travel."""
        if self.bus == "auto":
            if self.redis_url:
                return "redis"
            return "postgres" if self.workers > 1 else "memory"
        if self.bus not in ("memory", "postgres", "redis"):
            raise ValueError(f"AFORO_BUS: unknown bus {self.bus!r} (auto, memory, postgres)")
        return self.bus

    @property
    def owner_url(self) -> str | None:
        return self.migration_database_url or self.database_url
