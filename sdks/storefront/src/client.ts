/** One client object per page: the tenant's storefront key and the visitor's session. */

import { type Client as WsClient, createClient } from "graphql-ws";

import { AUTH_RETRY_CODES, StorefrontError, unwrap } from "./errors.js";
import {
  type ApiKeyFieldsFragment,
  type CreateApiKeyInput,
  CreateApiKeyDocument,
  LogInDocument,
  LogInSecondFactorDocument,
  LogOutDocument,
  PlaygroundRunDocument,
  RefreshTokenDocument,
  RevokeApiKeyDocument,
  RotateApiKeyDocument,
  type SessionFieldsFragment,
  SignUpDocument,
  type SignUpInput,
  type TryOperationInput,
  type TypedDocumentString,
  type UserFieldsFragment,
  VerifyEmailDocument,
} from "./generated/graphql.js";
import type { PlaygroundEvent, PlaygroundResponse } from "./playground.js";
import { type Reveal, SecretVault } from "./reveal.js";
import { resolveStore, type SessionStore, type StoragePolicy, tabStore } from "./storage.js";
import { HttpTransport, type Sent } from "./transport.js";

export interface StorefrontOptions {
  /** The console's base URL (`https://console.example`) or its GraphQL endpoint; `""` for
   * this page's own origin. */
  url: string;
  /** The tenant's publishable storefront key (`pk_…`). */
  storefrontKey: string;
  /** Where the session is kept: `"memory"` (default), `"sessionStorage"`, or your own
   * store. `localStorage` is refused (`LOCAL_STORAGE_REFUSED`). */
  storage?: StoragePolicy;
  /** Automatic persisted queries (hash first, queries by GET). Default true. */
  persistedQueries?: boolean;
  /** Refresh the access token this many seconds before it expires. Default 60. */
  refreshBeforeExpirySeconds?: number;
  fetch?: typeof fetch;
  /** A WebSocket implementation where there is no global one (Node.js < 22: `ws`). */
  webSocketImpl?: unknown;
  /** Where one-time key secrets are kept: the tab's sessionStorage by default. */
  secretStore?: SessionStore;
}

export type User = UserFieldsFragment;

export type LogInOutcome =
  | { status: "signedIn"; user: User; staffRolesWithheld: boolean }
  | { status: "secondFactorRequired"; challenge: string; expiresAt: string };

export interface Sink<T> {
  next(value: T): void;
  error?(error: StorefrontError): void;
  complete?(): void;
}

type Variables<V> = V extends Record<string, never> ? V | undefined : V;

const SESSION = "aforo.session";
// A token this close to its end is refreshed before it is sent.
const NEAR_EXPIRY_MS = 10_000;
// A live subscription closed for an expired token is resumed this many times in a row.
const RESUMES = 3;

export class Storefront {
  private readonly transport: HttpTransport;
  private readonly store: SessionStore;
  private readonly vault: SecretVault;
  private readonly endpoint: string;
  private session: SessionFieldsFragment | null;
  private refreshing: Promise<User> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private ws: WsClient | null = null;
  // The access token the open socket was authenticated with.
  private socketToken: string | null = null;
  private readonly listeners = new Set<(user: User | null) => void>();

  constructor(private readonly options: StorefrontOptions) {
    if (!options.storefrontKey) {
      throw new StorefrontError("INVALID", "a storefront key is required", {
        field: "storefrontKey",
      });
    }
    this.store = resolveStore(options.storage);
    this.vault = new SecretVault(options.secretStore ?? tabStore());
    this.endpoint = endpointOf(options.url);
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.transport = new HttpTransport({
      endpoint: this.endpoint,
      fetch: fetchImpl,
      persistedQueries: options.persistedQueries ?? true,
    });
    this.session = this.load();
    this.schedule();
  }

  // -- the session -------------------------------------------------------------------------

  /** The signed-in user, or null. */
  get user(): User | null {
    return this.session?.user ?? null;
  }

  get signedIn(): boolean {
    return this.session !== null;
  }

  /** When the current access token expires (ISO 8601), or null. */
  get expiresAt(): string | null {
    return this.session?.expiresAt ?? null;
  }

