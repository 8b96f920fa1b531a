"""The tiny MCP server of mcp_server.py, metered in process by aforo_metering.mcp_metering.

python mcp_metered_server.py                  # stdio
python mcp_metered_server.py http PORT        # streamable HTTP
"""

from __future__ import annotations

import os
import sys

from aforo_metering.mcp_metering import McpMetering, meter_server
from tests.sdk.mcp_server import server

meter_server(
    server,
    McpMetering(
        os.environ["AFORO_URL"], os.environ["AFORO_TOKEN"], flush_interval=0.05, exit_timeout=5
    ),
)

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        server.run("streamable-http", port=int(sys.argv[2]))
    else:
        server.run()
