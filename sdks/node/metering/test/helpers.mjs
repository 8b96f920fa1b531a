// A stand-in console for the unit tests: records every batch, answers what the test scripts.
// (The shared conformance suite runs the same client against the real console.)
import { createServer } from "node:http";

export async function fakeConsole(script = []) {
  const batches = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const parsed = JSON.parse(body);
      const items = parsed.events ?? parsed.records;
      batches.push({ path: req.url, auth: req.headers.authorization, items });
      const next = script.shift();
      if (next) {
        res.writeHead(next.status, next.headers ?? {});
        res.end(next.body ?? "{}");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ outcome: "accepted", accepted: items.length, duplicates: 0, rejected: [] }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, batches, script, close: () => new Promise((r) => server.close(r)) };
}

export const quiet = { warn() {}, error() {} };
export const fast = { backoffBaseMs: 5, backoffCapMs: 20, logger: quiet, flushOnExit: false };
