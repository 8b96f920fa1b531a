/** GraphQL over HTTP with automatic persisted queries (Apollo's protocol): a document is sent
 * first as its SHA-256 alone (queries by GET, so a CDN may cache public reads), and in full
 * only when the console does not know the hash yet. */

import { type GraphQLErrorLike, StorefrontError } from "./errors.js";

export type OperationKind = "query" | "mutation" | "subscription";

export interface GraphQLResponse<T = unknown> {
  data?: T | null;
  errors?: GraphQLErrorLike[];
}

export interface Sent {
  status: number;
  body: GraphQLResponse;
}

const KIND = /^\s*(?:#[^\n]*\n\s*)*(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?/;

/** The operation's kind and name, read from the document's first definition. */
export function operationOf(document: string): { kind: OperationKind; name: string | null } {
  const m = KIND.exec(document);
  if (!m) return { kind: "query", name: null }; // `{ … }` shorthand
  return { kind: m[1] as OperationKind, name: m[2] ?? null };
}

const hashes = new Map<string, Promise<string | null>>();

/** Hex SHA-256 of the document (WebCrypto); null where WebCrypto is unavailable (an insecure
 * context), and then the document is sent in full. */
export function sha256Hex(text: string): Promise<string | null> {
  let found = hashes.get(text);
  if (!found) {
    const subtle = globalThis.crypto?.subtle;
    found = subtle
      ? subtle.digest("SHA-256", new TextEncoder().encode(text)).then((buf) =>
          Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join(""),
        )
      : Promise.resolve(null);
    hashes.set(text, found);
  }
  return found;
}

// GET URLs past this length go as POST (some proxies cut long URLs).
const MAX_GET_URL = 2000;

export interface TransportOptions {
  endpoint: string;
  fetch: typeof fetch;
  persistedQueries: boolean;
}

export class HttpTransport {
  constructor(private readonly options: TransportOptions) {}

  /** Send one operation; `headers` carry the storefront key and, signed in, the token. */
  async send(
    document: string,
    variables: Record<string, unknown> | undefined,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Sent> {
    const { kind, name } = operationOf(document);
    const hash = this.options.persistedQueries ? await sha256Hex(document) : null;
    if (hash === null) {
      return this.post({ query: document, variables, operationName: name }, headers, signal);
    }
    const extensions = { persistedQuery: { version: 1, sha256Hash: hash } };
    const first =
      kind === "query"
        ? await this.get(name, variables, extensions, headers, signal)
        : await this.post({ variables, operationName: name, extensions }, headers, signal);
    if (!notFound(first.body)) return first;
    // Unknown hash: register it by sending the document once, with the hash.
    return this.post({ query: document, variables, operationName: name, extensions }, headers, signal);
  }

  private async get(
    name: string | null,
    variables: Record<string, unknown> | undefined,
    extensions: object,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Sent> {
    const params = new URLSearchParams();
    if (name) params.set("operationName", name);
    if (variables && Object.keys(variables).length > 0) {
      params.set("variables", JSON.stringify(variables));
    }
    params.set("extensions", JSON.stringify(extensions));
    const url = `${this.options.endpoint}?${params.toString()}`;
    if (url.length > MAX_GET_URL) {
      return this.post({ variables, operationName: name, extensions }, headers, signal);
    }
    return this.exchange(url, { method: "GET", headers: accept(headers), signal });
  }

  private post(body: object, headers: Record<string, string>, signal?: AbortSignal): Promise<Sent> {
    return this.exchange(this.options.endpoint, {
      method: "POST",
      headers: { ...accept(headers), "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
  }

  private async exchange(url: string, init: RequestInit): Promise<Sent> {
    let response: Response;
    try {
      response = await this.options.fetch(url, init);
    } catch (e) {
      if (init.signal?.aborted) throw e;
      // The browser hides why (offline, DNS, or a CORS refusal: an origin the tenant did not
      // allow answers without the grant, and the page only sees a TypeError).
      throw new StorefrontError(
        "NETWORK_ERROR",
        `could not reach ${this.options.endpoint} (offline, or this origin is not allowed)`,
      );
    }
    const type = response.headers.get("content-type") ?? "";
    if (!type.includes("json")) {
      throw new StorefrontError("HTTP_ERROR", `HTTP ${response.status} from the console`, {
        status: response.status,
      });
    }
    const body = (await response.json()) as GraphQLResponse;
    return { status: response.status, body };
  }
}

function accept(headers: Record<string, string>): Record<string, string> {
  return { accept: "application/graphql-response+json, application/json;q=0.9", ...headers };
}

function notFound(body: GraphQLResponse): boolean {
  return (body.errors ?? []).some(
    (e) =>
      e.extensions?.code === "PERSISTED_QUERY_NOT_FOUND" || e.message === "PersistedQueryNotFound",
  );
}
