"""A tiny MCP server for the sidecar tests: two tools, one of which always fails.

python mcp_server.py                      # stdio
python mcp_server.py http PORT [json]     # streamable HTTP (SSE responses, or JSON)
"""

from __future__ import annotations

import sys

from mcp.server import MCPServer

server = MCPServer("tiny")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool()
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"boom: {reason}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        server.run(
            "streamable-http",
            port=int(sys.argv[2]),
            json_response=len(sys.argv) > 3 and sys.argv[3] == "json",
        )
    else:
        server.run()
