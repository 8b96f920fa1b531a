"""The MCP sidecar: relays an MCP server unchanged and meters its ``tools/call`` requests."""
