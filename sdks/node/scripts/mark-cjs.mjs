// The packages are "type": "module"; their CommonJS builds say so for their own directory.
import { mkdirSync, writeFileSync } from "node:fs";

for (const dir of process.argv.slice(2)) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/package.json`, JSON.stringify({ type: "commonjs" }) + "\n");
}
