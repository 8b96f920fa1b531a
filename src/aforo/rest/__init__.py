"""REST side-endpoints (besides usage ingestion): key verification, OAuth, uploads."""
