import assert from "node:assert/strict";
import { afterEach, describe, it, mock } from "node:test";

import {
  ApiKeysDocument,
  createStorefront,
  MeDocument,
  StorefrontError,
  TenantDocument,
} from "../../dist/index.js";
import { fakeConsole, MemoryWebStorage, session } from "./fake.mjs";

const KEY = "pk_test_storefront";
const opened = [];
function open(options) {
  const sf = createStorefront({ url: "https://console.example", storefrontKey: KEY, ...options });
  opened.push(sf);
  return sf;
}
afterEach(() => {
  while (opened.length) opened.pop().dispose();
});

describe("persisted queries", () => {
  it("send the hash alone by GET, the document once when the console does not know it", async () => {
    const c = fakeConsole({ Tenant: () => ({ data: { tenant: { id: "t", name: "Acme" } } }) });
    const sf = open({ fetch: c.fetch });
    await sf.request(TenantDocument);
    await sf.request(TenantDocument);
    assert.deepEqual(c.calls.map((x) => [x.method, Boolean(x.body.query)]), [
      ["GET", false], // hash only: unknown
      ["POST", true], // registered with the document
      ["GET", false], // known now: the hash alone
    ]);
    const url = new URL(c.calls[2].url);
    assert.equal(url.pathname, "/graphql");
    assert.equal(url.searchParams.get("query"), null);
    assert.equal(c.calls[2].headers["X-Storefront-Key"], KEY);
  });

  it("mutations go by POST, and off means the full document every time", async () => {
    const c = fakeConsole({ Tenant: () => ({ data: { tenant: null } }) });
    const sf = open({ fetch: c.fetch, persistedQueries: false });
    await sf.request(TenantDocument);
    assert.equal(c.calls.length, 1);
    assert.equal(c.calls[0].method, "POST");
    assert.match(c.calls[0].body.query, /query Tenant/);
    assert.equal(c.calls[0].body.extensions, undefined);
  });
});

describe("errors", () => {
  it("a GraphQL error becomes a StorefrontError with its extensions.code", async () => {
    const c = fakeConsole({
      Me: () => ({ errors: [{ message: "slow down", extensions: { code: "RATE_LIMITED", retryAfter: 7 } }] }),
    });
    const sf = open({ fetch: c.fetch });
    const e = await sf.request(MeDocument).catch((x) => x);
    assert.ok(e instanceof StorefrontError);
    assert.equal(e.code, "RATE_LIMITED");
    assert.equal(e.retryAfter, 7);
  });

  it("a UserError of a result union is thrown with its code and field", async () => {
    const c = fakeConsole({
      LogIn: () => ({ data: { logIn: { __typename: "UserError", code: "INVALID_CREDENTIALS",
        message: "wrong email or password", field: "password" } } }),
    });
    const sf = open({ fetch: c.fetch });
    const e = await sf.logIn("a@example.com", "nope").catch((x) => x);
    assert.equal(e.code, "INVALID_CREDENTIALS");
    assert.equal(e.field, "password");
    assert.equal(sf.signedIn, false);
  });

  it("an unreachable console is NETWORK_ERROR, a non-JSON answer HTTP_ERROR", async () => {
    const down = open({ fetch: async () => { throw new TypeError("Failed to fetch"); } });
    assert.equal((await down.request(MeDocument).catch((x) => x)).code, "NETWORK_ERROR");
    const html = open({ fetch: async () => new Response("<h1>502</h1>", { status: 502,
      headers: { "content-type": "text/html" } }) });
    const e = await html.request(MeDocument).catch((x) => x);
    assert.equal(e.code, "HTTP_ERROR");
    assert.equal(e.status, 502);
  });
});

