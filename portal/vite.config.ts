import { defineConfig } from "vite";

// Served under /portal/ (by `aforo serve`, or by any static host). No inline script or style
// in the output: the pages run under a CSP of `script-src 'self'; style-src 'self'`.
export default defineConfig({
  base: "/portal/",
  build: {
    outDir: "dist",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
