"""The event both middlewares record for one HTTP request."""

from __future__ import annotations

from typing import Any

from aforo_metering._core import build_event, is_uuid, log
from aforo_metering.aio import AsyncClient
from aforo_metering.client import Client


def record_request(
    client: Client | AsyncClient,
    metric: str,
    fields: dict[str, Any],
) -> None:
    """Never raises and never waits: metering must not slow down or break the request."""
    try:
        ids = {k: fields.pop(k, None) for k in ("key_id", "subscription_id", "consumer")}
        # Gateways that forward a key name or hash instead of the key's id: keep it as the
        # consumer rather than have the service refuse the whole event.
        for name in ("key_id", "subscription_id"):
            value = ids[name]
            if value is not None and not is_uuid(value):
                ids[name] = None
                ids["consumer"] = ids["consumer"] or value
        event = build_event(metric, 1, extra=fields, **ids)
        if isinstance(client, AsyncClient):
            client.enqueue_nowait(event)
        else:
            client.enqueue(event, block=False)
    except Exception:
        log.exception("aforo: could not record a request")
