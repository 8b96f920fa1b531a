"""REST side-endpoints for usage: canonical batches, gateway formats, uploads, MCP records."""
