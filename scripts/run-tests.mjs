#!/usr/bin/env node
// Runs the test suite with Node's built-in runner (TypeScript through tsx, no build step).
// Usage: node scripts/run-tests.mjs [path-or-substring ...]
//   no arguments → every test/**/*.test.ts; otherwise only files whose path contains an argument.
// The spec reporter ends with "# tests N / # pass N / # fail N", which CI reads.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'fixtures' || name === 'node_modules') continue;
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}
const filters = process.argv.slice(2);
let files = walk(join(root, 'test')).sort();
if (filters.length) files = files.filter((f) => filters.some((a) => f.includes(a)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ') || 'test/**/*.test.ts'}`);
  process.exit(1);
}
const concurrency = String(Math.max(1, Math.min(2, availableParallelism())));
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, QZHOU_TEST: '1' } },
);
process.exit(r.status ?? 1);
