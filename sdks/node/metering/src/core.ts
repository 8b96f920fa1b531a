// What every sender shares: event building and validation, the verdict on an answer, backoff.
// The rules are the Python SDK's (aforo-metering) and are checked by the shared conformance suite.

import { randomUUID } from "node:crypto";

export const MAX_EVENT_ID = 200;
export const MAX_BATCH = 10_000; // the console's per-request cap

/** Optional request fields the console knows; anything else belongs in `properties`. */
export const REQUEST_FIELDS = {
  method: "method",
  path: "path",
  route: "route",
  status: "status",
  latencyMs: "latency_ms",
  requestBytes: "request_bytes",
  responseBytes: "response_bytes",
  requestId: "request_id",
  clientIp: "client_ip",
  outcome: "outcome",
  tool: "tool",
  agent: "agent",
  session: "session",
} as const;

export type RequestFields = {
  method?: string;
  path?: string;
  route?: string | null;
  status?: number;
  latencyMs?: number;
  requestBytes?: number;
  responseBytes?: number;
  requestId?: string | null;
  clientIp?: string | null;
  outcome?: "success" | "tool_error" | "protocol_error" | "cancelled";
  tool?: string;
  agent?: string;
  session?: string;
};

export interface EventFields extends RequestFields {
  subscriptionId?: string | null;
  keyId?: string | null;
  consumer?: string | null;
  properties?: Record<string, unknown> | null;
  /** Your own id makes re-recording the same thing safe: the console counts an id once. */
  eventId?: string;
  occurredAt?: Date | string;
}

/** An event as the console's `POST /v1/usage/events` takes it. */
export type WireEvent = Record<string, unknown> & { event_id: string };

export type OverflowPolicy = "block" | "drop";

/** Counters a process can export to its own monitoring. */
export interface Stats {
  accepted: number;
  duplicates: number;
  /** refused by the console as invalid: retrying would not help */
  rejected: number;
  /** discarded because the buffer was full (drop policy) */
  dropped: number;
  /** given up on: token refused, or close() ran out of time */
  failed: number;
  retries: number;
  batches: number;
}

export function emptyStats(): Stats {
  return { accepted: 0, duplicates: 0, rejected: 0, dropped: 0, failed: 0, retries: 0, batches: 0 };
}

export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}

export const consoleLogger: Logger = {
  warn: (m) => console.warn(`aforo: ${m}`),
  error: (m) => console.error(`aforo: ${m}`),
};

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value.replace(/^\{|\}$/g, "").replace(/^urn:uuid:/i, ""));
}

export function newEventId(): string {
  return randomUUID().replace(/-/g, "");
}

/** Validate in the caller's stack, so a mistake is an exception and not a lost event. */
export function buildEvent(metric: string, quantity: number, fields: EventFields = {}): WireEvent {
  if (typeof metric !== "string" || !metric.trim()) {
    throw new TypeError("metric must be a non-empty string");
  }
  if (typeof quantity !== "number" || !Number.isFinite(quantity) || quantity < 0) {
    throw new RangeError("quantity must be a finite number >= 0");
  }
  const { subscriptionId, keyId, consumer, properties, eventId, occurredAt, ...request } = fields;
  const id = eventId ?? newEventId();
  if (typeof id !== "string" || !id || id.length > MAX_EVENT_ID) {
    throw new RangeError(`eventId must be 1-${MAX_EVENT_ID} characters`);
  }
  let when: string;
  if (occurredAt instanceof Date) {
    if (Number.isNaN(occurredAt.getTime())) throw new RangeError("occurredAt is an invalid Date");
    when = occurredAt.toISOString();
  } else {
    when = occurredAt ?? new Date().toISOString();
  }
  for (const [name, value] of [
    ["subscriptionId", subscriptionId],
    ["keyId", keyId],
  ] as const) {
    if (value != null && !isUuid(value)) throw new TypeError(`${name} must be a UUID`);
  }
  const event: WireEvent = { event_id: id, metric, quantity, occurred_at: when };
  if (subscriptionId != null) event.subscription_id = subscriptionId;
  if (keyId != null) event.key_id = keyId;
  if (consumer != null) event.consumer = consumer;
  if (properties && Object.keys(properties).length) event.properties = { ...properties };
  for (const [name, value] of Object.entries(request)) {
    const wire = (REQUEST_FIELDS as Record<string, string>)[name];
    if (wire === undefined) {
      throw new TypeError(`unknown event field '${name}'; put extra data in properties`);
    }
    if (value != null) event[wire] = value;
  }
  return event;
}

/** What to do with a batch after one attempt. */
export interface Verdict {
  /** remove it from the buffer: accepted, or refused for good */
  done: boolean;
  /** the server's requested wait (seconds) before the next attempt */
  retryAfter?: number;
  /** too large: send it in halves */
  split?: boolean;
}

export function judge(
  status: number,
  headers: Headers,
  body: string,
  batchLen: number,
  stats: Stats,
  log: Logger,
): Verdict {
  if (status === 200) {
    stats.batches += 1;
    let parsed: { accepted?: number; duplicates?: number; rejected?: unknown[] } = {};
    try {
      parsed = JSON.parse(body) ?? {};
    } catch {
      // an answer we cannot read still means the batch was taken
    }
    stats.accepted += Number(parsed.accepted ?? 0);
    stats.duplicates += Number(parsed.duplicates ?? 0);
    const rejected = Array.isArray(parsed.rejected) ? parsed.rejected : [];
    stats.rejected += rejected.length;
    for (const r of rejected.slice(0, 5)) log.warn(`event rejected: ${JSON.stringify(r)}`);
    return { done: true };
  }
  if (status === 413 && batchLen > 1) return { done: false, split: true };
  if (status === 429 || status === 408 || status >= 500) {
    return { done: false, retryAfter: retryAfterSeconds(headers.get("retry-after")) };
  }
  // 400 / 401 / 403 / a single event's 413: sending the same bytes again cannot succeed.
  stats.failed += batchLen;
  log.error(`batch of ${batchLen} refused with HTTP ${status}: ${body.slice(0, 500)}`);
  return { done: true };
}

export function retryAfterSeconds(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (value.trim() !== "" && Number.isFinite(seconds)) return Math.max(0, seconds);
  const when = Date.parse(value);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, (when - Date.now()) / 1000);
}

/** Full-jitter exponential backoff in seconds; a server's Retry-After is a floor, never shortened. */
export function backoff(attempt: number, base: number, cap: number, retryAfter?: number): number {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  let delay = ceiling / 2 + Math.random() * (ceiling / 2);
  if (retryAfter !== undefined) delay = Math.max(delay, Math.min(retryAfter, 300));
  return delay;
}