describe("the session", () => {
  it("log-in with a second factor: the challenge first, then the code signs in", async () => {
    const c = fakeConsole({
      LogIn: () => ({ data: { logIn: { __typename: "SecondFactorRequired", challenge: "ch1",
        expiresAt: "2030-01-01T00:00:00Z" } } }),
      LogInSecondFactor: (v) => ({ data: { logInSecondFactor:
        v.challenge === "ch1" && v.code === "123456" ? session(1)
          : { __typename: "UserError", code: "INVALID_CODE", message: "wrong code", field: "code" } } }),
      Me: (_v, call) => ({ data: { me: call.headers.Authorization ? { id: "u1" } : null } }),
    });
    const sf = open({ fetch: c.fetch });
    const first = await sf.logIn("dev@example.com", "pw");
    assert.deepEqual(first, { status: "secondFactorRequired", challenge: "ch1",
      expiresAt: "2030-01-01T00:00:00Z" });
    assert.equal(sf.signedIn, false);
    assert.equal((await sf.logInSecondFactor("ch1", "000000").catch((e) => e)).code, "INVALID_CODE");
    const done = await sf.logInSecondFactor("ch1", "123456");
    assert.equal(done.status, "signedIn");
    await sf.request(MeDocument);
    assert.equal(c.calls.at(-1).headers.Authorization, "Bearer access-1");
  });

  it("an UNAUTHENTICATED answer refreshes once (rotating the refresh token) and retries", async () => {
    let n = 1;
    const used = [];
    const c = fakeConsole({
      LogIn: () => ({ data: { logIn: session(1) } }),
      RefreshToken: (v) => {
        used.push(v.token);
        n += 1;
        return { data: { refreshToken: session(n) } };
      },
      ApiKeys: (_v, call) => call.headers.Authorization === "Bearer access-1"
        ? { errors: [{ message: "expired", extensions: { code: "UNAUTHENTICATED" } }] }
        : { data: { apiKeys: { nodes: [], hasNextPage: false, endCursor: null } } },
    });
    const sf = open({ fetch: c.fetch });
    await sf.logIn("dev@example.com", "pw");
    const seen = [];
    sf.onSessionChange((u) => seen.push(u?.id ?? null));
    // Concurrent requests share one refresh: a refresh token is single-use.
    await Promise.all([sf.request(ApiKeysDocument, {}), sf.request(ApiKeysDocument, {})]);
    assert.deepEqual(used, ["refresh-1"]);
    assert.deepEqual(seen, ["u1"]);
    assert.equal(c.calls.at(-1).headers.Authorization, "Bearer access-2");
    // The refresh itself never carries the (refused) access token.
    const refresh = c.calls.find((x) => x.body.operationName === "RefreshToken");
    assert.equal(refresh.headers.Authorization, undefined);
  });

  it("a refused refresh ends the session; the original error is what the caller sees", async () => {
    const c = fakeConsole({
      LogIn: () => ({ data: { logIn: session(1) } }),
      RefreshToken: () => ({ data: { refreshToken: { __typename: "UserError",
        code: "INVALID_TOKEN", message: "reused", field: "token" } } }),
      Me: () => ({ errors: [{ message: "expired", extensions: { code: "UNAUTHENTICATED" } }] }),
    });
    const sf = open({ fetch: c.fetch });
    await sf.logIn("dev@example.com", "pw");
    const e = await sf.request(MeDocument).catch((x) => x);
    assert.equal(e.code, "UNAUTHENTICATED");
    assert.equal(sf.signedIn, false);
  });

  it("refreshes before the access token expires, on a timer", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.parse("2026-01-01T00:00:00Z") });
    let n = 1;
    const c = fakeConsole({
      LogIn: () => ({ data: { logIn: session(1, { expiresInMs: 5 * 60_000 }) } }),
      RefreshToken: () => ({ data: { refreshToken: session(++n, { expiresInMs: 5 * 60_000 }) } }),
    });
    const sf = open({ fetch: c.fetch, refreshBeforeExpirySeconds: 60 });
    await sf.logIn("dev@example.com", "pw");
    t.mock.timers.tick(3 * 60_000); // 80% of a 5-minute token is 4 minutes
    await flush();
    assert.equal(n, 1);
    t.mock.timers.tick(61_000);
    await flush();
    assert.equal(n, 2);
    assert.equal(sf.expiresAt, new Date(Date.now() + 5 * 60_000).toISOString());
  });

  it("log-out ends the session on the console and forgets it and the tab's secrets", async () => {
    const store = new MemoryWebStorage();
    const c = fakeConsole({
      LogIn: () => ({ data: { logIn: session(1) } }),
      LogOut: (_v, call) => ({ data: { logOut: { __typename: "LoggedOut",
        ok: call.headers.Authorization === "Bearer access-1" } } }),
      CreateApiKey: () => ({ data: { createApiKey: { __typename: "ApiKeyCreated", secret: "sk_live_SECRET",
        apiKey: { id: "k1" } } } }),
    });
    const sf = open({ fetch: c.fetch, storage: secretsOf(store), secretStore: secretsOf(store) });
    await sf.logIn("dev@example.com", "pw");
    assert.ok(store.getItem("aforo.session"));
    await sf.createApiKey({ subscriptionId: "s1", name: "ci" });
    assert.equal(sf.reveal("k1").available, true);
    await sf.logOut();
    assert.equal(c.calls.at(-1).body.operationName, "LogOut");
    assert.equal(store.getItem("aforo.session"), null);
    assert.equal(sf.reveal("k1").available, false);
    assert.deepEqual(store.keys(), []);
  });
});

describe("storage policy", () => {
  it("refuses localStorage by name and by object", () => {
    const local = new MemoryWebStorage();
    globalThis.localStorage = local;
    try {
      for (const storage of ["localStorage", local]) {
        assert.throws(() => open({ fetch: async () => {}, storage }),
          (e) => e.code === "LOCAL_STORAGE_REFUSED");
      }
    } finally {
      delete globalThis.localStorage;
    }
  });

  it("memory by default: a new client (a reload) starts signed out; sessionStorage keeps it", async () => {
    const c = fakeConsole({ LogIn: () => ({ data: { logIn: session(1) } }) });
    const a = open({ fetch: c.fetch });
    await a.logIn("dev@example.com", "pw");
    assert.equal(open({ fetch: c.fetch }).signedIn, false);
    globalThis.sessionStorage = new MemoryWebStorage();
    try {
      const b = open({ fetch: c.fetch, storage: "sessionStorage" });
      await b.logIn("dev@example.com", "pw");
      assert.equal(open({ fetch: c.fetch, storage: "sessionStorage" }).user.id, "u1");
    } finally {
      delete globalThis.sessionStorage;
    }
  });
});

function secretsOf(storage) {
  return {
    get: (k) => storage.getItem(k),
    set: (k, v) => storage.setItem(k, v),
    remove: (k) => storage.removeItem(k),
  };
}

async function flush() {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}
