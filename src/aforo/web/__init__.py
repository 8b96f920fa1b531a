"""The HTTP edge: CORS, security headers and compression, UI pages and their assets, and the
REST contract (OpenAPI)."""
