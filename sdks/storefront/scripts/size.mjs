// The SDK's size as a page ships it: everything `import "@aforo/storefront"` pulls in
// (graphql-ws included), bundled and minified by esbuild, then gzipped. Prints bytes as JSON;
// the README states the figure and a test keeps it under its budget.
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const out = await build({
  stdin: {
    contents: 'export * from "./dist/index.js";',
    resolveDir: new URL("..", import.meta.url).pathname,
    loader: "js",
  },
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  write: false,
  legalComments: "none",
});
const code = out.outputFiles[0].contents;
console.log(JSON.stringify({ minified: code.length, gzipped: gzipSync(code, { level: 9 }).length }));
