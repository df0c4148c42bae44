// The model in a worker thread: same vectors and counts as in the main thread, errors cross back with
// their message, a dead worker fails pending calls and turns /health to 503, and — the point of it —
// the server keeps answering while the model computes.
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { WorkerModel } from '../../src/serve/worker-model.js';
import { SyntheticEmbedder } from '../../src/serve/synthetic-embedder.js';
import { createEmbeddingServer } from '../../src/serve/server.js';
import { truncateLeft } from '../../src/serve/inputs.js';
import { resolvePrompt } from '../../src/serve/prompts.js';
import type { ServedModel } from '../../src/serve/served-model.js';
import { postJson } from './helpers.js';

test('WorkerModel gives the same counts, left cuts and vectors as the model in the main thread', async (t) => {
  const opts = { dim: 12, maxLength: 6 };
  const w = await WorkerModel.start({ kind: 'synthetic', options: opts });
  t.after(() => w.close());
  const local = new SyntheticEmbedder(opts);
  assert.equal(w.dim, 12);
  assert.equal(w.maxLength, 6);
  assert.equal(w.id, local.id);
  assert.equal(w.healthy, true);
  const texts = ['a b c', 'd', 'e f g h i j k l'];
  const req = { task: 'STS12', kind: 'query' as const };
  assert.deepEqual(await w.countTokens(texts, req), local.countTokens(texts, req));
  assert.deepEqual(await w.embed(texts, { truncate: true }), await local.embed(texts, { truncate: true }));
  assert.deepEqual(await w.embed(texts, { instruction: 'Find it', truncate: true }), await local.embed(texts, { instruction: 'Find it', truncate: true }));
  assert.deepEqual(await w.embedTokenIds!([[1, 2], [3]]), await local.embedTokenIds!([[1, 2], [3]]));
  const none = resolvePrompt({}, { prompts: {} });
  assert.equal(await truncateLeft(w, none, 'w1 w2 w3 w4 w5 w6 w7 w8'), await truncateLeft(local, none, 'w1 w2 w3 w4 w5 w6 w7 w8'));
  // onProgress cannot cross threads; it is dropped, not an error.
  assert.equal((await w.embed(['x'], { onProgress: () => {} })).length, 1);
  // Model errors come back with their message.
  await assert.rejects(w.embed(['a b c d e f g h'], { truncate: false }), /text 0 has 8 tokens, more than the maximum of 6/);
});

test('countTokens calls made together reach the worker as one message and each gets its own answer', async (t) => {
  const w = await WorkerModel.start({ kind: 'synthetic', options: { dim: 4 } });
  t.after(() => w.close());
  const local = new SyntheticEmbedder({ dim: 4 });
  const inner = (w as unknown as { worker: { postMessage(m: unknown): void } }).worker;
  const sent: unknown[] = [];
  const original = inner.postMessage.bind(inner);
  inner.postMessage = (m: unknown) => {
    sent.push(m);
    original(m);
  };
  const calls: [string[], { task?: string; instruction?: string }][] = [
    [['a b', 'c'], {}],
    [['d e f'], { task: 'STS12' }],
    [['g'], { instruction: 'Find it' }],
  ];
  const got = await Promise.all(calls.map(([texts, req]) => w.countTokens(texts, req)));
  assert.deepEqual(got, calls.map(([texts, req]) => local.countTokens(texts, req)));
  assert.equal(sent.length, 1);
  assert.equal((sent[0] as { op: string; jobs: unknown[] }).jobs.length, 3);
});

test('a model that fails to load rejects start() with its error', async () => {
  await assert.rejects(WorkerModel.start({ kind: 'checkpoint', dir: '/definitely/not/a/model' }), /definitely\/not\/a\/model/);
});

