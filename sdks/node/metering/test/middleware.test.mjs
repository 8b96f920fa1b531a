import assert from "node:assert/strict";
import { test } from "node:test";
import { createServer } from "node:http";
import express from "express";
import Fastify from "fastify";
import { Metering, meterExpress, meterFastify, meterHttp, normalizeRoute, setRoute } from "@aforo/metering";
import { fakeConsole, fast } from "./helpers.mjs";

const KEY = "6f1d2c1e-8a43-4b8e-9a55-0c5b3c2d1e0f";

async function listen(server) {
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${server.address().port}`;
}

async function exercise(base) {
  const r1 = await fetch(`${base}/v2/items/42?x=1`, { headers: { "x-api-key-id": KEY, "x-request-id": "r-1" } });
  assert.equal(await r1.text(), "item 42");
  const r2 = await fetch(`${base}/v2/items`, { method: "POST", body: "hello", headers: { "x-api-key-id": "key-name" } });
  assert.equal(r2.status, 201);
  await (await fetch(`${base}/nowhere`)).text();
}

async function eventsOf(c, m) {
  assert.equal(await m.flush(5000), true);
  await m.close();
  const events = c.batches.flatMap((b) => b.items);
  events.sort((a, b) => String(a.path).localeCompare(String(b.path)) || String(a.method).localeCompare(String(b.method)));
  return events;
}

function check(events) {
  assert.deepEqual(
    events.map((e) => [e.method, e.path, e.route, e.status]),
    [
      ["GET", "/nowhere", undefined, 404],
      ["POST", "/v2/items", "/v2/items", 201],
      ["GET", "/v2/items/42", "/v2/items/{id}", 200],
    ],
  );
  const [, post, get] = events;
  assert.equal(get.key_id, KEY);
  assert.equal(get.request_id, "r-1");
  assert.equal(get.response_bytes, 7);
  assert.equal(post.key_id, undefined);
  assert.equal(post.consumer, "key-name"); // not a key id: kept as the consumer
  assert.equal(post.request_bytes, 5);
  assert.ok(events.every((e) => e.metric === "api.requests" && e.latency_ms >= 0 && e.client_ip));
}

test("express: route templates with router prefixes, status, sizes, key id", async () => {
  const c = await fakeConsole();
  const m = new Metering({ url: c.url, token: "gwt_t", ...fast });
  const app = express();
  app.use(meterExpress(m));
  const items = express.Router();
  items.get("/items/:id", (req, res) => res.send(`item ${req.params.id}`));
  items.post("/items", (req, res) => { req.resume(); req.on("end", () => res.status(201).send("ok")); });
  app.use("/v2", items);
  const server = createServer(app);
  await exercise(await listen(server));
  server.close();
  check(await eventsOf(c, m));
  await c.close();
});

test("fastify: one register() meters every route, encapsulated ones too", async () => {
  const c = await fakeConsole();
  const m = new Metering({ url: c.url, token: "gwt_t", ...fast });
  const app = Fastify();
  await app.register(meterFastify, { metering: m });
  await app.register(async (scoped) => {
    scoped.get("/items/:id", async (req) => `item ${req.params.id}`);
    scoped.post("/items", async (req, reply) => reply.code(201).send("ok"));
  }, { prefix: "/v2" });
  app.addContentTypeParser("text/plain", { parseAs: "string" }, (req, body, done) => done(null, body));
  const base = await app.listen({ port: 0, host: "127.0.0.1" });
  await exercise(base);
  await app.close();
  check(await eventsOf(c, m));
  await c.close();
});

test("node:http: setRoute() names the template; chunked bodies are counted", async () => {
  const c = await fakeConsole();
  const m = new Metering({ url: c.url, token: "gwt_t", ...fast });
  const server = createServer(meterHttp(m, (req, res) => {
    const match = /^\/v2\/items\/(\w+)/.exec(req.url);
    if (match) {
      setRoute(req, "/v2/items/{id}");
      res.end(`item ${match[1]}`);
    } else if (req.url === "/v2/items" && req.method === "POST") {
      setRoute(req, "/v2/items");
      req.resume();
      req.on("end", () => { res.statusCode = 201; res.write("o"); res.end("k"); });
    } else {
      res.statusCode = 404;
      res.end();
    }
  }));
  const base = await listen(server);
  await exercise(base);
  const chunked = new ReadableStream({ start(ctl) { ctl.enqueue(new TextEncoder().encode("abc")); ctl.enqueue(new TextEncoder().encode("de")); ctl.close(); } });
  await (await fetch(`${base}/v2/items`, { method: "POST", body: chunked, duplex: "half" })).text();
  server.close();
  const events = await eventsOf(c, m);
  const streamed = events.filter((e) => e.method === "POST").map((e) => e.request_bytes);
  assert.deepEqual(streamed, [5, 5]);
  check(events.filter((e, i, all) => all.findIndex((x) => x.method === e.method && x.path === e.path) === i));
  await c.close();
});

test("the console being down never slows or fails a request", async () => {
  const m = new Metering({ url: "http://127.0.0.1:9", token: "gwt_t", ...fast });
  const app = express();
  app.use(meterExpress(m, { excludePaths: ["/healthz"] }));
  app.get("/x", (req, res) => res.send("fine"));
  app.get("/healthz", (req, res) => res.send("ok"));
  const server = createServer(app);
  const base = await listen(server);
  for (let i = 0; i < 20; i++) assert.equal(await (await fetch(`${base}/x`)).text(), "fine");
  await (await fetch(`${base}/healthz`)).text();
  server.close();
  assert.equal(m.pending, 20);
  await m.close(50);
  assert.equal(m.stats.failed, 20);
});

test("route templates are written the OpenAPI way", () => {
  assert.equal(normalizeRoute("/users/:uid/orders/:oid"), "/users/{uid}/orders/{oid}");
  assert.equal(normalizeRoute("/files/*path"), "/files/{path}");
  assert.equal(normalizeRoute("/a/:id(\\d+)"), "/a/{id}");
  assert.equal(normalizeRoute("/plain/{x}"), "/plain/{x}");
});
