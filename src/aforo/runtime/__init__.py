"""The embedded defaults: a private PostgreSQL, an in-process cache and event bus."""