  /** Called with the user on every sign-in, refresh and sign-out (null). Returns an
   * unsubscribe function. */
  onSessionChange(listener: (user: User | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Create an account; the console mails a verification link (same answer whether or not the
   * address already has an account). */
  async signUp(input: SignUpInput): Promise<{ email: string; verificationRequired: boolean }> {
    const r = unwrap((await this.request(SignUpDocument, { input })).signUp);
    return { email: r.email, verificationRequired: r.verificationRequired };
  }

  /** Verify the address with the mailed link's token; signs in unless the account uses
   * two-factor sign-in. */
  async verifyEmail(token: string): Promise<{ user: User; signedIn: boolean }> {
    const r = unwrap((await this.request(VerifyEmailDocument, { token })).verifyEmail);
    if (r.session) this.adopt(r.session);
    return { user: r.user, signedIn: r.session !== null };
  }

  async logIn(email: string, password: string): Promise<LogInOutcome> {
    const r = unwrap((await this.request(LogInDocument, { input: { email, password } })).logIn);
    if (r.__typename === "SecondFactorRequired") {
      return { status: "secondFactorRequired", challenge: r.challenge, expiresAt: r.expiresAt };
    }
    this.adopt(r);
    return { status: "signedIn", user: r.user, staffRolesWithheld: r.staffRolesWithheld };
  }

  /** The second step: the challenge from `logIn` and a code from the authenticator app (or a
   * recovery code). */
  async logInSecondFactor(challenge: string, code: string): Promise<LogInOutcome> {
    const d = await this.request(LogInSecondFactorDocument, { challenge, code });
    const r = unwrap(d.logInSecondFactor);
    this.adopt(r);
    return { status: "signedIn", user: r.user, staffRolesWithheld: r.staffRolesWithheld };
  }

  /** Trade the refresh token for a new pair (the old one stops working). Concurrent callers
   * share one exchange: a refresh token is single-use, and a reused one ends the session. */
  refresh(): Promise<User> {
    if (!this.refreshing) {
      this.refreshing = this.exchange().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  /** End the session on the console and forget it here, with every one-time secret this tab
   * kept. */
  async logOut(): Promise<void> {
    try {
      if (this.session) await this.request(LogOutDocument);
    } catch {
      // Signed out here whatever the console answered (an expired session is over anyway).
    } finally {
      this.vault.clear();
      this.adopt(null);
    }
  }

  // -- any operation ----------------------------------------------------------------------

  /** Run a query or mutation. GraphQL errors throw a `StorefrontError` with their
   * `extensions.code`; an expired or refused access token is refreshed once and the operation
   * sent again. Result unions still carry `UserError`s: see `unwrap`. */
  async request<R, V>(
    document: TypedDocumentString<R, V>,
    variables?: Variables<V>,
    options: { signal?: AbortSignal } = {},
  ): Promise<R> {
    const text = document.toString();
    const vars = variables as Record<string, unknown> | undefined;
    const authed = await this.fresh();
    let sent = await this.transport.send(text, vars, this.headers(), options.signal);
    if (authed && this.session && failedAuth(sent)) {
      try {
        await this.refresh();
      } catch {
        throw StorefrontError.fromGraphQL(sent.body.errors ?? [], sent.status);
      }
      sent = await this.transport.send(text, vars, this.headers(), options.signal);
    }
    const errors = sent.body.errors ?? [];
    if (errors.length > 0) throw StorefrontError.fromGraphQL(errors, sent.status);
    return sent.body.data as R;
  }

  /** A live subscription over graphql-ws (graphql-transport-ws). A socket closed because the
   * access token expired (4401) is resumed after a refresh. Returns a function that stops it. */
  subscribe<R, V>(
    document: TypedDocumentString<R, V>,
    variables: Variables<V>,
    sink: Sink<R>,
  ): () => void {
    let stop: (() => void) | null = null;
    let stopped = false;
    let resumes = 0;
    const start = (): void => {
      stop = this.socket().subscribe<R>(
        { query: document.toString(), variables: variables as Record<string, unknown> },
        {
          next: (result) => {
            resumes = 0;
            if (result.errors?.length) {
              sink.error?.(StorefrontError.fromGraphQL([...result.errors]));
            } else if (result.data) {
              sink.next(result.data as R);
            }
          },
          error: (e) => {
            const code = closeCode(e);
            if (!stopped && code === 4401 && this.session && resumes < RESUMES) {
              resumes += 1;
              const stale = this.socketToken === this.session.accessToken;
              this.resetSocket();
              // The socket's token ran out: refresh unless the session already has a newer one.
              (stale ? this.refresh() : Promise.resolve(this.session.user)).then(
                () => !stopped && start(),
                () => sink.error?.(closed(e)),
              );
              return;
            }
            sink.error?.(closed(e));
          },
          complete: () => sink.complete?.(),
        },
      );
    };
    start();
    return () => {
      stopped = true;
      stop?.();
    };
  }

  // -- API keys and their one-time secrets ----------------------------------------------------

  /** Create a key; its secret goes to this tab's vault (see `reveal`), not to the caller. */
  async createApiKey(input: CreateApiKeyInput): Promise<{ apiKey: ApiKeyFieldsFragment; reveal: Reveal }> {
    const r = unwrap((await this.request(CreateApiKeyDocument, { input })).createApiKey);
    this.vault.keep(r.apiKey.id, r.secret);
    return { apiKey: r.apiKey, reveal: this.vault.reveal(r.apiKey.id) };
  }

  /** A new secret for the key (kept in the vault under the new key's id); the old one works
   * for `graceSeconds` more. */
  async rotateApiKey(
    id: string,
    graceSeconds = 300,
  ): Promise<{ apiKey: ApiKeyFieldsFragment; previousKeyExpiresAt: string; reveal: Reveal }> {
    const r = unwrap((await this.request(RotateApiKeyDocument, { id, graceSeconds })).rotateApiKey);
    this.vault.keep(r.apiKey.id, r.secret);
    this.vault.forget(id);
    return {
      apiKey: r.apiKey,
      previousKeyExpiresAt: r.previousKeyExpiresAt,
      reveal: this.vault.reveal(r.apiKey.id),
    };
  }

  async revokeApiKey(id: string): Promise<ApiKeyFieldsFragment> {
    const r = unwrap((await this.request(RevokeApiKeyDocument, { id })).revokeApiKey);
    this.vault.forget(id);
    return r;
  }

  /** The key's one-time secret, while this tab holds it. */
  reveal(keyId: string): Reveal {
    return this.vault.reveal(keyId);
  }

  // -- try-it ----------------------------------------------------------------------------------

  /** Call an operation through the console's proxy and stream its phases (DNS, connect, TLS,
   * first byte, completed) to `onEvent` as they happen. Only the operation, the key's id,
   * parameters and body leave the page: the console injects the credential. Resolves with the
   * response; an ERROR phase rejects with its code. */
  tryOperation(
    input: TryOperationInput,
    onEvent?: (event: PlaygroundEvent) => void,
  ): Promise<PlaygroundResponse> {
    return new Promise((resolve, reject) => {
      let done = false;
      const stop = this.subscribe(PlaygroundRunDocument, { input }, {
        next: ({ playgroundRun: event }) => {
          onEvent?.(event);
          if (event.phase === "COMPLETED" && event.response) {
            done = true;
            resolve(event.response);
          } else if (event.phase === "ERROR") {
            done = true;
            const e = event.error;
            reject(new StorefrontError(e?.code ?? "ERROR", e?.message ?? "the run failed", {
              field: e?.field ?? null,
            }));
          }
        },
        error: (e) => {
          done = true;
          reject(e);
        },
        complete: () => {
          if (!done) reject(new StorefrontError("ERROR", "the run ended without an answer"));
          stop();
        },
      });
    });
  }

  /** Close the live connection and stop the refresh timer (the session stays stored). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.resetSocket();
  }

  // -- internals -------------------------------------------------------------------------------

  private headers(): Record<string, string> {
    const h: Record<string, string> = { "X-Storefront-Key": this.options.storefrontKey };
    if (this.session) h["Authorization"] = `Bearer ${this.session.accessToken}`;
    return h;
  }

  /** Whether the request goes out signed in; refreshes a token about to expire first. */
  private async fresh(): Promise<boolean> {
    if (!this.session) return false;
    if (Date.parse(this.session.expiresAt) - Date.now() < NEAR_EXPIRY_MS) {
      try {
        await this.refresh();
      } catch {
        return this.session !== null;
      }
    }
    return this.session !== null;
  }

  private async exchange(): Promise<User> {
    const current = this.session;
    if (!current) throw new StorefrontError("NOT_SIGNED_IN", "no session to refresh");
    const sent = await this.transport.send(
      RefreshTokenDocument.toString(),
      { token: current.refreshToken },
      { "X-Storefront-Key": this.options.storefrontKey },
    );
    const errors = sent.body.errors ?? [];
    const result = (sent.body.data as { refreshToken?: { __typename: string } } | null)?.refreshToken;
    if (errors.length > 0 || !result) {
      const e = StorefrontError.fromGraphQL(errors, sent.status);
      if (e.code !== "NETWORK_ERROR" && e.code !== "RATE_LIMITED") this.adopt(null);
      throw e;
    }
    try {
      const payload = unwrap(result as { __typename: "AuthPayload" } & SessionFieldsFragment);
      this.adopt(payload);
      return payload.user;
    } catch (e) {
      this.adopt(null); // refused: the session is over (expired, revoked or reused)
      throw e;
    }
  }

  private adopt(session: SessionFieldsFragment | null): void {
    const before = this.session?.user.id ?? null;
    this.session = session;
    if (session) {
      this.store.set(SESSION, JSON.stringify(pick(session)));
    } else {
      this.store.remove(SESSION);
    }
    // A new identity needs a new socket (its credentials are sent when it opens).
    if ((session?.user.id ?? null) !== before || session === null) this.resetSocket();
    this.schedule();
    for (const l of this.listeners) l(session?.user ?? null);
  }

  private load(): SessionFieldsFragment | null {
    const raw = this.store.get(SESSION);
    if (!raw) return null;
    try {
      const s = JSON.parse(raw) as SessionFieldsFragment;
      return s && typeof s.refreshToken === "string" && typeof s.expiresAt === "string" ? s : null;
    } catch {
      return null;
    }
  }

  /** Refresh a minute (by default) before the access token expires. */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.session) return;
    const lead = (this.options.refreshBeforeExpirySeconds ?? 60) * 1000;
    const lifetime = Date.parse(this.session.expiresAt) - Date.now();
    // Short-lived tokens are refreshed at 80% of their life rather than a minute before.
    const wait = Math.max(0, Math.min(lifetime - lead, lifetime * 0.8));
    this.timer = setTimeout(() => {
      this.refresh().catch(() => {
        /* adopt(null) told the listeners */
      });
    }, Math.min(wait, 2_147_483_647));
    (this.timer as { unref?: () => void }).unref?.();
  }

  private socket(): WsClient {
    if (!this.ws) {
      this.ws = createClient({
        url: wsUrlOf(this.endpoint),
        lazy: true,
        retryAttempts: 3,
        webSocketImpl: this.options.webSocketImpl,
        connectionParams: async () => {
          await this.fresh();
          this.socketToken = this.session?.accessToken ?? null;
          return this.headers();
        },
      });
    }
    return this.ws;
  }

  private resetSocket(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) void ws.dispose();
  }
}

export function createStorefront(options: StorefrontOptions): Storefront {
  return new Storefront(options);
}

function pick(s: SessionFieldsFragment): SessionFieldsFragment {
  const { accessToken, refreshToken, expiresAt, staffRolesWithheld, user } = s;
  return { accessToken, refreshToken, expiresAt, staffRolesWithheld, user };
}

function failedAuth(sent: Sent): boolean {
  return (sent.body.errors ?? []).some((e) => AUTH_RETRY_CODES.has(e.extensions?.code ?? ""));
}

function closeCode(e: unknown): number | null {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "number"
    ? e.code
    : null;
}

/** A socket's close (code and reason, e.g. `4403 ORIGIN_NOT_ALLOWED: …`) as an error. */
function closed(e: unknown): StorefrontError {
  if (e instanceof StorefrontError) return e;
  if (Array.isArray(e)) return StorefrontError.fromGraphQL(e);
  const code = closeCode(e);
  const reason =
    typeof e === "object" && e !== null && "reason" in e && typeof e.reason === "string"
      ? e.reason
      : "";
  if (code !== null) {
    const named = /^([A-Z_]+):/.exec(reason)?.[1];
    const byClose: Record<number, string> = { 4401: "UNAUTHENTICATED", 4403: "FORBIDDEN" };
    return new StorefrontError(named ?? byClose[code] ?? "NETWORK_ERROR", reason || `socket closed (${code})`, {
      status: code,
    });
  }
  return new StorefrontError("NETWORK_ERROR", e instanceof Error ? e.message : "socket error");
}

function endpointOf(url: string): string {
  const base = url.replace(/\/+$/, "");
  return base.endsWith("/graphql") ? base : `${base}/graphql`;
}

function wsUrlOf(endpoint: string): string {
  const origin = (globalThis as { location?: Location }).location?.href;
  const u = origin ? new URL(endpoint, origin) : new URL(endpoint);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}
