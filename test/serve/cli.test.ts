// `qzhou serve` as a process: starts, answers over HTTP with the API key, drains and exits 0 on SIGTERM;
// bad flags exit 2 with a message naming the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SyntheticEmbedder } from '../../src/serve/synthetic-embedder.js';
import { parseSize } from '../../src/cli/commands/serve.js';
import { postJson, spawnServe } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const main = ['--import', 'tsx', 'src/cli/main.ts'];

test('qzhou serve --synthetic: serves with the API key, then drains and exits 0 on SIGTERM', async () => {
  const serve = spawnServe(['--synthetic', '16', '--port', '0', '--max-length', '32', '--max-batch-tokens', '256'], {
    env: { ...process.env, QZHOU_API_KEY: 'cli-key' },
    timeoutMs: 20_000,
    stdout: 'pipe',
  });
  const { child, exited } = serve;
  try {
    const url = await serve.url;
    const denied = await postJson(`${url}/v1/embeddings`, { input: 'hi' });
    assert.equal(denied.status, 401);
    const r = await postJson(`${url}/v1/embeddings`, { input: ['hi there', 'x'] }, { authorization: 'Bearer cli-key' });
    assert.equal(r.status, 200);
    const ref = new SyntheticEmbedder({ dim: 16, maxLength: 32 });
    assert.deepEqual(r.json.data.map((d: { embedding: number[] }) => Float32Array.from(d.embedding)), await ref.embed(['hi there', 'x']));
    const info = await fetch(`${url}/info`, { headers: { authorization: 'Bearer cli-key' } }).then((x) => x.json() as Promise<Record<string, unknown>>);
    assert.equal(info.max_batch_tokens, 256);
    assert.equal(info.max_input_length, 32);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(serve.stderr(), /SIGTERM: draining/);
    assert.match(serve.stderr(), /stopped/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('qzhou serve: usage errors exit 2 naming the flag', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [...main, 'serve', ...args], { cwd: root, encoding: 'utf8' });
  const none = run();
  assert.equal(none.status, 2);
  assert.match(none.stderr, /give either --model DIR or --synthetic DIM/);
  const port = run('--synthetic', '8', '--port', 'abc');
  assert.equal(port.status, 2);
  assert.match(port.stderr, /--port: expected a number, got "abc"/);
  const dir = run('--model', '/definitely/not/here');
  assert.equal(dir.status, 2);
  assert.match(dir.stderr, /--model: "\/definitely\/not\/here" is not a folder/);
});

test('--payload-limit sizes', () => {
  assert.equal(parseSize('payload-limit', '8mb', 0), 8 * 1024 * 1024);
  assert.equal(parseSize('payload-limit', '512KB', 0), 512 * 1024);
  assert.equal(parseSize('payload-limit', '1048576', 0), 1048576);
  assert.equal(parseSize('payload-limit', '1.5k', 0), 1536);
  assert.equal(parseSize('payload-limit', undefined, 7), 7);
  assert.throws(() => parseSize('payload-limit', '2 parsecs', 0), /--payload-limit: expected a size/);
});
