// The OpenAI-compatible remote Embedder against a real HTTP server started by the test: batching and
// concurrency, the instruction rule applied client-side, retries on 429/503 honouring Retry-After,
// non-retryable errors with the server's message, responses reordered by index; then a whole `evaluate`
// run on a task folder through the endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { OpenAIEmbedder, RemoteEmbeddingError, retryAfterMs } from '../../src/eval/openai-embedder.js';
import { evaluate } from '../../src/eval/run.js';
import { pythonRound } from '../../src/eval/numeric.js';
import { tempDir } from './helpers.js';

interface Seen {
  auth?: string;
  model: string;
  input: string[];
}

/** A small embeddings server: vector = [length, count of "a", 1]; scripted failures first. */
async function startServer(failures: { status: number; headers?: Record<string, string>; body?: string }[] = []): Promise<{ url: string; seen: Seen[]; queue: { status: number; headers?: Record<string, string>; body?: string }[]; close: () => Promise<void>; server: Server }> {
  const seen: Seen[] = [];
  const queue = [...failures];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url !== '/v1/embeddings' || req.method !== 'POST') {
        res.writeHead(404).end('{"error":{"message":"no such route"}}');
        return;
      }
      const j = JSON.parse(body) as { model: string; input: string[] };
      seen.push({ auth: req.headers.authorization, model: j.model, input: j.input });
      const fail = queue.shift();
      if (fail) {
        res.writeHead(fail.status, { 'content-type': 'application/json', ...fail.headers }).end(fail.body ?? '{"error":{"message":"busy"}}');
        return;
      }
      // Reverse order on purpose: clients must place vectors by "index".
      const data = j.input.map((t, index) => ({ object: 'embedding', index, embedding: [t.length, [...t].filter((c) => c === 'a').length, 1] })).reverse();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, model: j.model, usage: { prompt_tokens: 1, total_tokens: 1 } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1`, seen, queue, server, close: () => new Promise((r) => server.close(() => r())) };
}

test('batches, applies the instruction rule client-side, normalises and reorders by index', async () => {
  const srv = await startServer();
  try {
    const e = await OpenAIEmbedder.create({ url: srv.url, model: 'qzhou', apiKey: 'test-key', batchSize: 2, concurrency: 2 });
    assert.equal(e.dim, 3);
    assert.deepEqual(srv.seen[0], { auth: 'Bearer test-key', model: 'qzhou', input: ['dimension probe'] });
    const texts = ['aaa', 'b', '', 'banana', 'x'];
    const q = await e.embed(texts, { task: 'FiQA2018', kind: 'query' });
    const prefix = 'Instruct: Given a financial question, retrieve user replies that best answer the question\nQuery: ';
    const sent = srv.seen.slice(1).flatMap((s) => s.input);
    assert.deepEqual([...sent].sort(), texts.map((t) => prefix + (t === '' ? 'Null' : t)).sort());
    assert.deepEqual(srv.seen.slice(1).map((s) => s.input.length).sort(), [1, 2, 2]);
    // Vector of "aaa" with the prefix: [len, #a, 1] normalised.
    const t0 = prefix + 'aaa';
    const raw = [t0.length, [...t0].filter((c) => c === 'a').length, 1];
    const n = Math.hypot(...raw);
    raw.forEach((x, i) => assert.ok(Math.abs(q[0]![i]! - x / n) < 1e-6, 'normalised component'));
    // FiQA2018 is a query-side task: documents get no prefix.
    srv.seen.length = 0;
    await e.embed(['doc'], { task: 'FiQA2018', kind: 'document' });
    assert.deepEqual(srv.seen[0]!.input, ['doc']);
    // An explicit instruction wins; an empty one means no prefix.
    await e.embed(['t'], { instruction: 'Do X' });
    await e.embed(['t'], { task: 'FiQA2018', instruction: '' });
    assert.deepEqual(srv.seen.slice(1).map((s) => s.input[0]), ['Instruct: Do X\nQuery: t', 't']);
    assert.deepEqual(e.countTokens(['abcdefgh']), [2]);
  } finally {
    await srv.close();
  }
});

test('429 and 503 are retried (Retry-After honoured, else exponential backoff); 400 is not', async () => {
  const srv = await startServer([{ status: 429, headers: { 'retry-after': '2' } }, { status: 503 }]);
  try {
    const waits: number[] = [];
    const e = await OpenAIEmbedder.create({ url: `${srv.url}/embeddings`, dim: 3, retryBaseMs: 100, sleep: async (ms) => void waits.push(ms) });
    const v = await e.embed(['a']);
    assert.equal(v.length, 1);
    assert.equal(waits[0], 2000, 'Retry-After: 2 → 2 s');
    assert.ok(waits[1]! >= 150 && waits[1]! <= 250, `second try: backoff ${waits[1]} within ±25% of 100 ms · 2¹`);
    assert.equal(e.retries, 2);
    srv.queue.push({ status: 400, body: '{"error":{"message":"input too long","type":"invalid_request_error"}}' });
    await assert.rejects(e.embed(['b']), (err: unknown) => err instanceof RemoteEmbeddingError && err.status === 400 && /HTTP 400: input too long/.test(err.message));
    assert.equal(e.retries, 2, 'a 400 is not retried');
  } finally {
    await srv.close();
  }
});

test('after a batch fails for good, no further batches are sent', async () => {
  const srv = await startServer([{ status: 400, body: '{"error":{"message":"bad input"}}' }]);
  try {
    const e = await OpenAIEmbedder.create({ url: srv.url, dim: 3, batchSize: 1, concurrency: 2, sleep: async () => {} });
    await assert.rejects(e.embed(['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8']), /HTTP 400: bad input/);
    await new Promise((r) => setTimeout(r, 100)); // let a still-running worker show itself
    // The failed batch and at most the one the other worker had in flight.
    assert.ok(srv.seen.length <= 2, `${srv.seen.length} requests sent`);
  } finally {
    await srv.close();
  }
});

test('an unreachable endpoint fails after the retries with a clear message', async () => {
  const srv = await startServer();
  const url = srv.url;
  await srv.close();
  const e = await OpenAIEmbedder.create({ url, dim: 3, maxRetries: 2, sleep: async () => {} });
  await assert.rejects(e.embed(['x']), /127\.0\.0\.1.*gave up after 3 tries/);
});

test('Retry-After: seconds, HTTP dates and retry-after-ms', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '1.5' })), 1500);
  assert.equal(retryAfterMs(new Headers({ 'retry-after': 'Wed, 21 Oct 2015 07:28:03 GMT' }), now), 3000);
  assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' })), 250);
  assert.equal(retryAfterMs(new Headers({})), undefined);
});

test('evaluate() scores a task folder through the endpoint and writes the result JSON', async () => {
  const srv = await startServer();
  const { dir, cleanup } = tempDir();
  try {
    const task = join(dir, 'tiny-sts');
    mkdirSync(task);
    writeFileSync(join(task, 'task.json'), JSON.stringify({ type: 'STS', name: 'TinySTS', languages: ['eng-Latn'], instruction: 'Compare' }));
    writeFileSync(
      join(task, 'test.jsonl'),
      [
        { sentence1: 'aaaa', sentence2: 'aaaa', score: 5 },
        { sentence1: 'a b', sentence2: 'xyz', score: 1 },
        { sentence1: 'banana', sentence2: 'bandana', score: 4 },
        { sentence1: 'kiwi', sentence2: 'aa', score: 2 },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const e = await OpenAIEmbedder.create({ url: srv.url, model: 'remote-x', dim: 3 });
    const report = await evaluate({ model: e, tasks: [task], outputDir: join(dir, 'out'), modelName: 'org/remote-x', cacheDir: join(dir, 'cache') });
    const path = join(dir, 'out', 'org__remote-x', 'no_revision_available', 'TinySTS.json');
    const json = JSON.parse(readFileSync(path, 'utf8'));
    assert.equal(json.task_name, 'TinySTS');
    assert.equal(json.scores.test[0].main_score, pythonRound(report.rows[0]!.score, 6));
    assert.ok(srv.seen.some((s) => s.input.some((t) => t.startsWith('Instruct: Compare\nQuery: '))), 'the folder’s instruction reaches the server');
    // A second run reads everything from the cache: no request reaches the server.
    const before = srv.seen.length;
    await evaluate({ model: e, tasks: [task], outputDir: join(dir, 'out2'), modelName: 'org/remote-x', cacheDir: join(dir, 'cache') });
    assert.equal(srv.seen.length, before);
  } finally {
    cleanup();
    await srv.close();
  }
});
