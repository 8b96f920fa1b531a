import assert from "node:assert/strict";
import { test } from "node:test";
import { createRequire } from "node:module";
import * as esm from "@aforo/metering";
import { Metering, buildEvent, meter } from "@aforo/metering";
import { fakeConsole, fast } from "./helpers.mjs";

const KEY = "6f1d2c1e-8a43-4b8e-9a55-0c5b3c2d1e0f";

test("the CommonJS build is the same API", () => {
  const cjs = createRequire(import.meta.url)("@aforo/metering");
  assert.equal(typeof cjs.Metering, "function");
  assert.equal(typeof cjs.meterExpress, "function");
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
});

test("invalid events throw at the call and are not buffered", () => {
  const m = new Metering({ url: "http://127.0.0.1:9", token: "gwt_x", ...fast });
  const bad = [
    ["", 1, {}],
    ["m", -1, {}],
    ["m", Number.NaN, {}],
    ["m", true, {}],
    ["m", 1, { keyId: "not-a-uuid" }],
    ["m", 1, { eventId: "x".repeat(201) }],
    ["m", 1, { colour: "red" }],
    ["m", 1, { occurredAt: new Date("nope") }],
  ];
  for (const [metric, q, fields] of bad) {
    assert.throws(() => m.recordNowait(metric, q, fields), `${metric} ${q} ${JSON.stringify(fields)}`);
  }
  assert.equal(m.pending, 0);
  const e = buildEvent("api_calls", 2, { keyId: KEY, latencyMs: 4.5, route: "/a/{b}", properties: { x: 1 } });
  assert.deepEqual(Object.keys(e).sort(), ["event_id", "key_id", "latency_ms", "metric", "occurred_at", "properties", "quantity", "route"]);
});

test("batches by size; flush sends the rest; close settles everything", async () => {
  const c = await fakeConsole();
  const m = new Metering({ url: c.url, token: "gwt_t", batchSize: 10, flushIntervalMs: 60_000, ...fast });
  const ids = [];
  for (let i = 0; i < 25; i++) ids.push(m.recordNowait("api_calls", 1));
  assert.equal(await m.flush(5000), true);
  await m.close();
  assert.deepEqual(c.batches.map((b) => b.items.length), [10, 10, 5]);
  assert.deepEqual(c.batches.flatMap((b) => b.items.map((e) => e.event_id)), ids);
  assert.equal(c.batches[0].auth, "Bearer gwt_t");
  assert.equal(m.stats.accepted, 25);
  await c.close();
});

test("sends by time without flush", async () => {
  const c = await fakeConsole();
  const m = new Metering({ url: c.url, token: "gwt_t", flushIntervalMs: 20, ...fast });
  m.recordNowait("api_calls", 1);
  while (c.batches.length === 0) await new Promise((r) => setTimeout(r, 10));
  await m.close();
  await c.close();
});

test("5xx, 408 and 429 are retried with the same ids; 413 halves; 401 is not retried", async () => {
  const c = await fakeConsole([{ status: 503 }, { status: 429, headers: { "retry-after": "0" } }, { status: 408 }, { status: 413 }]);
  const m = new Metering({ url: c.url, token: "gwt_t", flushIntervalMs: 5, ...fast });
  for (let i = 0; i < 8; i++) m.recordNowait("api_calls", 1, { eventId: `e${i}` });
  assert.equal(await m.flush(5000), true);
  const sizes = c.batches.map((b) => b.items.length);
  assert.deepEqual(sizes, [8, 8, 8, 8, 4, 4]);
  const ids = (b) => b.items.map((e) => e.event_id).join();
  assert.equal(new Set(c.batches.slice(0, 4).map(ids)).size, 1);
  assert.equal(m.stats.retries, 3);
  c.script.push({ status: 401 });
  m.recordNowait("api_calls", 1);
  assert.equal(await m.flush(5000), true);
  assert.equal(m.stats.failed, 1);
  assert.equal(m.stats.retries, 3);
  await m.close();
  await c.close();
});

test("drop counts what it drops; close gives up on an unreachable console", async () => {
  const m = new Metering({ url: "http://127.0.0.1:9", token: "gwt_t", batchSize: 5, maxBuffer: 5, overflow: "drop", ...fast });
  for (let i = 0; i < 8; i++) m.recordNowait("api_calls", 1);
  assert.equal(m.pending, 5);
  assert.equal(m.stats.dropped, 3);
  await m.close(100);
  assert.equal(m.stats.failed, 5);
  assert.equal(m.recordNowait("api_calls", 1).length, 32); // after close: an id, but dropped
  assert.equal(m.stats.dropped, 4);
});

test("block waits for room", async () => {
  const c = await fakeConsole([{ status: 503 }, { status: 503 }, { status: 503 }]);
  const m = new Metering({ url: c.url, token: "gwt_t", batchSize: 2, maxBuffer: 2, overflow: "block", flushIntervalMs: 5, ...fast });
  await m.record("api_calls");
  await m.record("api_calls");
  let third = false;
  const p = m.record("api_calls").then(() => (third = true));
  assert.equal(third, false);
  await p;
  assert.equal(await m.flush(5000), true);
  assert.equal(m.stats.accepted, 3);
  assert.equal(m.stats.dropped, 0);
  await m.close();
  await c.close();
});

test("meter() records sync and async calls, errors only when asked", async () => {
  const c = await fakeConsole();
  const m = new Metering({ url: c.url, token: "gwt_t", ...fast });
  const words = meter((text) => text.split(" "), { metering: m, metric: "words", quantity: (r) => r.length });
  const lookup = meter(async (k) => { if (k === "x") throw new RangeError(k); return k; }, { metering: m, metric: "lookups", onError: true, properties: { tier: "gold" } });
  const quiet = meter(() => { throw new Error("no"); }, { metering: m, metric: "never" });
  assert.deepEqual(words("a b c"), ["a", "b", "c"]);
  assert.equal(await lookup("a"), "a");
  await assert.rejects(lookup("x"), RangeError);
  assert.throws(() => quiet());
  await m.close();
  const events = c.batches.flatMap((b) => b.items);
  assert.deepEqual(events.map((e) => [e.metric, e.quantity, e.properties]), [
    ["words", 3, undefined],
    ["lookups", 1, { tier: "gold" }],
    ["lookups", 1, { tier: "gold", error: "RangeError" }],
  ]);
  await c.close();
});

test("a process that ends on its own sends what is buffered", async () => {
  const c = await fakeConsole();
  const { spawn } = await import("node:child_process");
  const code = `import { Metering } from "@aforo/metering";
    const m = new Metering({ url: ${JSON.stringify(c.url)}, token: "gwt_t", flushIntervalMs: 3600000 });
    for (let i = 0; i < 7; i++) m.recordNowait("exit_test", 1, { eventId: "exit-" + i });`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { cwd: new URL(".", import.meta.url), stdio: "inherit" });
  const status = await new Promise((r) => child.on("exit", r));
  assert.equal(status, 0);
  assert.deepEqual(c.batches.flatMap((b) => b.items.map((e) => e.event_id)), [0, 1, 2, 3, 4, 5, 6].map((i) => `exit-${i}`));
  await c.close();
});
