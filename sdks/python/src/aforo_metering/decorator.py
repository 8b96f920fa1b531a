"""``@meter``: record one event per call of a function or coroutine."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from aforo_metering.aio import AsyncClient
from aforo_metering.client import Client

F = TypeVar("F", bound=Callable[..., Any])
Quantity = float | Callable[..., float]

_default: list[Client | AsyncClient] = []


def set_default_client(client: Client | AsyncClient | None) -> None:
    """The client ``@meter`` uses when none is passed."""
    _default.clear()
    if client is not None:
        _default.append(client)


def _client(explicit: Client | AsyncClient | None) -> Client | AsyncClient:
    if explicit is not None:
        return explicit
    if not _default:
        raise RuntimeError("no metering client: pass client= or call set_default_client()")
    return _default[0]


def meter(
    metric: str,
    quantity: Quantity = 1,
    *,
    client: Client | AsyncClient | None = None,
    subscription_id: str | Callable[..., str | None] | None = None,
    key_id: str | Callable[..., str | None] | None = None,
    properties: Mapping[str, Any] | None = None,
    on_error: bool = False,
) -> Callable[[F], F]:
    """Meter each successful call. ``quantity``, ``subscription_id`` and ``key_id`` may be
    callables receiving ``(result, *args, **kwargs)`` / ``(*args, **kwargs)``. A call that
    raises is not metered unless ``on_error`` is set (then with ``properties.error``)."""

    def resolve(value: Any, *args: Any, **kwargs: Any) -> Any:
        return value(*args, **kwargs) if callable(value) else value

    def event_kwargs(result: Any, error: BaseException | None, args: Any, kwargs: Any) -> Any:
        props = dict(properties or {})
        if error is not None:
            props["error"] = type(error).__name__
        q = 1 if error is not None else resolve(quantity, result, *args, **kwargs)
        return {
            "metric": metric,
            "quantity": q,
            "subscription_id": resolve(subscription_id, *args, **kwargs),
            "key_id": resolve(key_id, *args, **kwargs),
            "properties": props or None,
        }

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as e:
                    if on_error and isinstance(e, Exception):
                        await _record_async(event_kwargs(None, e, args, kwargs))
                    raise
                await _record_async(event_kwargs(result, None, args, kwargs))
                return result

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = fn(*args, **kwargs)
            except Exception as e:
                if on_error:
                    _record_sync(event_kwargs(None, e, args, kwargs))
                raise
            _record_sync(event_kwargs(result, None, args, kwargs))
            return result

        return cast(F, wrapper)

    async def _record_async(kw: dict[str, Any]) -> None:
        c = _client(client)
        if isinstance(c, AsyncClient):
            await c.record(**kw)
        else:
            c.record(**kw, block=False)  # never block the event loop

    def _record_sync(kw: dict[str, Any]) -> None:
        c = _client(client)
        if isinstance(c, AsyncClient):
            c.record_nowait(**kw)
        else:
            c.record(**kw)

    return decorate
