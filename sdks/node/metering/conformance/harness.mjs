// The Node.js SDK's conformance harness: one JSON command per line on stdin, one JSON answer
// per line on stdout (protocol: sdks/conformance/README.md).
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import express from "express";
import Fastify from "fastify";
import { Metering, meterExpress, meterFastify, meterHttp, setRoute } from "@aforo/metering";

const say = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
const servers = [];
let client;

function options(o) {
  const ms = (s) => (s === undefined ? undefined : s * 1000);
  return {
    batchSize: o.batch_size,
    flushIntervalMs: ms(o.flush_interval),
    maxBuffer: o.max_buffer,
    overflow: o.overflow,
    backoffBaseMs: ms(o.backoff_base),
    backoffCapMs: ms(o.backoff_cap),
    exitTimeoutMs: ms(o.exit_timeout),
  };
}

function stats() {
  return { ...client.stats, pending: client.pending };
}

const colon = (route) => route.replace(/\{(\w+)\}/g, ":$1");

async function serve({ framework, metric, routes }) {
  const answer = (r) => (res) => {
    res.statusCode = r.status;
    res.end(r.body);
  };
  if (framework === "express") {
    const app = express();
    app.use(meterExpress(client, { metric }));
    for (const r of routes) app[r.method.toLowerCase()](colon(r.route), (req, res) => req.resume().on("end", () => answer(r)(res)));
    const server = createServer(app);
    await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
    servers.push(() => server.close());
    return server.address().port;
  }
  if (framework === "fastify") {
    const app = Fastify();
    await app.register(meterFastify, { metering: client, metric });
    app.addContentTypeParser("*", { parseAs: "string" }, (req, body, done) => done(null, body));
    for (const r of routes) app.route({ method: r.method, url: colon(r.route), handler: (req, reply) => { reply.code(r.status).send(r.body); } });
    await app.listen({ port: 0, host: "127.0.0.1" });
    servers.push(() => app.close());
    return app.server.address().port;
  }
  // plain node:http with a hand-written router that announces its templates
  const compiled = routes.map((r) => ({ ...r, re: new RegExp("^" + r.route.replace(/\{\w+\}/g, "[^/]+") + "$") }));
  const server = createServer(
    meterHttp(client, (req, res) => {
      const path = req.url.split("?")[0];
      const r = compiled.find((c) => c.method === req.method && c.re.test(path));
      req.resume();
      req.on("end", () => {
        if (!r) {
          res.statusCode = 404;
          res.end();
          return;
        }
        setRoute(req, r.route);
        answer(r)(res);
      });
    }, { metric }),
  );
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  servers.push(() => server.close());
  return server.address().port;
}

async function handle(c) {
  switch (c.op) {
    case "client":
      client = new Metering({ url: c.url, token: c.token, ...options(c.options) });
      return {};
    case "record": {
      const ids = Array.from({ length: c.count }, (_, i) => `${c.id_prefix}-${i}`);
      const all = async () => {
        for (const eventId of ids) await client.record(c.metric, 1, { eventId, subscriptionId: c.subscription_id });
      };
      if (c.background) all().then(() => say({ done: c.background }));
      else await all();
      return {};
    }
    case "flush":
      return { flushed: await client.flush(c.timeout * 1000) };
    case "close":
      await client.close(c.timeout * 1000);
      return {};
    case "stats":
      return stats();
    case "serve":
      return { port: await serve(c) };
    case "exit":
      return {};
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
let chain = Promise.resolve();
lines.on("line", (line) => {
  const c = JSON.parse(line);
  chain = chain.then(async () => {
    try {
      say({ ok: true, ...(await handle(c)) });
    } catch (e) {
      say({ error: String(e?.stack ?? e) });
    }
    if (c.op === "exit") {
      // no close(): the process ends on its own, and the SDK must send what is buffered
      lines.close();
      process.stdin.destroy();
    }
  });
});
lines.on("close", () => {
  for (const stop of servers) stop();
});
