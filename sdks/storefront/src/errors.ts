/** Errors surfaced with the console's stable codes: a GraphQL error's `extensions.code`, a
 * mutation's `UserError.code`, or one of the SDK's own (`NETWORK_ERROR`, `HTTP_ERROR`,
 * `NOT_SIGNED_IN`, `LOCAL_STORAGE_REFUSED`, `SECRET_NOT_AVAILABLE`). */

/** Codes a page is expected to branch on; any other string the console sends passes through. */
export type KnownErrorCode =
  | "UNAUTHENTICATED"
  | "INVALID_TOKEN"
  | "TOKEN_EXPIRED"
  | "SESSION_ENDED"
  | "ACCOUNT_DISABLED"
  | "INVALID_STOREFRONT_KEY"
  | "TENANT_MISMATCH"
  | "ORIGIN_NOT_ALLOWED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "INVALID"
  | "INVALID_CREDENTIALS"
  | "EMAIL_NOT_VERIFIED"
  | "WEAK_PASSWORD"
  | "RATE_LIMITED"
  | "QUERY_TOO_COSTLY"
  | "PERSISTED_QUERY_NOT_FOUND"
  | "KEY_REVOKED"
  | "NETWORK_ERROR"
  | "HTTP_ERROR"
  | "NOT_SIGNED_IN"
  | "LOCAL_STORAGE_REFUSED"
  | "SECRET_NOT_AVAILABLE";

// `string & {}` keeps editor completion for the known codes while accepting any other.
export type ErrorCode = KnownErrorCode | (string & {});

/** One entry of a GraphQL response's `errors`. */
export interface GraphQLErrorLike {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: { code?: string; retryAfter?: number; field?: string; [k: string]: unknown };
}

export interface StorefrontErrorInit {
  field?: string | null;
  status?: number | null;
  retryAfter?: number | null;
  errors?: GraphQLErrorLike[];
}

export class StorefrontError extends Error {
  override readonly name = "StorefrontError";
  readonly code: ErrorCode;
  /** The offending input, as the console names it (`email`, `input.password`, …). */
  readonly field: string | null;
  /** HTTP status of the answer, when there was one. */
  readonly status: number | null;
  /** Seconds to wait before trying again (RATE_LIMITED). */
  readonly retryAfter: number | null;
  /** Every GraphQL error of the answer (the first one gives `code`). */
  readonly errors: GraphQLErrorLike[];

  constructor(code: ErrorCode, message: string, init: StorefrontErrorInit = {}) {
    super(message);
    this.code = code;
    this.field = init.field ?? null;
    this.status = init.status ?? null;
    this.retryAfter = init.retryAfter ?? null;
    this.errors = init.errors ?? [];
  }

  /** From a response's `errors` (the first error names the code). */
  static fromGraphQL(errors: GraphQLErrorLike[], status: number | null = null): StorefrontError {
    const first = errors[0];
    const ext = first?.extensions ?? {};
    return new StorefrontError(ext.code ?? "INTERNAL_SERVER_ERROR", first?.message ?? "error", {
      field: typeof ext.field === "string" ? ext.field : null,
      status,
      retryAfter: typeof ext.retryAfter === "number" ? ext.retryAfter : null,
      errors,
    });
  }
}

/** A mutation's expected failure, as its result union carries it. */
export interface UserErrorLike {
  __typename: "UserError" | "RateLimited";
  code: string;
  message: string;
  field: string | null;
  retryAfterSeconds?: number;
}

export function isUserError(value: unknown): value is UserErrorLike {
  if (typeof value !== "object" || value === null) return false;
  const t = (value as { __typename?: unknown }).__typename;
  return t === "UserError" || t === "RateLimited";
}

/** The success member of a result union, or a thrown `StorefrontError` with the UserError's
 * code and field. */
export function unwrap<T extends { __typename: string }>(
  result: T,
): Exclude<T, { __typename: "UserError" | "RateLimited" }> {
  if (isUserError(result)) {
    throw new StorefrontError(result.code, result.message, {
      field: result.field,
      retryAfter: result.retryAfterSeconds ?? null,
    });
  }
  return result as Exclude<T, { __typename: "UserError" | "RateLimited" }>;
}

/** Codes after which a fresh access token may succeed where the old one failed. */
export const AUTH_RETRY_CODES: ReadonlySet<string> = new Set([
  "UNAUTHENTICATED",
  "TOKEN_EXPIRED",
  "INVALID_TOKEN",
]);
