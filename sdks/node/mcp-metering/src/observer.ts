// Watches the JSON-RPC traffic of one MCP session and turns each tools/call into a record for
// the console's POST /v1/usage/mcp, exactly as the Python sidecar (aforo-mcp-proxy) does.
//
// Only tools/call exchanges are shipped: the console bills nothing else, and protocol chatter
// (initialize, tools/list, pings, notifications) would only cost bandwidth. initialize is still
// read, for the agent's clientInfo; 2026-era clients carry the same in each request's _meta.

import { randomUUID, createHash } from "node:crypto";

export const CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo";

export type McpRecord = Record<string, unknown>;
type Message = Record<string, unknown>;

interface Pending {
  request: Message;
  startedAt: string;
  requestBytes: number;
}

/** One MCP session: a stdio process, one Mcp-Session-Id, or one in-process transport. */
export class Session {
  agent: { name?: string; version?: string } = {};
  readonly pending = new Map<string, Pending>();
  constructor(public id: string = randomUUID().replace(/-/g, "")) {}
}

export type McpTransportName = "stdio" | "streamable_http";

export interface ObserverOptions {
  transport: McpTransportName;
  /** The agent's OAuth client id, to attribute calls to (default: clientInfo only). */
  agentId?: string;
  /** Ship tool arguments and results too (default: tool name, outcome and sizes only). */
  fullPayloads?: boolean;
}

/** JSON-RPC ids 1 and "1" are different requests. */
export function idKey(value: unknown): string {
  return `${typeof value}:${JSON.stringify(value)}`;
}

/** What the console sees of an Mcp-Session-Id: some servers treat the id as a capability. */
export function sessionHash(raw: string): string {
  return createHash("sha256").update(raw).digest("hex").slice(0, 32);
}

function now(): string {
  return new Date().toISOString();
}

function isObject(v: unknown): v is Message {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function each(message: unknown, size: number): Array<[Message, number]> {
  if (isObject(message)) return [[message, size]];
  if (Array.isArray(message)) {
    return message.filter(isObject).map((m) => [m, Buffer.byteLength(JSON.stringify(m))] as [Message, number]);
  }
  return [];
}

/** A JSON-RPC message or batch; undefined for anything else (relayed, never interpreted). */
export function parse(raw: string | Uint8Array): unknown {
  try {
    return JSON.parse(typeof raw === "string" ? raw : Buffer.from(raw).toString("utf8"));
  } catch {
    return undefined;
  }
}

export class Observer {
  constructor(
    private readonly emit: (record: McpRecord) => unknown,
    private readonly options: ObserverOptions,
  ) {}

  /** A message the client sent to the server (possibly a JSON-RPC batch). */
  clientMessage(session: Session, message: unknown, size: number): void {
    for (const [msg, n] of each(message, size)) {
      const method = msg.method;
      const params = isObject(msg.params) ? msg.params : {};
      let info: unknown = method === "initialize" ? params.clientInfo : undefined;
      const meta = params._meta;
      if (info === undefined && isObject(meta)) info = meta[CLIENT_INFO_META];
      if (isObject(info)) {
        for (const k of ["name", "version"] as const) {
          const v = info[k];
          if (typeof v === "string" && v) session.agent[k] = v.slice(0, 200);
        }
      }
      if (method === "tools/call" && "id" in msg) {
        session.pending.set(idKey(msg.id), { request: msg, startedAt: now(), requestBytes: n });
      } else if (method === "notifications/cancelled" && "requestId" in params) {
        const key = idKey(params.requestId);
        const p = session.pending.get(key);
        if (p !== undefined) {
          session.pending.delete(key);
          this.record(session, p, undefined, 0, true);
        }
      }
    }
  }

  /** A message from the server; true if it settled a tools/call of this session. */
  serverMessage(session: Session, message: unknown, size: number): boolean {
    let settled = false;
    for (const [msg, n] of each(message, size)) {
      if ("method" in msg || !("id" in msg)) continue; // a server request or notification
      const key = idKey(msg.id);
      const p = session.pending.get(key);
      if (p !== undefined) {
        session.pending.delete(key);
        this.record(session, p, msg, n, false);
        settled = true;
      }
    }
    return settled;
  }

  /** The session ended with calls unanswered: the client stopped waiting (cancelled). */
  end(session: Session): void {
    for (const p of session.pending.values()) this.record(session, p, undefined, 0, true);
    session.pending.clear();
  }

  private record(session: Session, p: Pending, response: Message | undefined, size: number, cancelled: boolean): void {
    const agent: Record<string, string> = { ...session.agent } as Record<string, string>;
    if (this.options.agentId) agent.client_id = this.options.agentId;
    const full = this.options.fullPayloads ?? false;
    this.emit({
      session_id: session.id,
      agent,
      transport: this.options.transport,
      request: full ? p.request : bareRequest(p.request),
      response: response === undefined ? null : full ? response : bareResponse(response),
      cancelled,
      started_at: p.startedAt,
      ended_at: now(),
      request_bytes: p.requestBytes,
      response_bytes: size,
    });
  }
}

/** What metering needs of a tools/call: arguments can hold customer data and stay put. */
function bareRequest(msg: Message): Message {
  const params = isObject(msg.params) ? msg.params : {};
  return { jsonrpc: msg.jsonrpc, id: msg.id, method: msg.method, params: { name: params.name ?? null } };
}

function bareResponse(msg: Message): Message {
  const out: Message = { jsonrpc: msg.jsonrpc, id: msg.id };
  if (isObject(msg.error)) {
    out.error = { code: msg.error.code, message: String(msg.error.message ?? "").slice(0, 200) };
  } else if ("error" in msg) {
    out.error = msg.error;
  } else if (isObject(msg.result)) {
    out.result = { isError: msg.result.isError === true };
  } else if ("result" in msg) {
    out.result = msg.result;
  }
  return out;
}
