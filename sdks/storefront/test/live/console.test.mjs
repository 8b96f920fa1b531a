// Against a real console (started by tests/test_storefront_sdk.py, which passes where it is in
// the environment): the SDK's whole session life, persisted queries, keys and their one-time
// secret, a live subscription, and two-factor sign-in.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";

import WebSocket from "ws";

import {
  ApiKeysDocument,
  BeginTwoFactorEnrollmentDocument,
  ConfirmTwoFactorEnrollmentDocument,
  createStorefront,
  MeDocument,
  RefreshTokenDocument,
  ReplyDocument,
  StorefrontError,
  SubscribeDocument,
  TenantDocument,
  ThreadActivityDocument,
  unwrap,
} from "../../dist/index.js";

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: tests/test_storefront_sdk.py runs this file`);
  return v;
};
const URL_ = env("AFORO_URL");
const KEY = env("AFORO_STOREFRONT_KEY");
const PLAN = env("AFORO_PLAN_ID");
const THREAD = env("AFORO_THREAD_ID");
const MAIL = env("AFORO_MAIL_DIR");
const PASSWORD = "correct horse battery staple 7";

/** A client whose every request is recorded, its session in a store the test can read. */
function client(store = new Map()) {
  const sent = [];
  const fetch = (url, init) => {
    sent.push({ url: String(url), method: init?.method ?? "GET", body: init?.body ?? null });
    return globalThis.fetch(url, init);
  };
  const storage = {
    get: (k) => store.get(k) ?? null,
    set: (k, v) => void store.set(k, v),
    remove: (k) => void store.delete(k),
  };
  const secrets = new Map();
  const sf = createStorefront({
    url: URL_, storefrontKey: KEY, fetch, storage, webSocketImpl: WebSocket,
    secretStore: { get: (k) => secrets.get(k) ?? null, set: (k, v) => void secrets.set(k, v),
                   remove: (k) => void secrets.delete(k) },
  });
  return { sf, sent, store, secrets };
}

async function mailedToken(to, path) {
  for (let i = 0; i < 300; i++) {
    const names = (await readdir(MAIL).catch(() => [])).filter((n) => n.endsWith(".eml")).sort();
    for (const n of names) {
      const raw = (await readFile(join(MAIL, n), "utf8")).replace(/=\r?\n/g, "").replace(/=3D/g, "=");
      if (!raw.includes(`To: ${to}`)) continue;
      const m = new RegExp(`/${path}\\?token=([A-Za-z0-9_\\-.~%]+)`).exec(raw);
      if (m) return decodeURIComponent(m[1]);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${path} mail to ${to}`);
}

