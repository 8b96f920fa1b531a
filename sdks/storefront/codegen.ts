// GraphQL Code Generator: the SDK's typed operations, from the console's schema.graphql and
// the documents in src/operations. `npm run codegen` writes src/generated/graphql.ts (checked
// in); `npm run codegen:check` fails when it is stale (CI runs it).
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["src/operations/*.graphql"],
  generates: {
    "src/generated/graphql.ts": {
      plugins: ["typescript-operations", "typed-document-node"],
      config: {
        // Documents as plain strings (no graphql-js at run time): the SDK sends them as they
        // are and hashes them for persisted queries.
        documentMode: "string",
        enumsAsTypes: true,
        useTypeImports: true,
        avoidOptionals: { field: true, inputValue: false, object: true, defaultValue: false },
        scalars: {
          DateTime: "string",
          Decimal: "string",
          JSON: "unknown",
          UUID: "string",
        },
        dedupeFragments: true,
      },
    },
  },
  hooks: {},
};

export default config;
