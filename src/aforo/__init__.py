"""Aforo Console: a headless, multi-tenant platform API."""

__version__ = "0.1.0"
