// A tiny MCP server built with the official TypeScript SDK, metered in process by
// @aforo/mcp-metering: two tools, one of which always fails.
//   node server.mjs                 stdio
//   node server.mjs http PORT       streamable HTTP (one session per client, as the SDK shows)
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { McpMetering, meterServer } from "@aforo/mcp-metering";

const metering = new McpMetering({
  url: process.env.AFORO_URL,
  token: process.env.AFORO_TOKEN,
  flushIntervalMs: 50,
  backoffCapMs: 300,
});

function tiny() {
  const server = new McpServer({ name: "tiny-node", version: "1.0.0" });
  server.registerTool("add", { description: "Add two numbers.", inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }], structuredContent: { result: a + b } }));
  server.registerTool("explode", { description: "Always fails.", inputSchema: { reason: z.string() } },
    async ({ reason }) => { throw new Error(`boom: ${reason}`); });
  return meterServer(server, metering);
}

if (process.argv[2] === "http") {
  const transports = new Map();
  const http = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
    const sid = req.headers["mcp-session-id"];
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => transports.delete(transport.sessionId);
      await tiny().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  http.listen(Number(process.argv[3]), "127.0.0.1");
  const stop = async () => {
    for (const t of transports.values()) await t.close();
    http.close();
    await metering.close(5000);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  await tiny().connect(new StdioServerTransport());
  process.stdin.on("end", async () => {
    await metering.close(5000);
  });
}
