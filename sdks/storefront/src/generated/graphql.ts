/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** BEARER_TOKEN: one secret sent as is; CLIENT_CREDENTIALS: a public client id and a secret exchanged at /oauth/token for short-lived tokens. */
export type ApiKeyFormat =
  | 'BEARER_TOKEN'
  | 'CLIENT_CREDENTIALS';

export type ApiKeyStatus =
  | 'ACTIVE'
  | 'EXPIRED'
  | 'REVOKED'
  | 'ROTATING';

/** How often a plan is billed. */
export type BillingInterval =
  | 'MONTH'
  | 'YEAR';

export type CodeLanguage =
  | 'CSHARP'
  | 'CURL'
  | 'GO'
  | 'JAVA'
  | 'NODE'
  | 'PHP'
  | 'PYTHON'
  | 'RUBY';

export type CreateApiKeyInput = {
  expiresAt?: string | null | undefined;
  format?: ApiKeyFormat;
  name: string;
  subscriptionId: string | number;
};

export type CreateThreadInput = {
  body: string;
  categoryId: string | number;
  tags?: Array<string>;
  title: string;
};

export type ForumTargetType =
  | 'REPLY'
  | 'THREAD';

export type InvoiceLineKind =
  | 'ADJUSTMENT'
  | 'FIXED_FEE'
  | 'USAGE';

/** DRAFT (may still be voided, never edited), FINALIZED (numbered, immutable, owed), PAID or VOID. */
export type InvoiceStatus =
  | 'DRAFT'
  | 'FINALIZED'
  | 'PAID'
  | 'VOID';

/** One name and value (a path parameter, query parameter, header). */
export type KeyValueInput = {
  name: string;
  value: string;
};

export type LogInInput = {
  email: string;
  password: string;
};

/** Give a reportId, or a targetType and targetId. */
export type ModerateInput = {
  action: ModerationActionType;
  reason: string;
  reportId?: string | number | null | undefined;
  targetId?: string | number | null | undefined;
  targetType?: ModerationTarget | null | undefined;
};

/** WARN, SOFT_DELETE, RESTORE, BAN, UNBAN, DISMISS; LOCK, UNLOCK, PIN, UNPIN for threads. */
export type ModerationActionType =
  | 'BAN'
  | 'DISMISS'
  | 'LOCK'
  | 'PIN'
  | 'RESTORE'
  | 'SOFT_DELETE'
  | 'UNBAN'
  | 'UNLOCK'
  | 'UNPIN'
  | 'WARN';

export type ModerationTarget =
  | 'REPLY'
  | 'THREAD'
  | 'USER';

export type PlaygroundPhase =
  | 'COMPLETED'
  | 'CONNECTED'
  | 'DNS_RESOLVED'
  | 'ERROR'
  | 'FIRST_BYTE'
  | 'TLS_DONE';

/** How a metered charge turns a quantity into an amount. */
export type PricingModel =
  | 'GRADUATED'
  | 'PACKAGE'
  | 'PER_UNIT'
  | 'VOLUME';

export type ReportReason =
  | 'ILLEGAL'
  | 'INAPPROPRIATE'
  | 'OFF_TOPIC'
  | 'OTHER'
  | 'SPAM';

export type ReportStatus =
  | 'DISMISSED'
  | 'OPEN'
  | 'RESOLVED';

/** A tenant staff or developer role. */
export type Role =
  | 'ADMIN'
  | 'DEVELOPER'
  | 'MODERATOR';

export type SignUpInput = {
  email: string;
  name: string;
  password: string;
};

export type SpecFormat =
  | 'GRAPHQL'
  | 'OPENAPI_3';

export type SubscriptionStatus =
  | 'ACTIVE'
  | 'CANCELLED';

/** OWNER (one per team: everything), ADMIN (members and keys), BILLING (subscriptions and usage), MEMBER (sees subscriptions, keys without secrets, usage and try-it runs; tries keys out). */
export type TeamRole =
  | 'ADMIN'
  | 'BILLING'
  | 'MEMBER'
  | 'OWNER';

/** Pinned threads always come first. */
export type ThreadOrder =
  | 'LATEST_ACTIVITY'
  | 'NEWEST'
  | 'TOP';

export type ThreadStatus =
  | 'LOCKED'
  | 'OPEN'
  | 'SOLVED';

/** A try-it request. Credentials are never part of it: the server mints a short-lived token (a JWT, about a minute) for the chosen key and injects it as the operation's security scheme says: http bearer, oauth2 and openIdConnect as `Authorization: Bearer <token>`; apiKey in a header, the query or a cookie under the scheme's name; no scheme: `Authorization: Bearer <token>`. http basic/digest cannot carry a token (PLAYGROUND_UNSUPPORTED_AUTH). GraphQL operations are POSTed to the spec's endpoint with `body` as the request. */
export type TryOperationInput = {
  body?: string | null | undefined;
  /** Extra request headers; credential and connection headers are refused. */
  headers?: Array<KeyValueInput>;
  keyId: string | number;
  operationId: string | number;
  pathParams?: Array<KeyValueInput>;
  query?: Array<KeyValueInput>;
  /** One of the operation's servers; the first one by default. */
  server?: string | null | undefined;
};

/** Every field narrows; from is inclusive, to exclusive. */
export type UsageFilter = {
  agent?: string | null | undefined;
  from?: string | null | undefined;
  keyId?: string | number | null | undefined;
  metric?: string | null | undefined;
  subscriptionId?: string | number | null | undefined;
  to?: string | null | undefined;
  tool?: string | null | undefined;
};

export type UsageGranularity =
  | 'DAY'
  | 'HOUR'
  | 'MONTH';

export type SessionFieldsFragment = { accessToken: string, refreshToken: string, expiresAt: string, staffRolesWithheld: boolean, user: { id: string, name: string, email: string | null, emailVerified: boolean, roles: Array<Role> | null } };

export type UserFieldsFragment = { id: string, name: string, email: string | null, emailVerified: boolean, roles: Array<Role> | null };

export type UserErrorFieldsFragment = { code: string, message: string, field: string | null };

export type SignUpMutationVariables = Exact<{
  input: SignUpInput;
}>;


