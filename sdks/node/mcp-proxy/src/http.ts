// Streamable HTTP mode: a reverse proxy in front of an HTTP MCP server. Requests and responses
// are streamed through (SSE events reach the client as the server writes them); a copy of each
// JSON-RPC message is observed on the side. Sessions are keyed by the Mcp-Session-Id header; the
// console only sees a hash of it. Sessionless traffic is grouped per agent and client address.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { parse, Session, sessionHash, type Observer } from "@aforo/mcp-metering";

const HOP_BY_HOP = new Set([
  "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
  "transfer-encoding", "upgrade", "host", "content-length",
]);
const MAX_OBSERVED_BODY = 32 * 1024 * 1024;
const MAX_SESSIONS = 10_000;

/** Incremental text/event-stream parser yielding each event's data. */
export class SSEParser {
  private buffer = "";
  private data: string[] = [];
  constructor(private readonly onData: (data: string) => void) {}

  feed(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) {
        if (this.buffer.length > MAX_OBSERVED_BODY) {
          this.buffer = "";
          this.data = [];
        }
        return;
      }
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      if (!line) {
        if (this.data.length) this.onData(this.data.join("\n"));
        this.data = [];
      } else if (line.startsWith("data:")) {
        const value = line.slice(5);
        this.data.push(value.startsWith(" ") ? value.slice(1) : value);
      }
    }
  }
}

export class HttpProxy {
  private readonly sessions = new Map<string, Session>();
  private readonly runId = randomUUID();
  readonly server: Server;

  constructor(private readonly upstream: string, private readonly observer: Observer) {
    this.upstream = upstream.replace(/\/+$/, "");
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        if (!res.headersSent) {
          res.writeHead(502, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: `upstream unreachable: ${String(e?.cause?.code ?? e)}` }));
        } else {
          res.destroy();
        }
      });
    });
  }

  /** Calls still unanswered when the proxy stops were abandoned: recorded as cancelled. */
  endAll(): void {
    for (const s of this.sessions.values()) this.safe(() => this.observer.end(s));
    this.sessions.clear();
  }

  private session(raw: string | undefined): Session {
    if (raw === undefined) return new Session(); // stateless: each POST is its own exchange
    let s = this.sessions.get(raw);
    if (s === undefined) {
      s = new Session(sessionHash(raw));
      this.sessions.set(raw, s);
      if (this.sessions.size > MAX_SESSIONS) {
        const [oldestKey, oldest] = this.sessions.entries().next().value as [string, Session];
        this.sessions.delete(oldestKey);
        this.safe(() => this.observer.end(oldest));
      }
    } else {
      this.sessions.delete(raw); // keep most recently used last
      this.sessions.set(raw, s);
    }
    return s;
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      process.stderr.write(`aforo-mcp-proxy: could not observe a message: ${String(e)}\n`);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const rawSid = typeof req.headers["mcp-session-id"] === "string" ? req.headers["mcp-session-id"] : undefined;
    let session = this.session(rawSid);
    const method = req.method ?? "GET";
    if (method === "POST" && body.length) {
      const msg = parse(body);
      if (msg !== undefined) this.safe(() => this.observer.clientMessage(session, msg, body.length));
    }
    if (rawSid === undefined) {
      const agent = `${session.agent.name}/${session.agent.version}`;
      session.id = sessionHash(`${this.runId}\x1f${req.socket.remoteAddress}\x1f${agent}`);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    }
    headers["accept-encoding"] = "identity"; // relayed and observed as plain bytes
    const aborter = new AbortController();
    res.once("close", () => aborter.abort()); // the client left: stop the upstream stream too
    const upstream = await fetch(this.upstream + (req.url ?? "/"), {
      method,
      headers,
      body: method === "GET" || method === "HEAD" ? undefined : body,
      redirect: "manual",
      signal: aborter.signal,
    });
    const newSid = upstream.headers.get("mcp-session-id") ?? undefined;
    if (newSid && rawSid === undefined) {
      // initialize: the session is born in the response; keep the agent it announced
      const born = this.session(newSid);
      Object.assign(born.agent, session.agent);
      for (const [k, v] of session.pending) born.pending.set(k, v);
      session = born;
    }
    const out: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (!HOP_BY_HOP.has(k) && k !== "content-encoding") out[k] = v;
    });
    res.writeHead(upstream.status, out);
    const ctype = (upstream.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    const s = session;
    const sse = new SSEParser((data) => this.observeServer(s, data));
    const copy: Buffer[] = [];
    let copied = 0;
    try {
      if (upstream.body) {
        for await (const chunk of upstream.body as unknown as AsyncIterable<Uint8Array>) {
          res.write(chunk);
          if (ctype === "text/event-stream") sse.feed(Buffer.from(chunk).toString("utf8"));
          else if (ctype === "application/json" && copied < MAX_OBSERVED_BODY) {
            copy.push(Buffer.from(chunk));
            copied += chunk.length;
          }
        }
      }
    } catch (e) {
      if (!aborter.signal.aborted) throw e;
    }
    res.end();
    if (copy.length) this.observeServer(session, Buffer.concat(copy).toString("utf8"));
    if (method === "DELETE" && rawSid !== undefined) {
      const gone = this.sessions.get(rawSid);
      this.sessions.delete(rawSid);
      if (gone) this.safe(() => this.observer.end(gone));
    } else if (rawSid === undefined && !newSid) {
      this.safe(() => this.observer.end(session)); // nothing can answer a stateless exchange later
    }
  }

  private observeServer(session: Session, data: string): void {
    const msg = parse(data);
    if (msg !== undefined) this.safe(() => this.observer.serverMessage(session, msg, Buffer.byteLength(data)));
  }
}