function totp(base32, at = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const h = createHmac("sha1", key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

describe("the storefront SDK against the console", () => {
  const email = `sdk-${process.pid}@example.com`;

  it("signs up, verifies, subscribes, creates a key whose secret only the reveal holds", async () => {
    const { sf, sent, secrets } = client();
    const tenant = (await sf.request(TenantDocument)).tenant;
    assert.ok(tenant.branding.brandName);
    assert.match(tenant.branding.primaryColor, /^#[0-9a-fA-F]{6}$/);

    const up = await sf.signUp({ email, password: PASSWORD, name: "SDK Dev" });
    assert.equal(up.verificationRequired, true);
    const verified = await sf.verifyEmail(await mailedToken(email, "verify-email"));
    assert.equal(verified.signedIn, true);
    assert.equal((await sf.request(MeDocument)).me.email, email);

    const sub = unwrap((await sf.request(SubscribeDocument, { planId: PLAN })).subscribe);
    const { apiKey, reveal } = await sf.createApiKey({ subscriptionId: sub.id, name: "server" });
    const el = { textContent: "" };
    assert.equal(reveal.show(el), true);
    const secret = el.textContent;
    assert.ok(secret.length > 20);
    assert.deepEqual([...secrets.values()].filter((v) => v === secret).length, 1);
    const keys = await sf.request(ApiKeysDocument, { first: 10 });
    assert.deepEqual(keys.apiKeys.map((k) => k.id), [apiKey.id]);
    assert.ok(!JSON.stringify(keys).includes(secret), "the console never shows it again");
    // Persisted queries: the hash alone by GET; the document once, when the console did not
    // know it; then the hash alone again.
    await sf.request(ApiKeysDocument, { first: 10 });
    const pq = sent.filter((s) => s.url.includes("operationName=ApiKeys") || s.body?.includes('"ApiKeys"'));
    assert.deepEqual(pq.map((s) => [s.method, s.body?.includes("query ApiKeys") ?? false]),
      [["GET", false], ["POST", true], ["GET", false]]);
    assert.ok(!pq[2].url.includes("query="));

    const rotated = await sf.rotateApiKey(apiKey.id, 60);
    assert.ok(rotated.previousKeyExpiresAt);
    assert.equal(sf.reveal(apiKey.id).available, false);
    assert.equal(rotated.reveal.available, true);
    await sf.logOut();
  });

  it("rotates the refresh token, refreshes on UNAUTHENTICATED, and log-out ends the session", async () => {
    const { sf, store } = client();
    const r = await sf.logIn(email, PASSWORD);
    assert.equal(r.status, "signedIn");
    const first = JSON.parse(store.get("aforo.session"));
    await sf.refresh();
    const second = JSON.parse(store.get("aforo.session"));
    assert.notEqual(second.refreshToken, first.refreshToken);
    // The old refresh token was single-use.
    const { sf: other } = client();
    const reused = (await other.request(RefreshTokenDocument, { token: first.refreshToken })).refreshToken;
    assert.equal(reused.__typename, "UserError");

    // An access token the console refuses: the SDK refreshes once and the request succeeds.
    const { sf: fresh, store: freshStore } = client();
    await fresh.logIn(email, PASSWORD);
    const s = JSON.parse(freshStore.get("aforo.session"));
    freshStore.set("aforo.session", JSON.stringify({ ...s, accessToken: s.accessToken.slice(0, -4) + "AAAA" }));
    const { sf: reloaded, store: reloadedStore } = client(freshStore);
    assert.equal((await reloaded.request(MeDocument)).me.email, email);
    assert.notEqual(JSON.parse(reloadedStore.get("aforo.session")).refreshToken, s.refreshToken);
    fresh.dispose();

    const kept = JSON.parse(store.get("aforo.session"));
    await sf.logOut();
    assert.equal(sf.signedIn, false);
    assert.equal(store.get("aforo.session"), undefined);
    const after = (await other.request(RefreshTokenDocument, { token: kept.refreshToken })).refreshToken;
    assert.equal(after.__typename, "UserError");
    const e = await sf.request(ApiKeysDocument, {}).catch((x) => x);
    assert.ok(e instanceof StorefrontError);
    assert.equal(e.code, "UNAUTHENTICATED");
    other.dispose();
    reloaded.dispose();
  });

  it("holds a graphql-ws subscription signed in", async () => {
    const { sf } = client();
    await sf.logIn(email, PASSWORD);
    const events = [];
    let failed = null;
    const stop = sf.subscribe(ThreadActivityDocument, { threadId: THREAD }, {
      next: (d) => events.push(d.threadActivity),
      error: (e) => { failed = e; },
    });
    for (let i = 0; i < 40 && events.length === 0 && !failed; i++) {
      unwrap((await sf.request(ReplyDocument, { threadId: THREAD, body: `From the SDK, ${i}.` })).reply);
      await new Promise((r) => setTimeout(r, 100));
    }
    stop();
    assert.equal(failed, null);
    assert.equal(events[0]?.type, "reply.created");
    assert.match(events[0].bodyHtml, /From the SDK/);
    await sf.logOut();
  });

  it("signs in with the second factor once the account has one", async () => {
    const { sf } = client();
    await sf.logIn(email, PASSWORD);
    const enrol = unwrap((await sf.request(BeginTwoFactorEnrollmentDocument, { password: PASSWORD }))
      .beginTwoFactorEnrollment);
    unwrap((await sf.request(ConfirmTwoFactorEnrollmentDocument, { code: totp(enrol.secret) }))
      .confirmTwoFactorEnrollment);
    await sf.logOut();

    const step = await sf.logIn(email, PASSWORD);
    assert.equal(step.status, "secondFactorRequired");
    assert.equal(sf.signedIn, false);
    const wrong = await sf.logInSecondFactor(step.challenge, "000000").catch((e) => e);
    assert.ok(wrong instanceof StorefrontError);
    // The same code may not be used twice: the next window's code if this one was spent.
    const done = await sf.logInSecondFactor(step.challenge, totp(enrol.secret, Date.now() + 30_000))
      .catch(() => sf.logInSecondFactor(step.challenge, totp(enrol.secret)));
    assert.equal(done.status, "signedIn");
    assert.equal((await sf.request(MeDocument)).me.email, email);
    await sf.logOut();
  });
});
