// A stand-in for the console's HTTP side, for unit tests: answers by operation name, speaks
// automatic persisted queries (unknown hash -> PERSISTED_QUERY_NOT_FOUND), records every call.
import { createHash } from "node:crypto";

export function fakeConsole(handlers) {
  const known = new Set();
  const calls = [];
  const fetch = async (url, init = {}) => {
    const u = new URL(url);
    let body;
    if ((init.method ?? "GET") === "GET") {
      const p = u.searchParams;
      body = {
        operationName: p.get("operationName"),
        variables: p.has("variables") ? JSON.parse(p.get("variables")) : undefined,
        extensions: p.has("extensions") ? JSON.parse(p.get("extensions")) : undefined,
      };
    } else {
      body = JSON.parse(init.body);
    }
    const call = { method: init.method ?? "GET", url, headers: { ...init.headers }, body };
    calls.push(call);
    const hash = body.extensions?.persistedQuery?.sha256Hash;
    if (hash) {
      if (body.query) {
        const actual = createHash("sha256").update(body.query).digest("hex");
        if (actual !== hash) return json({ errors: [{ message: "hash mismatch" }] }, 400);
        known.add(hash);
      } else if (!known.has(hash)) {
        return json({ errors: [{ message: "PersistedQueryNotFound",
          extensions: { code: "PERSISTED_QUERY_NOT_FOUND" } }] });
      }
    }
    const handler = handlers[body.operationName];
    if (!handler) return json({ errors: [{ message: `no handler for ${body.operationName}` }] }, 400);
    return json(await handler(body.variables ?? {}, call));
  };
  return { fetch, calls };
}

function json(body, status = 200) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/graphql-response+json" },
  });
}

export function session(n, { expiresInMs = 15 * 60_000 } = {}) {
  return {
    __typename: "AuthPayload",
    accessToken: `access-${n}`,
    refreshToken: `refresh-${n}`,
    expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
    staffRolesWithheld: false,
    user: { id: "u1", name: "Dev", email: "dev@example.com", emailVerified: true, roles: ["DEVELOPER"] },
  };
}

/** A Web Storage object (what sessionStorage offers), backed by a Map. */
export class MemoryWebStorage {
  #m = new Map();
  getItem(k) { return this.#m.has(k) ? this.#m.get(k) : null; }
  setItem(k, v) { this.#m.set(k, String(v)); }
  removeItem(k) { this.#m.delete(k); }
  get length() { return this.#m.size; }
  keys() { return [...this.#m.keys()]; }
}
