// Apollo Client 4 as a tenant frontend uses it: an HTTP link behind the persisted-query link
// (hash first, GET for queries), a WebSocket link (graphql-ws) for subscriptions.
// Usage: node apollo.mjs <api url> <storefront key> <thread id>
// Prints one JSON object per line; the test reads them.
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";

import {
  ApolloClient,
  CombinedGraphQLErrors,
  HttpLink,
  InMemoryCache,
  gql,
  split,
} from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, key, thread] = process.argv.slice(2);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sent = [];
const recordingFetch = async (input, init) => {
  const u = new URL(typeof input === "string" ? input : input.url);
  const body = init && init.body ? JSON.parse(init.body) : null;
  sent.push({
    method: (init && init.method) || "GET",
    hasQuery: Boolean((body && body.query) || u.searchParams.get("query")),
  });
  return fetch(input, init);
};

function client(headers) {
  const http = new HttpLink({ uri: url + "/graphql", headers, fetch: recordingFetch });
  const apq = new PersistedQueryLink({
    sha256: (q) => createHash("sha256").update(q).digest("hex"),
    useGETForHashedQueries: true,
  });
  const ws = new GraphQLWsLink(
    createClient({
      url: url.replace(/^http/, "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: headers,
      on: { connected: () => say({ connected: true }) },
    })
  );
  const link = split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === "OperationDefinition" && def.operation === "subscription";
    },
    ws,
    apq.concat(http)
  );
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

const storefront = { "X-Storefront-Key": key };
const TENANT = gql`query Tenant { tenant { slug } }`;

const first = await client(storefront).query({ query: TENANT, fetchPolicy: "network-only" });
const second = await client(storefront).query({ query: TENANT, fetchPolicy: "network-only" });
say({ slugs: [first.data.tenant.slug, second.data.tenant.slug], sent });

// A bad token: the code is in the GraphQL errors, where Apollo's error link reads it.
const bad = await client({ ...storefront, Authorization: "Bearer not.a.jwt" })
  .query({ query: gql`query Me { me { id } }`, fetchPolicy: "network-only" })
  .catch((e) => ({ error: e }));
const codes = CombinedGraphQLErrors.is(bad.error)
  ? bad.error.errors.map((e) => e.extensions && e.extensions.code)
  : [String(bad.error)];
say({ badTokenCodes: codes });

const subscriber = client(storefront);
const sub = subscriber
  .subscribe({
    query: gql`subscription Activity($t: ID!) { threadActivity(threadId: $t) { type bodyHtml } }`,
    variables: { t: thread },
  })
  .subscribe({
    next: (result) => {
      say({ event: result.data.threadActivity });
      sub.unsubscribe();
      process.exit(0);
    },
    error: (e) => {
      say({ subscriptionError: String(e) });
      process.exit(1);
    },
  });
say({ subscribed: true });
// Keep running until an event arrives or stdin closes (the test ends it).
createInterface({ input: process.stdin }).on("close", () => process.exit(2));
