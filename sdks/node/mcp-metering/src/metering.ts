// In-process metering for MCP servers built with the official TypeScript SDK
// (@modelcontextprotocol/sdk): every tools/call is recorded as the sidecar records it, with no
// proxy in between. The transport is wrapped, so it works for stdio and streamable HTTP alike.

import { Shipper, type ShipperOptions } from "@aforo/metering";
import { Observer, Session, sessionHash, type McpRecord, type McpTransportName } from "./observer.js";

/** The SDK's Transport interface, structurally (no runtime dependency on the SDK). */
export interface Transport {
  start(): Promise<void>;
  send(message: unknown, options?: unknown): Promise<void>;
  close(): Promise<void>;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: unknown, extra?: unknown) => void;
  sessionId?: string;
  setProtocolVersion?: (version: string) => void;
}

export interface McpMeteringOptions extends ShipperOptions {
  /** The agent's OAuth client id, to attribute calls to (default: the client's clientInfo). */
  agentId?: string;
  /** Ship tool arguments and results too (default: tool name, outcome and sizes only). */
  fullPayloads?: boolean;
}

/** Ships MCP records to POST /v1/usage/mcp; share one per process. */
export class McpMetering extends Shipper<McpRecord> {
  readonly agentId?: string;
  readonly fullPayloads: boolean;

  constructor(options: McpMeteringOptions) {
    super("/v1/usage/mcp", "records", { batchSize: 200, ...options });
    this.agentId = options.agentId;
    this.fullPayloads = options.fullPayloads ?? false;
  }

  observer(transport: McpTransportName): Observer {
    return new Observer((r) => this.enqueueNowait(r), {
      transport,
      agentId: this.agentId,
      fullPayloads: this.fullPayloads,
    });
  }
}

function transportName(t: Transport): McpTransportName {
  return /stdio/i.test(t.constructor?.name ?? "") ? "stdio" : "streamable_http";
}

function size(message: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(message));
  } catch {
    return 0;
  }
}

/**
 * A transport that behaves exactly like `inner` and shows each message to the metering
 * observer on the side. Observation never throws into the protocol.
 */
export function meterTransport(inner: Transport, metering: McpMetering, transport?: McpTransportName): Transport {
  const observer = metering.observer(transport ?? transportName(inner));
  const session = new Session();
  let named = false;
  const name = () => {
    if (!named && inner.sessionId) {
      session.id = sessionHash(inner.sessionId);
      named = true;
    }
  };
  const safely = (fn: () => void) => {
    try {
      name();
      fn();
    } catch (e) {
      metering.logger.error(`could not observe an MCP message: ${String(e)}`);
    }
  };
  const metered: Transport = {
    start: () => inner.start(),
    close: () => inner.close(),
    send(message, options) {
      const sent = inner.send(message, options);
      safely(() => observer.serverMessage(session, message, size(message)));
      return sent;
    },
    get sessionId() {
      return inner.sessionId;
    },
  };
  if (typeof inner.setProtocolVersion === "function") {
    metered.setProtocolVersion = (v: string) => inner.setProtocolVersion?.(v);
  }
  inner.onmessage = (message, extra) => {
    safely(() => observer.clientMessage(session, message, size(message)));
    metered.onmessage?.(message, extra);
  };
  inner.onclose = () => {
    safely(() => observer.end(session));
    metered.onclose?.();
  };
  inner.onerror = (error) => metered.onerror?.(error);
  return metered;
}

/**
 * Meter every transport the server connects to from now on:
 * `meterServer(server, new McpMetering({ url, token: process.env.AFORO_TOKEN }))`.
 * Works with McpServer and the low-level Server alike.
 */
export function meterServer<S extends { connect(transport: never): Promise<void> }>(server: S, metering: McpMetering): S {
  const connect = server.connect.bind(server) as (t: Transport) => Promise<void>;
  (server as unknown as { connect(t: Transport): Promise<void> }).connect = (transport: Transport) =>
    connect(meterTransport(transport, metering));
  return server;
}
