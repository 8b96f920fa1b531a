/** @aforo/storefront: Aforo Console from a tenant's own web pages. */

export { createStorefront, Storefront } from "./client.js";
export type { LogInOutcome, Sink, StorefrontOptions, User } from "./client.js";
export { AUTH_RETRY_CODES, isUserError, StorefrontError, unwrap } from "./errors.js";
export type { ErrorCode, GraphQLErrorLike, KnownErrorCode, UserErrorLike } from "./errors.js";
export { waterfall, waterfallOf } from "./playground.js";
export type {
  PlaygroundEvent,
  PlaygroundResponse,
  PlaygroundTiming,
  WaterfallPhase,
  WaterfallSegment,
} from "./playground.js";
export type { Reveal } from "./reveal.js";
export { memoryStore } from "./storage.js";
export type { SessionStore, StoragePolicy, WebStorageLike } from "./storage.js";
export { operationOf, sha256Hex } from "./transport.js";
// Every typed operation (documents and their result and variable types), generated from the
// console's schema.graphql by GraphQL Code Generator.
export * from "./generated/graphql.js";
