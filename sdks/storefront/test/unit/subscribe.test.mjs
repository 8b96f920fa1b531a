import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, it } from "node:test";

import WebSocket, { WebSocketServer } from "ws";

import { createStorefront, ThreadActivityDocument } from "../../dist/index.js";
import { fakeConsole, session } from "./fake.mjs";

/** A graphql-transport-ws server that accepts only `access-2`: any other token is closed
 * with 4401, as the console closes a socket whose token expired. */
async function socketServer() {
  const wss = new WebSocketServer({ port: 0, handleProtocols: () => "graphql-transport-ws" });
  await once(wss, "listening");
  const inits = [];
  wss.on("connection", (ws) => {
    ws.on("message", (raw) => {
      const msg = JSON.parse(String(raw));
      if (msg.type === "connection_init") {
        inits.push(msg.payload);
        if (msg.payload.Authorization !== "Bearer access-2") return ws.close(4401, "UNAUTHENTICATED: token expired");
        ws.send(JSON.stringify({ type: "connection_ack" }));
      } else if (msg.type === "subscribe") {
        ws.send(JSON.stringify({ id: msg.id, type: "next", payload: { data: { threadActivity: { type: "reply.created", replyId: "r1", bodyHtml: "<p>hi</p>" } } } }));
        ws.send(JSON.stringify({ id: msg.id, type: "complete" }));
      }
    });
  });
  return { wss, inits, url: `http://127.0.0.1:${wss.address().port}` };
}

describe("subscriptions", () => {
  it("a socket closed 4401 (token expired) is resumed after one refresh", async () => {
    const server = await socketServer();
    let refreshes = 0;
    const c = fakeConsole({
      LogIn: () => ({ data: { logIn: session(1) } }),
      RefreshToken: () => ({ data: { refreshToken: session(1 + ++refreshes) } }),
    });
    const sf = createStorefront({ url: server.url, storefrontKey: "pk", fetch: c.fetch, webSocketImpl: WebSocket });
    try {
      await sf.logIn("dev@example.com", "pw");
      const got = await new Promise((resolve, reject) => {
        const out = [];
        sf.subscribe(ThreadActivityDocument, { threadId: "t1" }, {
          next: (d) => out.push(d.threadActivity),
          error: reject,
          complete: () => resolve(out),
        });
      });
      assert.deepEqual(got.map((a) => a.replyId), ["r1"]);
      assert.equal(refreshes, 1);
      assert.deepEqual(server.inits.map((p) => p.Authorization), ["Bearer access-1", "Bearer access-2"]);
      assert.ok(server.inits.every((p) => p["X-Storefront-Key"] === "pk"));
    } finally {
      sf.dispose();
      server.wss.close();
    }
  });
});
