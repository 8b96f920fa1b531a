import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createStorefront, waterfall, waterfallOf } from "../../dist/index.js";
import { fakeConsole, MemoryWebStorage, session } from "./fake.mjs";

function tab(storage) {
  const handlers = {
    LogIn: () => ({ data: { logIn: session(1) } }),
    CreateApiKey: () => ({ data: { createApiKey: { __typename: "ApiKeyCreated",
      secret: "sk_live_ONE", clientId: "c", apiKey: { id: "k1" } } } }),
    RotateApiKey: (v) => ({ data: { rotateApiKey: { __typename: "ApiKeyRotated", secret: "sk_live_TWO",
      previousKeyExpiresAt: "2030-01-01T00:00:00Z", apiKey: { id: "k2", previous: v.id } } } }),
    RevokeApiKey: () => ({ data: { revokeApiKey: { __typename: "ApiKey", id: "k2" } } }),
  };
  const c = fakeConsole(handlers);
  globalThis.sessionStorage = storage;
  try {
    return { sf: createStorefront({ url: "https://c.example", storefrontKey: "pk", fetch: c.fetch }), c };
  } finally {
    delete globalThis.sessionStorage;
  }
}

describe("reveal(keyId)", () => {
  it("shows the secret only in the element it is given, across reloads of the tab only", async () => {
    const tabStorage = new MemoryWebStorage();
    const { sf } = tab(tabStorage);
    await sf.logIn("dev@example.com", "pw");
    const { apiKey, reveal } = await sf.createApiKey({ subscriptionId: "s", name: "n" });
    assert.equal(apiKey.id, "k1");
    assert.ok(!JSON.stringify(apiKey).includes("sk_live_ONE"), "the caller gets no secret");
    const el = { textContent: "" };
    assert.equal(reveal.show(el), true);
    assert.equal(el.textContent, "sk_live_ONE");
    reveal.hide(el);
    assert.equal(el.textContent, "");

    // A reload: a new client on the same tab's sessionStorage still reveals it.
    const reloaded = tab(tabStorage).sf;
    const copied = [];
    await reloaded.reveal("k1").copy({ writeText: async (t) => void copied.push(t) });
    assert.deepEqual(copied, ["sk_live_ONE"]);

    // A new tab has its own sessionStorage: nothing to reveal.
    const other = tab(new MemoryWebStorage()).sf;
    const r = other.reveal("k1");
    assert.equal(r.available, false);
    assert.equal(r.show(el), false);
    assert.equal(el.textContent, "");
    assert.equal((await r.copy({ writeText: async () => {} }).catch((e) => e)).code, "SECRET_NOT_AVAILABLE");
  });

  it("rotation keeps the new secret under the new key and drops the old; revoke drops it; forget too", async () => {
    const { sf } = tab(new MemoryWebStorage());
    await sf.logIn("dev@example.com", "pw");
    await sf.createApiKey({ subscriptionId: "s", name: "n" });
    const rotated = await sf.rotateApiKey("k1", 60);
    assert.equal(rotated.previousKeyExpiresAt, "2030-01-01T00:00:00Z");
    assert.equal(sf.reveal("k1").available, false);
    const el = { textContent: null };
    rotated.reveal.show(el);
    assert.equal(el.textContent, "sk_live_TWO");
    rotated.reveal.forget();
    assert.equal(sf.reveal("k2").available, false);
    await sf.createApiKey({ subscriptionId: "s", name: "n" });
    await sf.revokeApiKey("k1");
    assert.equal(sf.reveal("k1").available, false);
  });
});

describe("waterfall", () => {
  it("lays the phases end to end from the finished timing", () => {
    const w = waterfall({ dnsMs: 2, connectMs: 3, tlsMs: 0, ttfbMs: 40, transferMs: 5, totalMs: 50 });
    assert.deepEqual(w.map((s) => [s.phase, s.startMs, s.durationMs]), [
      ["dns", 0, 2], ["connect", 2, 3], ["tls", 5, 0], ["ttfb", 5, 40], ["transfer", 45, 5],
    ]);
  });

  it("grows live from the phase events received so far", () => {
    const events = [
      { phase: "STARTED", elapsedMs: 0 },
      { phase: "DNS_RESOLVED", elapsedMs: 1 },
      { phase: "CONNECTED", elapsedMs: 4 },
    ];
    assert.deepEqual(waterfallOf(events).map((s) => [s.phase, s.startMs, s.durationMs]),
      [["dns", 0, 1], ["connect", 1, 3]]);
    events.push({ phase: "FIRST_BYTE", elapsedMs: 30 }, { phase: "COMPLETED", elapsedMs: 33 });
    assert.deepEqual(waterfallOf(events).map((s) => s.phase), ["dns", "connect", "ttfb", "transfer"]);
  });
});
