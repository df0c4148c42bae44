#!/usr/bin/env node
// The qzhou command. Runs the compiled CLI (built by `npm ci` / `npm run build`).
import { existsSync } from 'node:fs';
const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('qzhou: the build output is missing (dist/). Run `npm run build` in the qzhou folder first.');
  process.exit(1);
}
await import(main.href);
