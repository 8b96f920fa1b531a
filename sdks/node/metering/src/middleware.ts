// One-line middleware for Express, Fastify and plain node:http: one event per request with the
// route template, status, latency, body sizes and the caller's key id from a header the gateway
// sets after verifying the key. Recording only appends to the buffer: a slow or unreachable
// console never delays or fails a request.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Metering } from "./client.js";
import { isUuid, type EventFields } from "./core.js";

export interface MiddlewareOptions {
  /** The metric recorded per request. Default "api.requests". */
  metric?: string;
  /** Header carrying the verified key's id (set by your gateway). Default "x-api-key-id". */
  keyHeader?: string;
  /** Header carrying the subscription id. Default "x-subscription-id"; null to ignore. */
  subscriptionHeader?: string | null;
  /** Header naming the consumer (any string). Default none. */
  consumerHeader?: string | null;
  requestIdHeader?: string;
  /** Paths (prefixes) never metered, e.g. ["/healthz"]. */
  excludePaths?: string[];
  /** The route template of a request, when your router is not one this package knows. */
  route?: (req: IncomingMessage) => string | null | undefined;
}

const ROUTE = Symbol.for("aforo.metering.route");

/** Announce the route template of a request (plain node:http, custom routers). */
export function setRoute(req: IncomingMessage, template: string): void {
  (req as unknown as Record<symbol, string>)[ROUTE] = template;
}

/** Express `/items/:id` and Fastify `/items/:id` become `/items/{id}`, as in OpenAPI. */
export function normalizeRoute(template: string): string {
  return template.replace(/:(\w+)(\([^)]*\))?\??/g, "{$1}").replace(/\*(\w+)/g, "{$1}");
}

function byteLength(chunk: unknown, encoding?: unknown): number {
  if (chunk == null || typeof chunk === "function") return 0;
  if (typeof chunk === "string") return Buffer.byteLength(chunk, (encoding as BufferEncoding) || "utf8");
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

function header(req: IncomingMessage, name: string | null | undefined): string | undefined {
  if (!name) return undefined;
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v || undefined;
}

/** Measure one exchange and record it once the response is finished (or the client left). */
export function track(
  metering: Metering,
  options: MiddlewareOptions,
  req: IncomingMessage,
  res: ServerResponse,
  routeOf: () => string | null | undefined,
  path: string = req.url ?? "",
): void {
  const bare = path.split("?")[0];
  if (options.excludePaths?.some((p) => bare.startsWith(p))) return;
  const started = process.hrtime.bigint();
  let sent = 0;
  let received = 0;
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    sent += byteLength(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    sent += byteLength(chunk, rest[0]);
    return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as typeof res.end;
  const declared = Number(req.headers["content-length"]);
  if (!Number.isFinite(declared)) {
    // chunked bodies: count what the parser hands over, without reading the stream ourselves
    const push = req.push;
    req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) {
      received += byteLength(chunk, encoding);
      return push.call(this, chunk, encoding);
    };
  }
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    let route: string | null | undefined;
    try {
      route = (req as unknown as Record<symbol, string>)[ROUTE] ?? options.route?.(req) ?? routeOf();
    } catch {
      route = null; // an odd router must not cost the request its event
    }
    recordRequest(metering, options, req, {
      method: req.method,
      path: bare,
      route: route ? normalizeRoute(route) : null,
      status: res.headersSent ? res.statusCode : 499,
      latencyMs: Number(process.hrtime.bigint() - started) / 1e6,
      requestBytes: Number.isFinite(declared) ? declared : received,
      responseBytes: sent,
      requestId: header(req, options.requestIdHeader ?? "x-request-id"),
      clientIp: req.socket?.remoteAddress,
    });
  };
  res.once("finish", finish);
  res.once("close", finish);
}

function recordRequest(
  metering: Metering,
  options: MiddlewareOptions,
  req: IncomingMessage,
  fields: EventFields,
): void {
  try {
    const ids: Record<"keyId" | "subscriptionId" | "consumer", string | undefined> = {
      keyId: header(req, options.keyHeader ?? "x-api-key-id"),
      subscriptionId: header(req, options.subscriptionHeader === undefined ? "x-subscription-id" : options.subscriptionHeader),
      consumer: header(req, options.consumerHeader),
    };
    // Gateways that forward a key name or hash instead of its id: keep it as the consumer
    // rather than have the console refuse the whole event.
    for (const name of ["keyId", "subscriptionId"] as const) {
      const v = ids[name];
      if (v !== undefined && !isUuid(v)) {
        ids[name] = undefined;
        ids.consumer = ids.consumer ?? v;
      }
    }
    metering.recordNowait(options.metric ?? "api.requests", 1, { ...fields, ...ids });
  } catch (e) {
    metering.logger.error(`could not record a request: ${String(e)}`);
  }
}

// -- Express -----------------------------------------------------------------------------------
interface ExpressLikeRequest extends IncomingMessage {
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
}

/** `app.use(meterExpress(metering))`: first, before your routes. */
export function meterExpress(metering: Metering, options: MiddlewareOptions = {}) {
  return function aforoMetering(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    const r = req as ExpressLikeRequest;
    track(
      metering,
      options,
      req,
      res,
      () => (r.route?.path !== undefined ? `${r.baseUrl ?? ""}${String(r.route.path)}` : null),
      r.originalUrl ?? req.url,
    );
    next();
  };
}

// -- Fastify -----------------------------------------------------------------------------------
interface FastifyLikeRequest {
  raw: IncomingMessage;
  url: string;
  routeOptions?: { url?: string };
  routerPath?: string;
}
interface FastifyLikeReply {
  raw: ServerResponse;
}
interface FastifyLike {
  addHook(
    name: "onRequest",
    hook: (request: FastifyLikeRequest, reply: FastifyLikeReply, done: () => void) => void,
  ): unknown;
}

/**
 * `app.register(meterFastify, { metering })`. Registered as a global hook (not encapsulated),
 * so it meters every route of the instance.
 */
export function meterFastify(
  fastify: FastifyLike,
  opts: MiddlewareOptions & { metering: Metering },
  done: (err?: Error) => void,
): void {
  const { metering, ...options } = opts;
  fastify.addHook("onRequest", (request, reply, next) => {
    track(metering, options, request.raw, reply.raw, () => request.routeOptions?.url ?? request.routerPath, request.url);
    next();
  });
  done();
}
// fastify-plugin's marker: the hook applies to the whole instance, not one encapsulated scope.
(meterFastify as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;
(meterFastify as unknown as Record<symbol, string>)[Symbol.for("fastify.display-name")] = "@aforo/metering";

// -- node:http ---------------------------------------------------------------------------------
type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * `http.createServer(meterHttp(metering, handler))`. Plain node:http has no routes: call
 * `setRoute(req, "/items/{id}")` in your handler, or pass `route`.
 */
export function meterHttp(metering: Metering, handler: Handler, options: MiddlewareOptions = {}): Handler {
  return function metered(req: IncomingMessage, res: ServerResponse): unknown {
    track(metering, options, req, res, () => null);
    return handler(req, res);
  };
}
