"""Aforo metering: record usage from Python services and ship it to the Aforo Console."""

from aforo_metering._core import OverflowPolicy, Stats
from aforo_metering._version import __version__
from aforo_metering.aio import AsyncClient
from aforo_metering.asgi import MeteringMiddleware
from aforo_metering.client import Client
from aforo_metering.decorator import meter, set_default_client
from aforo_metering.wsgi import WSGIMeteringMiddleware, meter_flask

__all__ = [
    "AsyncClient",
    "Client",
    "MeteringMiddleware",
    "OverflowPolicy",
    "Stats",
    "WSGIMeteringMiddleware",
    "__version__",
    "meter",
    "meter_flask",
    "set_default_client",
]