export type SignUpMutation = { signUp:
    | { __typename: 'SignUpAccepted', email: string, verificationRequired: boolean }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type VerifyEmailMutationVariables = Exact<{
  token: string;
}>;


export type VerifyEmailMutation = { verifyEmail:
    | { __typename: 'EmailVerified', user: { id: string, name: string, email: string | null, emailVerified: boolean, roles: Array<Role> | null }, session: { accessToken: string, refreshToken: string, expiresAt: string, staffRolesWithheld: boolean, user: { id: string, name: string, email: string | null, emailVerified: boolean, roles: Array<Role> | null } } | null }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type LogInMutationVariables = Exact<{
  input: LogInInput;
}>;


export type LogInMutation = { logIn:
    | { __typename: 'AuthPayload', accessToken: string, refreshToken: string, expiresAt: string, staffRolesWithheld: boolean, user: { id: string, name: string, email: string | null, emailVerified: boolean, roles: Array<Role> | null } }
    | { __typename: 'SecondFactorRequired', challenge: string, expiresAt: string }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type LogInSecondFactorMutationVariables = Exact<{
  challenge: string;
  code: string;
}>;


export type LogInSecondFactorMutation = { logInSecondFactor:
    | { __typename: 'AuthPayload', accessToken: string, refreshToken: string, expiresAt: string, staffRolesWithheld: boolean, user: { id: string, name: string, email: string | null, emailVerified: boolean, roles: Array<Role> | null } }
    | { __typename: 'RateLimited', code: string, message: string, field: string | null, retryAfterSeconds: number }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type RefreshTokenMutationVariables = Exact<{
  token: string;
}>;


export type RefreshTokenMutation = { refreshToken:
    | { __typename: 'AuthPayload', accessToken: string, refreshToken: string, expiresAt: string, staffRolesWithheld: boolean, user: { id: string, name: string, email: string | null, emailVerified: boolean, roles: Array<Role> | null } }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type LogOutMutationVariables = Exact<{ [key: string]: never; }>;


export type LogOutMutation = { logOut:
    | { __typename: 'LoggedOut', ok: boolean }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type ResendVerificationEmailMutationVariables = Exact<{ [key: string]: never; }>;


export type ResendVerificationEmailMutation = { resendVerificationEmail:
    | { __typename: 'MailRequested' }
    | { __typename: 'RateLimited', code: string, message: string, field: string | null, retryAfterSeconds: number }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type RequestPasswordResetMutationVariables = Exact<{
  email: string;
}>;


export type RequestPasswordResetMutation = { requestPasswordReset:
    | { __typename: 'MailRequested' }
    | { __typename: 'RateLimited', code: string, message: string, field: string | null, retryAfterSeconds: number }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type ResetPasswordMutationVariables = Exact<{
  token: string;
  newPassword: string;
}>;


export type ResetPasswordMutation = { resetPassword:
    | { __typename: 'User' }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type ConfirmEmailChangeMutationVariables = Exact<{
  token: string;
}>;


export type ConfirmEmailChangeMutation = { confirmEmailChange:
    | { __typename: 'User', id: string, name: string, email: string | null, emailVerified: boolean, roles: Array<Role> | null }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type BeginTwoFactorEnrollmentMutationVariables = Exact<{
  password: string;
}>;


export type BeginTwoFactorEnrollmentMutation = { beginTwoFactorEnrollment:
    | { __typename: 'TwoFactorEnrollment', secret: string, otpauthUri: string }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type ConfirmTwoFactorEnrollmentMutationVariables = Exact<{
  code: string;
}>;


export type ConfirmTwoFactorEnrollmentMutation = { confirmTwoFactorEnrollment:
    | { __typename: 'RateLimited' }
    | { __typename: 'RecoveryCodes', codes: Array<string> }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type MeQueryVariables = Exact<{ [key: string]: never; }>;


export type MeQuery = { me: { id: string, name: string, email: string | null, emailVerified: boolean, roles: Array<Role> | null } };

export type TenantQueryVariables = Exact<{ [key: string]: never; }>;


export type TenantQuery = { tenant: { id: string, name: string, slug: string, branding: { brandName: string, logoUrl: string | null, primaryColor: string, backgroundColor: string } } };

export type MoneyFieldsFragment = { currency: string, amount: string };

export type UsageQueryVariables = Exact<{
  filter?: UsageFilter | null | undefined;
  granularity: UsageGranularity;
}>;


export type UsageQuery = { usage: { total: string | null, events: number, metric: string | null, byMetric: Array<{ metric: string, total: string, events: number, buckets: Array<{ start: string, quantity: string | null, events: number }> }> } };

export type CurrentUsageQueryVariables = Exact<{
  subscriptionId: string | number;
}>;


export type CurrentUsageQuery = { currentUsage: { subscriptionId: string, used: string, quota: number | null, remaining: string | null, hard: boolean, periodStart: string, periodEnd: string } };

export type InvoicesQueryVariables = Exact<{
  status?: InvoiceStatus | null | undefined;
  first?: number | null | undefined;
  offset: number;
}>;


export type InvoicesQuery = { invoices: Array<{ id: string, number: string | null, status: InvoiceStatus, currency: string, periodStart: string, periodEnd: string, createdAt: string, dueAt: string | null, total: { currency: string, amount: string } }> };

export type InvoiceQueryVariables = Exact<{
  id: string | number;
}>;


export type InvoiceQuery = { invoice: { id: string, number: string | null, status: InvoiceStatus, subscriptionId: string, customerName: string, customerEmail: string, currency: string, periodStart: string, periodEnd: string, finalizedAt: string | null, dueAt: string | null, paidAt: string | null, taxLabel: string, taxRate: string, pdfUrl: string, subtotal: { currency: string, amount: string }, tax: { currency: string, amount: string }, total: { currency: string, amount: string }, lines: Array<{ position: number, kind: InvoiceLineKind, description: string, metric: string | null, quantity: string, unitPrice: string | null, amount: { currency: string, amount: string } }> } };

export type UpcomingInvoiceQueryVariables = Exact<{
  subscriptionId: string | number;
}>;


export type UpcomingInvoiceQuery = { upcomingInvoice: { subscriptionId: string, periodStart: string, periodEnd: string, total: { currency: string, amount: string }, lines: Array<{ description: string, quantity: string, amount: { currency: string, amount: string } }> } };

export type PlanFieldsFragment = { id: string, productId: string, name: string, slug: string, priceCents: number, currency: string, interval: BillingInterval, monthlyQuota: number | null, rateLimitPerMinute: number | null, hardQuota: boolean, fixedFee: { currency: string, amount: string }, charges: Array<{ metric: string, model: PricingModel, includedUnits: string, unitPrice: string | null, packageSize: string | null, packagePrice: string | null }> };

export type SubscriptionFieldsFragment = { id: string, status: SubscriptionStatus, createdAt: string, cancelledAt: string | null, cancelAtPeriodEnd: boolean, teamId: string | null, currentPeriod: { periodStart: string, periodEnd: string } | null, plan: { id: string, name: string, productId: string, currency: string, monthlyQuota: number | null } };

export type ProductsQueryVariables = Exact<{
  first?: number | null | undefined;
}>;


export type ProductsQuery = { products: Array<{ id: string, name: string, slug: string, description: string, plans: Array<{ id: string, productId: string, name: string, slug: string, priceCents: number, currency: string, interval: BillingInterval, monthlyQuota: number | null, rateLimitPerMinute: number | null, hardQuota: boolean, fixedFee: { currency: string, amount: string }, charges: Array<{ metric: string, model: PricingModel, includedUnits: string, unitPrice: string | null, packageSize: string | null, packagePrice: string | null }> }> }> };

export type MySubscriptionsQueryVariables = Exact<{
  first?: number | null | undefined;
}>;


export type MySubscriptionsQuery = { mySubscriptions: Array<{ id: string, status: SubscriptionStatus, createdAt: string, cancelledAt: string | null, cancelAtPeriodEnd: boolean, teamId: string | null, currentPeriod: { periodStart: string, periodEnd: string } | null, plan: { id: string, name: string, productId: string, currency: string, monthlyQuota: number | null } }> };

export type SubscribeMutationVariables = Exact<{
  planId: string | number;
  teamId?: string | number | null | undefined;
}>;


export type SubscribeMutation = { subscribe:
    | { __typename: 'Subscription', id: string, status: SubscriptionStatus, createdAt: string, cancelledAt: string | null, cancelAtPeriodEnd: boolean, teamId: string | null, currentPeriod: { periodStart: string, periodEnd: string } | null, plan: { id: string, name: string, productId: string, currency: string, monthlyQuota: number | null } }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type CancelSubscriptionMutationVariables = Exact<{
  id: string | number;
  atPeriodEnd: boolean;
}>;


export type CancelSubscriptionMutation = { cancelSubscription:
    | { __typename: 'Subscription', id: string, status: SubscriptionStatus, createdAt: string, cancelledAt: string | null, cancelAtPeriodEnd: boolean, teamId: string | null, currentPeriod: { periodStart: string, periodEnd: string } | null, plan: { id: string, name: string, productId: string, currency: string, monthlyQuota: number | null } }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type DocNodeFieldsFragment = { id: string, title: string, slug: string, parentId: string | null, depth: number };

export type DocTreeQueryVariables = Exact<{
  productId: string | number;
}>;


export type DocTreeQuery = { docTree: Array<{ id: string, title: string, slug: string, parentId: string | null, depth: number, children: Array<{ id: string, title: string, slug: string, parentId: string | null, depth: number, children: Array<{ id: string, title: string, slug: string, parentId: string | null, depth: number, children: Array<{ id: string, title: string, slug: string, parentId: string | null, depth: number }> }> }> }> };

export type DocPageQueryVariables = Exact<{
  productId: string | number;
  slug: string;
}>;


export type DocPageQuery = { docPage: { id: string, title: string, slug: string, version: number, updatedAt: string, html: string, toc: Array<{ level: number, anchor: string, text: string }>, breadcrumbs: Array<{ id: string, title: string, slug: string }> } };

export type SearchDocsQueryVariables = Exact<{
  productId: string | number;
  query: string;
  first: number;
}>;


export type SearchDocsQuery = { searchDocs: Array<{ snippet: string, page: { id: string, title: string, slug: string } }> };

export type ThreadSummaryFieldsFragment = { id: string, categoryId: string, title: string | null, status: ThreadStatus, tags: Array<string>, score: number, replyCount: number, viewCount: number, createdAt: string, lastActivityAt: string, removed: boolean, author: { id: string, name: string } | null };

export type ReplyFieldsFragment = { id: string, parentReplyId: string | null, depth: number, score: number, myVote: number, createdAt: string, editedAt: string | null, removed: boolean, isAccepted: boolean, bodyHtml: string | null, author: { id: string, name: string } | null };

export type CategoriesQueryVariables = Exact<{ [key: string]: never; }>;


export type CategoriesQuery = { categories: Array<{ id: string, name: string, slug: string, description: string, parentId: string | null }> };

export type ThreadsQueryVariables = Exact<{
  categoryId?: string | number | null | undefined;
  first?: number | null | undefined;
  after?: string | null | undefined;
  orderBy: ThreadOrder;
}>;


export type ThreadsQuery = { threads: { edges: Array<{ cursor: string, node: { id: string, categoryId: string, title: string | null, status: ThreadStatus, tags: Array<string>, score: number, replyCount: number, viewCount: number, createdAt: string, lastActivityAt: string, removed: boolean, author: { id: string, name: string } | null } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type ThreadQueryVariables = Exact<{
  id: string | number;
  first?: number | null | undefined;
}>;


export type ThreadQuery = { thread: { bodyHtml: string | null, myVote: number, acceptedReplyId: string | null, id: string, categoryId: string, title: string | null, status: ThreadStatus, tags: Array<string>, score: number, replyCount: number, viewCount: number, createdAt: string, lastActivityAt: string, removed: boolean, replies: Array<{ id: string, parentReplyId: string | null, depth: number, score: number, myVote: number, createdAt: string, editedAt: string | null, removed: boolean, isAccepted: boolean, bodyHtml: string | null, children: Array<{ id: string, parentReplyId: string | null, depth: number, score: number, myVote: number, createdAt: string, editedAt: string | null, removed: boolean, isAccepted: boolean, bodyHtml: string | null, author: { id: string, name: string } | null }>, author: { id: string, name: string } | null }>, author: { id: string, name: string } | null } | null };

export type SearchForumQueryVariables = Exact<{
  query: string;
  first?: number | null | undefined;
}>;


export type SearchForumQuery = { searchForum: Array<{ rank: number, titleMatch: boolean, snippet: string, thread: { id: string, title: string | null, status: ThreadStatus } | null, reply: { id: string, threadId: string } | null }> };

export type SimilarThreadsQueryVariables = Exact<{
  title: string;
  body: string;
}>;


export type SimilarThreadsQuery = { similarThreads: Array<{ id: string, title: string | null, status: ThreadStatus, replyCount: number }> };

export type CreateThreadMutationVariables = Exact<{
  input: CreateThreadInput;
}>;


export type CreateThreadMutation = { createThread:
    | { __typename: 'Thread', id: string, categoryId: string, title: string | null, status: ThreadStatus, tags: Array<string>, score: number, replyCount: number, viewCount: number, createdAt: string, lastActivityAt: string, removed: boolean, author: { id: string, name: string } | null }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type ReplyMutationVariables = Exact<{
  threadId: string | number;
  body: string;
  parentReplyId?: string | number | null | undefined;
}>;


export type ReplyMutation = { reply:
    | { __typename: 'Reply', id: string, parentReplyId: string | null, depth: number, score: number, myVote: number, createdAt: string, editedAt: string | null, removed: boolean, isAccepted: boolean, bodyHtml: string | null, author: { id: string, name: string } | null }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type VoteMutationVariables = Exact<{
  targetType: ForumTargetType;
  targetId: string | number;
  value: number;
}>;


export type VoteMutation = { vote:
    | { __typename: 'UserError', code: string, message: string, field: string | null }
    | { __typename: 'VoteCast', targetId: string, score: number, myVote: number }
   };

export type AcceptAnswerMutationVariables = Exact<{
  replyId: string | number;
}>;


export type AcceptAnswerMutation = { acceptAnswer:
    | { __typename: 'Thread', id: string, status: ThreadStatus, acceptedReplyId: string | null }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type ReportMutationVariables = Exact<{
  targetType: ForumTargetType;
  targetId: string | number;
  reason: ReportReason;
  note?: string | null | undefined;
}>;


export type ReportMutation = { report:
    | { __typename: 'Report', id: string, status: ReportStatus }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type ThreadActivitySubscriptionVariables = Exact<{
  threadId: string | number;
}>;


export type ThreadActivitySubscription = { threadActivity: { type: string, replyId: string | null, bodyHtml: string | null } };

export type ModerationQueueQueryVariables = Exact<{
  first?: number | null | undefined;
}>;


export type ModerationQueueQuery = { moderationQueue: Array<{ targetType: ForumTargetType, targetId: string, reportCount: number, firstReportedAt: string, reports: Array<{ id: string, reason: ReportReason, note: string, createdAt: string, reporter: { id: string, name: string } | null }>, thread: { id: string, title: string | null, bodyHtml: string | null, removed: boolean, author: { id: string, name: string } | null } | null, reply: { id: string, threadId: string, bodyHtml: string | null, removed: boolean, author: { id: string, name: string } | null } | null }> };

export type ModerateMutationVariables = Exact<{
  input: ModerateInput;
}>;


export type ModerateMutation = { moderate:
    | { __typename: 'ModerationRecord', id: string, action: ModerationActionType, targetType: ModerationTarget, targetId: string }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type ApiKeyFieldsFragment = { id: string, name: string, format: ApiKeyFormat, status: ApiKeyStatus, prefix: string, last4: string, clientId: string | null, createdAt: string, lastUsedAt: string | null, expiresAt: string | null, revokedAt: string | null, rotatedAt: string | null, replacedById: string | null, teamId: string | null, subscriptions: Array<{ id: string, plan: { name: string } }> };

export type ApiKeysQueryVariables = Exact<{
  first?: number | null | undefined;
}>;


export type ApiKeysQuery = { apiKeys: Array<{ id: string, name: string, format: ApiKeyFormat, status: ApiKeyStatus, prefix: string, last4: string, clientId: string | null, createdAt: string, lastUsedAt: string | null, expiresAt: string | null, revokedAt: string | null, rotatedAt: string | null, replacedById: string | null, teamId: string | null, subscriptions: Array<{ id: string, plan: { name: string } }> }> };

export type CreateApiKeyMutationVariables = Exact<{
  input: CreateApiKeyInput;
}>;


export type CreateApiKeyMutation = { createApiKey:
    | { __typename: 'ApiKeyCreated', secret: string, clientId: string | null, apiKey: { id: string, name: string, format: ApiKeyFormat, status: ApiKeyStatus, prefix: string, last4: string, clientId: string | null, createdAt: string, lastUsedAt: string | null, expiresAt: string | null, revokedAt: string | null, rotatedAt: string | null, replacedById: string | null, teamId: string | null, subscriptions: Array<{ id: string, plan: { name: string } }> } }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type RotateApiKeyMutationVariables = Exact<{
  id: string | number;
  graceSeconds: number;
}>;


export type RotateApiKeyMutation = { rotateApiKey:
    | { __typename: 'ApiKeyRotated', secret: string, clientId: string | null, previousKeyExpiresAt: string, apiKey: { id: string, name: string, format: ApiKeyFormat, status: ApiKeyStatus, prefix: string, last4: string, clientId: string | null, createdAt: string, lastUsedAt: string | null, expiresAt: string | null, revokedAt: string | null, rotatedAt: string | null, replacedById: string | null, teamId: string | null, subscriptions: Array<{ id: string, plan: { name: string } }> } }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type RevokeApiKeyMutationVariables = Exact<{
  id: string | number;
}>;


export type RevokeApiKeyMutation = { revokeApiKey:
    | { __typename: 'ApiKey', id: string, name: string, format: ApiKeyFormat, status: ApiKeyStatus, prefix: string, last4: string, clientId: string | null, createdAt: string, lastUsedAt: string | null, expiresAt: string | null, revokedAt: string | null, rotatedAt: string | null, replacedById: string | null, teamId: string | null, subscriptions: Array<{ id: string, plan: { name: string } }> }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type PlaygroundTimingFieldsFragment = { dnsMs: number, connectMs: number, tlsMs: number, ttfbMs: number, transferMs: number, totalMs: number, reusedConnection: boolean };

export type PlaygroundResponseFieldsFragment = { runId: string, status: number, body: string, bodyBytes: number, contentType: string | null, url: string, headers: Array<{ name: string, value: string }>, timing: { dnsMs: number, connectMs: number, tlsMs: number, ttfbMs: number, transferMs: number, totalMs: number, reusedConnection: boolean } };

export type PlaygroundRunSubscriptionVariables = Exact<{
  input: TryOperationInput;
}>;


export type PlaygroundRunSubscription = { playgroundRun: { runId: string | null, seq: number, phase: PlaygroundPhase, elapsedMs: number, response: { runId: string, status: number, body: string, bodyBytes: number, contentType: string | null, url: string, headers: Array<{ name: string, value: string }>, timing: { dnsMs: number, connectMs: number, tlsMs: number, ttfbMs: number, transferMs: number, totalMs: number, reusedConnection: boolean } } | null, error: { code: string, message: string, field: string | null } | null } };

export type TryOperationMutationVariables = Exact<{
  input: TryOperationInput;
}>;


export type TryOperationMutation = { tryOperation:
    | { __typename: 'PlaygroundResponse', runId: string, status: number, body: string, bodyBytes: number, contentType: string | null, url: string, headers: Array<{ name: string, value: string }>, timing: { dnsMs: number, connectMs: number, tlsMs: number, ttfbMs: number, transferMs: number, totalMs: number, reusedConnection: boolean } }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export type PlaygroundRunsQueryVariables = Exact<{
  first?: number | null | undefined;
}>;


export type PlaygroundRunsQuery = { playgroundRuns: Array<{ id: string, keyId: string, operationId: string, method: string, url: string, status: number | null, errorCode: string | null, totalMs: number, createdAt: string, timing: { dnsMs: number, connectMs: number, tlsMs: number, ttfbMs: number, transferMs: number, totalMs: number, reusedConnection: boolean } | null }> };

export type ApiSpecsQueryVariables = Exact<{
  productId: string | number;
}>;


export type ApiSpecsQuery = { apiSpecs: Array<{ id: string, name: string, format: SpecFormat, currentVersion: { id: string, title: string, apiVersion: string, descriptionHtml: string, serverList: Array<{ url: string, description: string }>, operations: Array<{ id: string, key: string, kind: string, method: string, path: string, summary: string, tags: Array<string>, deprecated: boolean }> } | null }> };

export type ApiOperationQueryVariables = Exact<{
  id: string | number;
  languages?: Array<CodeLanguage> | CodeLanguage | null | undefined;
}>;


export type ApiOperationQuery = { apiOperation: { id: string, key: string, kind: string, method: string, path: string, summary: string, descriptionHtml: string, deprecated: boolean, tags: Array<string>, parameters: Array<{ name: string, location: string, required: boolean, descriptionHtml: string, example: unknown, schema: unknown }>, requestBody: { required: boolean, content: Array<{ mediaType: string, example: unknown }> } | null, responses: Array<{ status: string, description: string }>, sampleRequest: { body: string | null, values: unknown }, codeSamples: Array<{ language: CodeLanguage, code: string }> } };

export type AcceptTeamInvitationMutationVariables = Exact<{
  token: string;
}>;


export type AcceptTeamInvitationMutation = { acceptTeamInvitation:
    | { __typename: 'Team', id: string, name: string, myRole: TeamRole }
    | { __typename: 'UserError', code: string, message: string, field: string | null }
   };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const UserFieldsFragmentDoc = new TypedDocumentString(`
    fragment UserFields on User {
  id
  name
  email
  emailVerified
  roles
}
    `, {"fragmentName":"UserFields"}) as unknown as TypedDocumentString<UserFieldsFragment, unknown>;
export const SessionFieldsFragmentDoc = new TypedDocumentString(`
    fragment SessionFields on AuthPayload {
  accessToken
  refreshToken
  expiresAt
  staffRolesWithheld
  user {
    ...UserFields
  }
}
    fragment UserFields on User {
  id
  name
  email
  emailVerified
  roles
}`, {"fragmentName":"SessionFields"}) as unknown as TypedDocumentString<SessionFieldsFragment, unknown>;
export const UserErrorFieldsFragmentDoc = new TypedDocumentString(`
    fragment UserErrorFields on UserError {
  code
  message
  field
}
    `, {"fragmentName":"UserErrorFields"}) as unknown as TypedDocumentString<UserErrorFieldsFragment, unknown>;
export const MoneyFieldsFragmentDoc = new TypedDocumentString(`
    fragment MoneyFields on Money {
  currency
  amount
}
    `, {"fragmentName":"MoneyFields"}) as unknown as TypedDocumentString<MoneyFieldsFragment, unknown>;
export const PlanFieldsFragmentDoc = new TypedDocumentString(`
    fragment PlanFields on Plan {
  id
  productId
  name
  slug
  priceCents
  currency
  interval
  monthlyQuota
  rateLimitPerMinute
  hardQuota
  fixedFee {
    currency
    amount
  }
  charges {
    metric
    model
    includedUnits
    unitPrice
    packageSize
    packagePrice
  }
}
    `, {"fragmentName":"PlanFields"}) as unknown as TypedDocumentString<PlanFieldsFragment, unknown>;
export const SubscriptionFieldsFragmentDoc = new TypedDocumentString(`
    fragment SubscriptionFields on Subscription {
  id
  status
  createdAt
  cancelledAt
  cancelAtPeriodEnd
  teamId
  currentPeriod {
    periodStart
    periodEnd
  }
  plan {
    id
    name
    productId
    currency
    monthlyQuota
  }
}
    `, {"fragmentName":"SubscriptionFields"}) as unknown as TypedDocumentString<SubscriptionFieldsFragment, unknown>;
export const DocNodeFieldsFragmentDoc = new TypedDocumentString(`
    fragment DocNodeFields on DocPage {
  id
  title
  slug
  parentId
  depth
}
    `, {"fragmentName":"DocNodeFields"}) as unknown as TypedDocumentString<DocNodeFieldsFragment, unknown>;
export const ThreadSummaryFieldsFragmentDoc = new TypedDocumentString(`
    fragment ThreadSummaryFields on Thread {
  id
  categoryId
  title
  status
  tags
  score
  replyCount
  viewCount
  createdAt
  lastActivityAt
  removed
  author {
    id
    name
  }
}
    `, {"fragmentName":"ThreadSummaryFields"}) as unknown as TypedDocumentString<ThreadSummaryFieldsFragment, unknown>;
export const ReplyFieldsFragmentDoc = new TypedDocumentString(`
    fragment ReplyFields on Reply {
  id
  parentReplyId
  depth
  score
  myVote
  createdAt
  editedAt
  removed
  isAccepted
  bodyHtml
  author {
    id
    name
  }
}
    `, {"fragmentName":"ReplyFields"}) as unknown as TypedDocumentString<ReplyFieldsFragment, unknown>;
export const ApiKeyFieldsFragmentDoc = new TypedDocumentString(`
    fragment ApiKeyFields on ApiKey {
  id
  name
  format
  status
  prefix
  last4
  clientId
  createdAt
  lastUsedAt
  expiresAt
  revokedAt
  rotatedAt
  replacedById
  teamId
  subscriptions {
    id
    plan {
      name
    }
  }
}
    `, {"fragmentName":"ApiKeyFields"}) as unknown as TypedDocumentString<ApiKeyFieldsFragment, unknown>;
export const PlaygroundTimingFieldsFragmentDoc = new TypedDocumentString(`
    fragment PlaygroundTimingFields on PlaygroundTiming {
  dnsMs
  connectMs
  tlsMs
  ttfbMs
  transferMs
  totalMs
  reusedConnection
}
    `, {"fragmentName":"PlaygroundTimingFields"}) as unknown as TypedDocumentString<PlaygroundTimingFieldsFragment, unknown>;
export const PlaygroundResponseFieldsFragmentDoc = new TypedDocumentString(`
    fragment PlaygroundResponseFields on PlaygroundResponse {
  runId
  status
  headers {
    name
    value
  }
  body
  bodyBytes
  contentType
  url
  timing {
    ...PlaygroundTimingFields
  }
}
    fragment PlaygroundTimingFields on PlaygroundTiming {
  dnsMs
  connectMs
  tlsMs
  ttfbMs
  transferMs
  totalMs
  reusedConnection
}`, {"fragmentName":"PlaygroundResponseFields"}) as unknown as TypedDocumentString<PlaygroundResponseFieldsFragment, unknown>;
export const SignUpDocument = new TypedDocumentString(`
    mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) {
    __typename
    ... on SignUpAccepted {
      email
      verificationRequired
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<SignUpMutation, SignUpMutationVariables>;
export const VerifyEmailDocument = new TypedDocumentString(`
    mutation VerifyEmail($token: String!) {
  verifyEmail(token: $token) {
    __typename
    ... on EmailVerified {
      user {
        ...UserFields
      }
      session {
        ...SessionFields
      }
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment SessionFields on AuthPayload {
  accessToken
  refreshToken
  expiresAt
  staffRolesWithheld
  user {
    ...UserFields
  }
}
fragment UserFields on User {
  id
  name
  email
  emailVerified
  roles
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<VerifyEmailMutation, VerifyEmailMutationVariables>;
export const LogInDocument = new TypedDocumentString(`
    mutation LogIn($input: LogInInput!) {
  logIn(input: $input) {
    __typename
    ... on AuthPayload {
      ...SessionFields
    }
    ... on SecondFactorRequired {
      challenge
      expiresAt
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment SessionFields on AuthPayload {
  accessToken
  refreshToken
  expiresAt
  staffRolesWithheld
  user {
    ...UserFields
  }
}
fragment UserFields on User {
  id
  name
  email
  emailVerified
  roles
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<LogInMutation, LogInMutationVariables>;
export const LogInSecondFactorDocument = new TypedDocumentString(`
    mutation LogInSecondFactor($challenge: String!, $code: String!) {
  logInSecondFactor(challenge: $challenge, code: $code) {
    __typename
    ... on AuthPayload {
      ...SessionFields
    }
    ... on RateLimited {
      code
      message
      field
      retryAfterSeconds
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment SessionFields on AuthPayload {
  accessToken
  refreshToken
  expiresAt
  staffRolesWithheld
  user {
    ...UserFields
  }
}
fragment UserFields on User {
  id
  name
  email
  emailVerified
  roles
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<LogInSecondFactorMutation, LogInSecondFactorMutationVariables>;
export const RefreshTokenDocument = new TypedDocumentString(`
    mutation RefreshToken($token: String!) {
  refreshToken(token: $token) {
    __typename
    ... on AuthPayload {
      ...SessionFields
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment SessionFields on AuthPayload {
  accessToken
  refreshToken
  expiresAt
  staffRolesWithheld
  user {
    ...UserFields
  }
}
fragment UserFields on User {
  id
  name
  email
  emailVerified
  roles
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<RefreshTokenMutation, RefreshTokenMutationVariables>;
export const LogOutDocument = new TypedDocumentString(`
    mutation LogOut {
  logOut {
    __typename
    ... on LoggedOut {
      ok
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<LogOutMutation, LogOutMutationVariables>;
export const ResendVerificationEmailDocument = new TypedDocumentString(`
    mutation ResendVerificationEmail {
  resendVerificationEmail {
    __typename
    ... on RateLimited {
      code
      message
      field
      retryAfterSeconds
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<ResendVerificationEmailMutation, ResendVerificationEmailMutationVariables>;
export const RequestPasswordResetDocument = new TypedDocumentString(`
    mutation RequestPasswordReset($email: String!) {
  requestPasswordReset(email: $email) {
    __typename
    ... on RateLimited {
      code
      message
      field
      retryAfterSeconds
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<RequestPasswordResetMutation, RequestPasswordResetMutationVariables>;
export const ResetPasswordDocument = new TypedDocumentString(`
    mutation ResetPassword($token: String!, $newPassword: String!) {
  resetPassword(token: $token, newPassword: $newPassword) {
    __typename
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<ResetPasswordMutation, ResetPasswordMutationVariables>;
export const ConfirmEmailChangeDocument = new TypedDocumentString(`
    mutation ConfirmEmailChange($token: String!) {
  confirmEmailChange(token: $token) {
    __typename
    ... on User {
      ...UserFields
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment UserFields on User {
  id
  name
  email
  emailVerified
  roles
}
fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<ConfirmEmailChangeMutation, ConfirmEmailChangeMutationVariables>;
export const BeginTwoFactorEnrollmentDocument = new TypedDocumentString(`
    mutation BeginTwoFactorEnrollment($password: String!) {
  beginTwoFactorEnrollment(password: $password) {
    __typename
    ... on TwoFactorEnrollment {
      secret
      otpauthUri
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<BeginTwoFactorEnrollmentMutation, BeginTwoFactorEnrollmentMutationVariables>;
export const ConfirmTwoFactorEnrollmentDocument = new TypedDocumentString(`
    mutation ConfirmTwoFactorEnrollment($code: String!) {
  confirmTwoFactorEnrollment(code: $code) {
    __typename
    ... on RecoveryCodes {
      codes
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<ConfirmTwoFactorEnrollmentMutation, ConfirmTwoFactorEnrollmentMutationVariables>;
export const MeDocument = new TypedDocumentString(`
    query Me {
  me {
    ...UserFields
  }
}
    fragment UserFields on User {
  id
  name
  email
  emailVerified
  roles
}`) as unknown as TypedDocumentString<MeQuery, MeQueryVariables>;
export const TenantDocument = new TypedDocumentString(`
    query Tenant {
  tenant {
    id
    name
    slug
    branding {
      brandName
      logoUrl
      primaryColor
      backgroundColor
    }
  }
}
    `) as unknown as TypedDocumentString<TenantQuery, TenantQueryVariables>;
export const UsageDocument = new TypedDocumentString(`
    query Usage($filter: UsageFilter, $granularity: UsageGranularity!) {
  usage(filter: $filter, granularity: $granularity) {
    total
    events
    metric
    byMetric {
      metric
      total
      events
      buckets {
        start
        quantity
        events
      }
    }
  }
}
    `) as unknown as TypedDocumentString<UsageQuery, UsageQueryVariables>;
export const CurrentUsageDocument = new TypedDocumentString(`
    query CurrentUsage($subscriptionId: ID!) {
  currentUsage(subscriptionId: $subscriptionId) {
    subscriptionId
    used
    quota
    remaining
    hard
    periodStart
    periodEnd
  }
}
    `) as unknown as TypedDocumentString<CurrentUsageQuery, CurrentUsageQueryVariables>;
export const InvoicesDocument = new TypedDocumentString(`
    query Invoices($status: InvoiceStatus, $first: Int, $offset: Int!) {
  invoices(status: $status, first: $first, offset: $offset) {
    id
    number
    status
    currency
    periodStart
    periodEnd
    createdAt
    dueAt
    total {
      ...MoneyFields
    }
  }
}
    fragment MoneyFields on Money {
  currency
  amount
}`) as unknown as TypedDocumentString<InvoicesQuery, InvoicesQueryVariables>;
export const InvoiceDocument = new TypedDocumentString(`
    query Invoice($id: ID!) {
  invoice(id: $id) {
    id
    number
    status
    subscriptionId
    customerName
    customerEmail
    currency
    periodStart
    periodEnd
    finalizedAt
    dueAt
    paidAt
    taxLabel
    taxRate
    subtotal {
      ...MoneyFields
    }
    tax {
      ...MoneyFields
    }
    total {
      ...MoneyFields
    }
    lines {
      position
      kind
      description
      metric
      quantity
      unitPrice
      amount {
        ...MoneyFields
      }
    }
    pdfUrl
  }
}
    fragment MoneyFields on Money {
  currency
  amount
}`) as unknown as TypedDocumentString<InvoiceQuery, InvoiceQueryVariables>;
export const UpcomingInvoiceDocument = new TypedDocumentString(`
    query UpcomingInvoice($subscriptionId: ID!) {
  upcomingInvoice(subscriptionId: $subscriptionId) {
    subscriptionId
    periodStart
    periodEnd
    total {
      ...MoneyFields
    }
    lines {
      description
      quantity
      amount {
        ...MoneyFields
      }
    }
  }
}
    fragment MoneyFields on Money {
  currency
  amount
}`) as unknown as TypedDocumentString<UpcomingInvoiceQuery, UpcomingInvoiceQueryVariables>;
export const ProductsDocument = new TypedDocumentString(`
    query Products($first: Int) {
  products(first: $first) {
    id
    name
    slug
    description
    plans {
      ...PlanFields
    }
  }
}
    fragment PlanFields on Plan {
  id
  productId
  name
  slug
  priceCents
  currency
  interval
  monthlyQuota
  rateLimitPerMinute
  hardQuota
  fixedFee {
    currency
    amount
  }
  charges {
    metric
    model
    includedUnits
    unitPrice
    packageSize
    packagePrice
  }
}`) as unknown as TypedDocumentString<ProductsQuery, ProductsQueryVariables>;
export const MySubscriptionsDocument = new TypedDocumentString(`
    query MySubscriptions($first: Int) {
  mySubscriptions(first: $first) {
    ...SubscriptionFields
  }
}
    fragment SubscriptionFields on Subscription {
  id
  status
  createdAt
  cancelledAt
  cancelAtPeriodEnd
  teamId
  currentPeriod {
    periodStart
    periodEnd
  }
  plan {
    id
    name
    productId
    currency
    monthlyQuota
  }
}`) as unknown as TypedDocumentString<MySubscriptionsQuery, MySubscriptionsQueryVariables>;
export const SubscribeDocument = new TypedDocumentString(`
    mutation Subscribe($planId: ID!, $teamId: ID) {
  subscribe(planId: $planId, teamId: $teamId) {
    __typename
    ... on Subscription {
      ...SubscriptionFields
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    fragment SubscriptionFields on Subscription {
  id
  status
  createdAt
  cancelledAt
  cancelAtPeriodEnd
  teamId
  currentPeriod {
    periodStart
    periodEnd
  }
  plan {
    id
    name
    productId
    currency
    monthlyQuota
  }
}`) as unknown as TypedDocumentString<SubscribeMutation, SubscribeMutationVariables>;
export const CancelSubscriptionDocument = new TypedDocumentString(`
    mutation CancelSubscription($id: ID!, $atPeriodEnd: Boolean!) {
  cancelSubscription(id: $id, atPeriodEnd: $atPeriodEnd) {
    __typename
    ... on Subscription {
      ...SubscriptionFields
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    fragment SubscriptionFields on Subscription {
  id
  status
  createdAt
  cancelledAt
  cancelAtPeriodEnd
  teamId
  currentPeriod {
    periodStart
    periodEnd
  }
  plan {
    id
    name
    productId
    currency
    monthlyQuota
  }
}`) as unknown as TypedDocumentString<CancelSubscriptionMutation, CancelSubscriptionMutationVariables>;
export const DocTreeDocument = new TypedDocumentString(`
    query DocTree($productId: ID!) {
  docTree(productId: $productId) {
    ...DocNodeFields
    children {
      ...DocNodeFields
      children {
        ...DocNodeFields
        children {
          ...DocNodeFields
        }
      }
    }
  }
}
    fragment DocNodeFields on DocPage {
  id
  title
  slug
  parentId
  depth
}`) as unknown as TypedDocumentString<DocTreeQuery, DocTreeQueryVariables>;
export const DocPageDocument = new TypedDocumentString(`
    query DocPage($productId: ID!, $slug: String!) {
  docPage(productId: $productId, slug: $slug) {
    id
    title
    slug
    version
    updatedAt
    html
    toc {
      level
      anchor
      text
    }
    breadcrumbs {
      id
      title
      slug
    }
  }
}
    `) as unknown as TypedDocumentString<DocPageQuery, DocPageQueryVariables>;
export const SearchDocsDocument = new TypedDocumentString(`
    query SearchDocs($productId: ID!, $query: String!, $first: Int!) {
  searchDocs(productId: $productId, query: $query, first: $first) {
    snippet
    page {
      id
      title
      slug
    }
  }
}
    `) as unknown as TypedDocumentString<SearchDocsQuery, SearchDocsQueryVariables>;
export const CategoriesDocument = new TypedDocumentString(`
    query Categories {
  categories {
    id
    name
    slug
    description
    parentId
  }
}
    `) as unknown as TypedDocumentString<CategoriesQuery, CategoriesQueryVariables>;
export const ThreadsDocument = new TypedDocumentString(`
    query Threads($categoryId: ID, $first: Int, $after: String, $orderBy: ThreadOrder!) {
  threads(
    categoryId: $categoryId
    first: $first
    after: $after
    orderBy: $orderBy
  ) {
    edges {
      cursor
      node {
        ...ThreadSummaryFields
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment ThreadSummaryFields on Thread {
  id
  categoryId
  title
  status
  tags
  score
  replyCount
  viewCount
  createdAt
  lastActivityAt
  removed
  author {
    id
    name
  }
}`) as unknown as TypedDocumentString<ThreadsQuery, ThreadsQueryVariables>;
export const ThreadDocument = new TypedDocumentString(`
    query Thread($id: ID!, $first: Int) {
  thread(id: $id) {
    ...ThreadSummaryFields
    bodyHtml
    myVote
    acceptedReplyId
    replies(first: $first) {
      ...ReplyFields
      children {
        ...ReplyFields
      }
    }
  }
}
    fragment ThreadSummaryFields on Thread {
  id
  categoryId
  title
  status
  tags
  score
  replyCount
  viewCount
  createdAt
  lastActivityAt
  removed
  author {
    id
    name
  }
}
fragment ReplyFields on Reply {
  id
  parentReplyId
  depth
  score
  myVote
  createdAt
  editedAt
  removed
  isAccepted
  bodyHtml
  author {
    id
    name
  }
}`) as unknown as TypedDocumentString<ThreadQuery, ThreadQueryVariables>;
export const SearchForumDocument = new TypedDocumentString(`
    query SearchForum($query: String!, $first: Int) {
  searchForum(query: $query, first: $first) {
    rank
    titleMatch
    snippet
    thread {
      id
      title
      status
    }
    reply {
      id
      threadId
    }
  }
}
    `) as unknown as TypedDocumentString<SearchForumQuery, SearchForumQueryVariables>;
export const SimilarThreadsDocument = new TypedDocumentString(`
    query SimilarThreads($title: String!, $body: String!) {
  similarThreads(title: $title, body: $body) {
    id
    title
    status
    replyCount
  }
}
    `) as unknown as TypedDocumentString<SimilarThreadsQuery, SimilarThreadsQueryVariables>;
export const CreateThreadDocument = new TypedDocumentString(`
    mutation CreateThread($input: CreateThreadInput!) {
  createThread(input: $input) {
    __typename
    ... on Thread {
      ...ThreadSummaryFields
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    fragment ThreadSummaryFields on Thread {
  id
  categoryId
  title
  status
  tags
  score
  replyCount
  viewCount
  createdAt
  lastActivityAt
  removed
  author {
    id
    name
  }
}`) as unknown as TypedDocumentString<CreateThreadMutation, CreateThreadMutationVariables>;
export const ReplyDocument = new TypedDocumentString(`
    mutation Reply($threadId: ID!, $body: String!, $parentReplyId: ID) {
  reply(threadId: $threadId, body: $body, parentReplyId: $parentReplyId) {
    __typename
    ... on Reply {
      ...ReplyFields
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    fragment ReplyFields on Reply {
  id
  parentReplyId
  depth
  score
  myVote
  createdAt
  editedAt
  removed
  isAccepted
  bodyHtml
  author {
    id
    name
  }
}`) as unknown as TypedDocumentString<ReplyMutation, ReplyMutationVariables>;
export const VoteDocument = new TypedDocumentString(`
    mutation Vote($targetType: ForumTargetType!, $targetId: ID!, $value: Int!) {
  vote(targetType: $targetType, targetId: $targetId, value: $value) {
    __typename
    ... on VoteCast {
      targetId
      score
      myVote
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    `) as unknown as TypedDocumentString<VoteMutation, VoteMutationVariables>;
export const AcceptAnswerDocument = new TypedDocumentString(`
    mutation AcceptAnswer($replyId: ID!) {
  acceptAnswer(replyId: $replyId) {
    __typename
    ... on Thread {
      id
      status
      acceptedReplyId
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    `) as unknown as TypedDocumentString<AcceptAnswerMutation, AcceptAnswerMutationVariables>;
export const ReportDocument = new TypedDocumentString(`
    mutation Report($targetType: ForumTargetType!, $targetId: ID!, $reason: ReportReason!, $note: String) {
  report(
    targetType: $targetType
    targetId: $targetId
    reason: $reason
    note: $note
  ) {
    __typename
    ... on Report {
      id
      status
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    `) as unknown as TypedDocumentString<ReportMutation, ReportMutationVariables>;
export const ThreadActivityDocument = new TypedDocumentString(`
    subscription ThreadActivity($threadId: ID!) {
  threadActivity(threadId: $threadId) {
    type
    replyId
    bodyHtml
  }
}
    `) as unknown as TypedDocumentString<ThreadActivitySubscription, ThreadActivitySubscriptionVariables>;
export const ModerationQueueDocument = new TypedDocumentString(`
    query ModerationQueue($first: Int) {
  moderationQueue(first: $first) {
    targetType
    targetId
    reportCount
    firstReportedAt
    reports(first: 10) {
      id
      reason
      note
      createdAt
      reporter {
        id
        name
      }
    }
    thread {
      id
      title
      bodyHtml
      removed
      author {
        id
        name
      }
    }
    reply {
      id
      threadId
      bodyHtml
      removed
      author {
        id
        name
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ModerationQueueQuery, ModerationQueueQueryVariables>;
export const ModerateDocument = new TypedDocumentString(`
    mutation Moderate($input: ModerateInput!) {
  moderate(input: $input) {
    __typename
    ... on ModerationRecord {
      id
      action
      targetType
      targetId
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    `) as unknown as TypedDocumentString<ModerateMutation, ModerateMutationVariables>;
export const ApiKeysDocument = new TypedDocumentString(`
    query ApiKeys($first: Int) {
  apiKeys(first: $first) {
    ...ApiKeyFields
  }
}
    fragment ApiKeyFields on ApiKey {
  id
  name
  format
  status
  prefix
  last4
  clientId
  createdAt
  lastUsedAt
  expiresAt
  revokedAt
  rotatedAt
  replacedById
  teamId
  subscriptions {
    id
    plan {
      name
    }
  }
}`) as unknown as TypedDocumentString<ApiKeysQuery, ApiKeysQueryVariables>;
export const CreateApiKeyDocument = new TypedDocumentString(`
    mutation CreateApiKey($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    __typename
    ... on ApiKeyCreated {
      secret
      clientId
      apiKey {
        ...ApiKeyFields
      }
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    fragment ApiKeyFields on ApiKey {
  id
  name
  format
  status
  prefix
  last4
  clientId
  createdAt
  lastUsedAt
  expiresAt
  revokedAt
  rotatedAt
  replacedById
  teamId
  subscriptions {
    id
    plan {
      name
    }
  }
}`) as unknown as TypedDocumentString<CreateApiKeyMutation, CreateApiKeyMutationVariables>;
export const RotateApiKeyDocument = new TypedDocumentString(`
    mutation RotateApiKey($id: ID!, $graceSeconds: Int!) {
  rotateApiKey(id: $id, graceSeconds: $graceSeconds) {
    __typename
    ... on ApiKeyRotated {
      secret
      clientId
      previousKeyExpiresAt
      apiKey {
        ...ApiKeyFields
      }
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    fragment ApiKeyFields on ApiKey {
  id
  name
  format
  status
  prefix
  last4
  clientId
  createdAt
  lastUsedAt
  expiresAt
  revokedAt
  rotatedAt
  replacedById
  teamId
  subscriptions {
    id
    plan {
      name
    }
  }
}`) as unknown as TypedDocumentString<RotateApiKeyMutation, RotateApiKeyMutationVariables>;
export const RevokeApiKeyDocument = new TypedDocumentString(`
    mutation RevokeApiKey($id: ID!) {
  revokeApiKey(id: $id) {
    __typename
    ... on ApiKey {
      ...ApiKeyFields
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    fragment ApiKeyFields on ApiKey {
  id
  name
  format
  status
  prefix
  last4
  clientId
  createdAt
  lastUsedAt
  expiresAt
  revokedAt
  rotatedAt
  replacedById
  teamId
  subscriptions {
    id
    plan {
      name
    }
  }
}`) as unknown as TypedDocumentString<RevokeApiKeyMutation, RevokeApiKeyMutationVariables>;
export const PlaygroundRunDocument = new TypedDocumentString(`
    subscription PlaygroundRun($input: TryOperationInput!) {
  playgroundRun(input: $input) {
    runId
    seq
    phase
    elapsedMs
    response {
      ...PlaygroundResponseFields
    }
    error {
      code
      message
      field
    }
  }
}
    fragment PlaygroundTimingFields on PlaygroundTiming {
  dnsMs
  connectMs
  tlsMs
  ttfbMs
  transferMs
  totalMs
  reusedConnection
}
fragment PlaygroundResponseFields on PlaygroundResponse {
  runId
  status
  headers {
    name
    value
  }
  body
  bodyBytes
  contentType
  url
  timing {
    ...PlaygroundTimingFields
  }
}`) as unknown as TypedDocumentString<PlaygroundRunSubscription, PlaygroundRunSubscriptionVariables>;
export const TryOperationDocument = new TypedDocumentString(`
    mutation TryOperation($input: TryOperationInput!) {
  tryOperation(input: $input) {
    __typename
    ... on PlaygroundResponse {
      ...PlaygroundResponseFields
    }
    ... on UserError {
      code
      message
      field
    }
  }
}
    fragment PlaygroundTimingFields on PlaygroundTiming {
  dnsMs
  connectMs
  tlsMs
  ttfbMs
  transferMs
  totalMs
  reusedConnection
}
fragment PlaygroundResponseFields on PlaygroundResponse {
  runId
  status
  headers {
    name
    value
  }
  body
  bodyBytes
  contentType
  url
  timing {
    ...PlaygroundTimingFields
  }
}`) as unknown as TypedDocumentString<TryOperationMutation, TryOperationMutationVariables>;
export const PlaygroundRunsDocument = new TypedDocumentString(`
    query PlaygroundRuns($first: Int) {
  playgroundRuns(first: $first) {
    id
    keyId
    operationId
    method
    url
    status
    errorCode
    totalMs
    createdAt
    timing {
      ...PlaygroundTimingFields
    }
  }
}
    fragment PlaygroundTimingFields on PlaygroundTiming {
  dnsMs
  connectMs
  tlsMs
  ttfbMs
  transferMs
  totalMs
  reusedConnection
}`) as unknown as TypedDocumentString<PlaygroundRunsQuery, PlaygroundRunsQueryVariables>;
export const ApiSpecsDocument = new TypedDocumentString(`
    query ApiSpecs($productId: ID!) {
  apiSpecs(productId: $productId) {
    id
    name
    format
    currentVersion {
      id
      title
      apiVersion
      descriptionHtml
      serverList {
        url
        description
      }
      operations(first: 200) {
        id
        key
        kind
        method
        path
        summary
        tags
        deprecated
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ApiSpecsQuery, ApiSpecsQueryVariables>;
export const ApiOperationDocument = new TypedDocumentString(`
    query ApiOperation($id: ID!, $languages: [CodeLanguage!]) {
  apiOperation(id: $id) {
    id
    key
    kind
    method
    path
    summary
    descriptionHtml
    deprecated
    tags
    parameters {
      name
      location
      required
      descriptionHtml
      example
      schema
    }
    requestBody {
      required
      content {
        mediaType
        example
      }
    }
    responses {
      status
      description
    }
    sampleRequest {
      body
      values
    }
    codeSamples(languages: $languages) {
      language
      code
    }
  }
}
    `) as unknown as TypedDocumentString<ApiOperationQuery, ApiOperationQueryVariables>;
export const AcceptTeamInvitationDocument = new TypedDocumentString(`
    mutation AcceptTeamInvitation($token: String!) {
  acceptTeamInvitation(token: $token) {
    __typename
    ... on Team {
      id
      name
      myRole
    }
    ... on UserError {
      ...UserErrorFields
    }
  }
}
    fragment UserErrorFields on UserError {
  code
  message
  field
}`) as unknown as TypedDocumentString<AcceptTeamInvitationMutation, AcceptTeamInvitationMutationVariables>;