test('a dead worker fails the pending calls, reports itself once, and /health turns 503', async (t) => {
  let exits = 0;
  const w = await WorkerModel.start({ kind: 'synthetic', options: { dim: 4, cost: { perCallMs: 400, perPaddedTokenMs: 0 }, blocking: true } }, { onExit: () => exits++ });
  const s = await createEmbeddingServer({ embedder: w });
  const url = await s.listen();
  t.after(() => s.close());
  assert.equal((await fetch(`${url}/health`)).status, 200);
  const inflight = postJson(`${url}/embed`, { inputs: 'doomed' });
  await new Promise((r) => setTimeout(r, 100));
  await (w as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  const r = await inflight;
  assert.equal(r.status, 500);
  assert.match(r.json.error, /the model worker exited/);
  assert.equal(w.healthy, false);
  assert.equal(exits, 1);
  const h = await fetch(`${url}/health`);
  assert.equal(h.status, 503);
  assert.equal(((await h.json()) as { status: string }).status, 'unhealthy');
  await assert.rejects(w.embed(['x']), /the model worker exited/);
});

/** From a separate process (the server's thread may be blocked): start a batch, then time GET /health. */
function healthLatencyDuringBatch(url: string): Promise<{ healthMs: number; healthStatus: number; batchStatus: number }> {
  const script = `
    const url = process.argv[1];
    const batch = fetch(url + '/embed', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs":"long batch"}' });
    setTimeout(async () => {
      const t0 = performance.now();
      const h = await fetch(url + '/health');
      const healthMs = performance.now() - t0;
      const b = await batch;
      console.log(JSON.stringify({ healthMs, healthStatus: h.status, batchStatus: b.status }));
    }, 250);`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script, url], (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))));
  });
}

test('while the model computes, a server over a WorkerModel still answers at once; over a main-thread model it cannot', async (t) => {
  // Each model call keeps its thread busy for 800 ms, as a synchronous ORT run does.
  const options = { dim: 4, cost: { perCallMs: 800, perPaddedTokenMs: 0 }, blocking: true };
  const measure = async (embedder: ServedModel) => {
    const s = await createEmbeddingServer({ embedder });
    const url = await s.listen();
    try {
      const r = await healthLatencyDuringBatch(url);
      assert.equal(r.healthStatus, 200);
      assert.equal(r.batchStatus, 200);
      return r.healthMs;
    } finally {
      await s.close();
    }
  };
  const w = await WorkerModel.start({ kind: 'synthetic', options });
  t.after(() => w.close());
  const inWorker = await measure(w);
  const inMain = await measure(new SyntheticEmbedder(options));
  t.diagnostic(`/health during an 800 ms batch: ${inWorker.toFixed(0)} ms with the model in a worker, ${inMain.toFixed(0)} ms with it on the server's thread`);
  assert.ok(inMain > 300, `a main-thread model should hold /health up (took ${inMain} ms)`);
  assert.ok(inWorker * 3 < inMain, `a worker model should not hold /health up (took ${inWorker} ms, main thread ${inMain} ms)`);
});

test('model calls in flight together run one after another in the worker, in order; counts do not wait behind them', async (t) => {
  // The server keeps two calls in flight for a worker model and counts the second one's wait behind the
  // first as queueing: that holds only if the worker runs them in turn. A model whose embed() yields while
  // it computes (onnxruntime-node's run() per sub-batch; here the synthetic model's sleep) would otherwise
  // interleave them, and the short call would end long before the long one it was queued behind.
  const w = await WorkerModel.start({ kind: 'synthetic', options: { dim: 4, cost: { perCallMs: 0, perPaddedTokenMs: 4 } } });
  t.after(() => w.close());
  const order: string[] = [];
  const t0 = performance.now();
  const long = w.embed(['w '.repeat(100).trim()]).then(() => order.push('long'));
  const short = w.embed(['w']).then(() => order.push('short'));
  const ids = w.embedTokenIds!([[1]]).then(() => order.push('ids'));
  const count = (w.countTokens(['a b c']) as Promise<number[]>).then((n) => ({ n, ms: performance.now() - t0 }));
  await Promise.all([long, short, ids]);
  const elapsed = performance.now() - t0;
  assert.deepEqual(order, ['long', 'short', 'ids']);
  assert.ok(elapsed >= 400, `the calls ran in turn (${elapsed.toFixed(0)} ms for 400 + 4 + 4 ms of work)`);
  const c = await count;
  assert.deepEqual(c.n, [3]);
  assert.ok(c.ms < 300, `a count is answered while a model call runs (${c.ms.toFixed(0)} ms)`);
});
