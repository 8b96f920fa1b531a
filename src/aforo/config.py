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

    @property
    def keys_dir(self) -> Path:
        return self.jwt_keys_dir or self.home / "jwt"

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
