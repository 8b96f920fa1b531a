import sys

from aforo_metering.mcp_proxy.cli import main

sys.exit(main())
