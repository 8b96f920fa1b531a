#!/usr/bin/env node
// aforo-mcp-proxy: meter every tools/call of an MCP server without changing it.
//   npx @aforo/mcp-proxy --url https://console.example.com -- node server.js            (stdio)
//   npx @aforo/mcp-proxy --url … --upstream http://127.0.0.1:9000 --listen 127.0.0.1:8931 (HTTP)
// The token comes from AFORO_TOKEN (argv is visible to other users; --token works too).

import { parseArgs } from "node:util";
import { McpMetering } from "@aforo/mcp-metering";
import { HttpProxy } from "./http.js";
import { relay } from "./stdio.js";

const USAGE = `usage: aforo-mcp-proxy [options] -- <server command>     (stdio)
       aforo-mcp-proxy [options] --upstream URL [--listen HOST:PORT]  (streamable HTTP)
options: --url URL (env AFORO_URL)  --token T (env AFORO_TOKEN)  --agent-id ID (env AFORO_AGENT_ID)
         --batch-size N  --flush-interval S  --max-buffer N  --backoff-cap S  --flush-timeout S
         --full-payloads  -v`;

function fail(message: string, code = 2): never {
  process.stderr.write(`aforo-mcp-proxy: ${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf("--");
  const command = dash >= 0 ? argv.slice(dash + 1) : [];
  const { values: o } = parseArgs({
    args: dash >= 0 ? argv.slice(0, dash) : argv,
    options: {
      url: { type: "string", default: process.env.AFORO_URL },
      token: { type: "string", default: process.env.AFORO_TOKEN },
      "agent-id": { type: "string", default: process.env.AFORO_AGENT_ID },
      upstream: { type: "string" },
      listen: { type: "string", default: "127.0.0.1:8931" },
      "batch-size": { type: "string", default: "200" },
      "flush-interval": { type: "string", default: "1" },
      "max-buffer": { type: "string", default: "100000" },
      "backoff-cap": { type: "string", default: "30" },
      "flush-timeout": { type: "string", default: "1.5" },
      "full-payloads": { type: "boolean", default: false },
      verbose: { type: "boolean", short: "v", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (o.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  if (!o.url || !o.token) fail("--url and --token (or AFORO_URL / AFORO_TOKEN) are required");
  if ((command.length > 0) === Boolean(o.upstream)) fail("give either a server command after `--` or --upstream");
  const flushTimeoutMs = Number(o["flush-timeout"]) * 1000;
  const metering = new McpMetering({
    url: o.url,
    token: o.token,
    agentId: o["agent-id"],
    fullPayloads: o["full-payloads"],
    batchSize: Number(o["batch-size"]),
    flushIntervalMs: Number(o["flush-interval"]) * 1000,
    maxBuffer: Number(o["max-buffer"]),
    backoffCapMs: Number(o["backoff-cap"]) * 1000,
    exitTimeoutMs: flushTimeoutMs,
    logger: {
      warn: (m) => o.verbose && process.stderr.write(`aforo-mcp-proxy: ${m}\n`),
      error: (m) => process.stderr.write(`aforo-mcp-proxy: ${m}\n`),
    },
  });
  if (command.length) {
    let code: number;
    try {
      code = await relay(command, metering.observer("stdio"));
    } catch (e) {
      fail(`cannot start server: ${String((e as Error).message ?? e)}`, 127);
    }
    await metering.close(flushTimeoutMs); // MCP clients stop a server ~2 s after closing stdin
    return code;
  }
  const proxy = new HttpProxy(o.upstream as string, metering.observer("streamable_http"));
  const [host, port] = [o.listen.slice(0, o.listen.lastIndexOf(":")), Number(o.listen.slice(o.listen.lastIndexOf(":") + 1))];
  await new Promise<void>((resolve) => proxy.server.listen(port, host || "127.0.0.1", resolve));
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve());
  });
  proxy.server.close();
  proxy.server.closeAllConnections?.();
  proxy.endAll();
  await metering.close(flushTimeoutMs);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => fail(String(e?.message ?? e), 2),
);
