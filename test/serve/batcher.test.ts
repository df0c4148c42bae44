import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher, type BatchInput, type BatchStats } from '../../src/serve/batcher.js';
import { ServeError } from '../../src/serve/errors.js';
import { SyntheticEmbedder } from '../../src/serve/synthetic-embedder.js';
import { GatedEmbedder } from './helpers.js';

const text = (t: string, key = '', tokens = t.split(' ').length): BatchInput => ({ key, text: t, request: {}, tokens });

test('inputs of concurrent requests share one embed() call and come back to their own request in order', async () => {
  const e = new GatedEmbedder({ dim: 8 });
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxConcurrentRequests: 10 });
  const first = b.submit([text('warm up')]);
  await e.waitPending(1); // the model is now busy; the next requests queue up behind it
  const r1 = b.submit([text('a b'), text('c')]);
  const r2 = b.submit([text('d e f')]);
  const r3 = b.submit([text('g'), text('h i'), text('j')]);
  await new Promise((r) => setImmediate(r));
  assert.equal(b.queuedInputs, 6);
  assert.equal(b.queuedRequests, 3);
  e.releaseNext();
  await first;
  await e.waitPending(1);
  assert.deepEqual(e.pending[0]!.texts, ['a b', 'c', 'd e f', 'g', 'h i', 'j']);
  e.releaseNext();
  const [o1, o2, o3] = await Promise.all([r1, r2, r3]);
  const ref = new SyntheticEmbedder({ dim: 8 });
  assert.deepEqual(o1.vectors, await ref.embed(['a b', 'c']));
  assert.deepEqual(o2.vectors, await ref.embed(['d e f']));
  assert.deepEqual(o3.vectors, await ref.embed(['g', 'h i', 'j']));
  assert.equal(o3.tokens, 4);
  assert.ok(o1.queueMs >= 0 && o1.inferenceMs >= 0);
  await b.drain();
  assert.equal(b.activeRequests, 0);
});

test('the padded token budget bounds every batch and keeps FIFO order', async () => {
  const e = new GatedEmbedder({ dim: 4 });
  const stats: BatchStats[] = [];
  const b = new DynamicBatcher(e, { maxBatchTokens: 12, maxConcurrentRequests: 100, onBatch: (s) => stats.push(s) });
  const blocker = b.submit([text('x')]);
  await e.waitPending(1);
  // Token counts 2,3,5,1,1,4,4: padded cost = inputs × longest.
  const sizes = [2, 3, 5, 1, 1, 4, 4];
  const words = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ');
  const reqs = sizes.map((n, i) => b.submit([text(words(n, `r${i}w`))]));
  await new Promise((r) => setImmediate(r));
  e.openAll();
  await blocker;
  await Promise.all(reqs);
  const batches = e.log.slice(1).map((c) => c.texts!.map((t) => t.split(' ').length));
  // [2,3] → 3×2=6; +5 → 5×3=15 > 12 → closes. [5,1] → 10; +1 → 15 > 12. [1,4] → 8; +4 → 12 ≤ 12.
  assert.deepEqual(batches, [[2, 3], [5, 1], [1, 4, 4]]);
  for (const s of stats) assert.ok(s.paddedTokens <= 12 || s.size === 1, `batch over budget: ${JSON.stringify(s)}`);
  // FIFO: flattening the batches gives the submission order.
  assert.deepEqual(batches.flat(), sizes);
});

test('an input longer than the budget still runs, alone', async () => {
  const e = new SyntheticEmbedder({ dim: 4, record: true });
  const b = new DynamicBatcher(e, { maxBatchTokens: 3, maxConcurrentRequests: 10 });
  const r = await Promise.all([b.submit([text('a b c d e f')]), b.submit([text('g')])]);
  assert.equal(r.length, 2);
  assert.deepEqual(e.calls.map((c) => c.texts), [['a b c d e f'], ['g']]);
});

test('maxBatchRequests = 1 serves one input per embed() call', async () => {
  const e = new SyntheticEmbedder({ dim: 4, record: true });
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxBatchRequests: 1, maxConcurrentRequests: 10 });
  await Promise.all([b.submit([text('a'), text('b')]), b.submit([text('c')])]);
  assert.deepEqual(e.calls.map((c) => c.texts), [['a'], ['b'], ['c']]);
});

test('maxConcurrentBatches = 2 hands the next batch to the model while one runs, and never a third', async () => {
  const e = new GatedEmbedder({ dim: 4 });
  const stats: BatchStats[] = [];
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxConcurrentRequests: 10, maxConcurrentBatches: 2, onBatch: (x) => stats.push(x) });
  const first = b.submit([text('a')]);
  await e.waitPending(1);
  const second = b.submit([text('b'), text('c')]);
  await e.waitPending(2); // sent while the first call still runs
  const rest = [b.submit([text('d')]), b.submit([text('e')])];
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(e.pending.length, 2, 'two calls in flight at most');
  assert.equal(b.runningBatches, 2);
  assert.equal(b.queuedInputs, 2);
  await new Promise((r) => setTimeout(r, 200)); // the second call waits behind the first
  e.releaseNext();
  await first;
  // The queued inputs are held back while the second call computes (expected to take as long as the first,
  // ~220 ms): they go near its end, not at once, so that inputs arriving meanwhile could join them.
  await new Promise((r) => setTimeout(r, 40)); // the second call's own time
  assert.equal(e.pending.length, 1, 'the next batch is not sent at once');
  e.releaseNext();
  const s2 = await second;
  await e.waitPending(1); // the second call's end lets the queued inputs go, as one batch
  // Time spent waiting behind the first call is queueing, not inference, in the answer and in onBatch.
  assert.ok(s2.queueMs >= 190, `queueMs ${s2.queueMs}`);
  assert.ok(s2.inferenceMs >= 35 && s2.inferenceMs < 150, `inferenceMs ${s2.inferenceMs}`);
  assert.ok(stats[1]!.durationMs >= 35 && stats[1]!.durationMs < 150, `durationMs ${stats[1]!.durationMs}`);
  e.openAll();
  const out = await Promise.all([second, ...rest]);
  assert.deepEqual(e.log.map((c) => c.texts), [['a'], ['b', 'c'], ['d', 'e']]);
  const ref = new SyntheticEmbedder({ dim: 4 });
  assert.deepEqual(out[0]!.vectors, await ref.embed(['b', 'c']));
  assert.deepEqual(out[2]!.vectors, await ref.embed(['e']));
});

test('pipelined calls: the next batch is formed late, at about 3/4 of the running call\'s expected time, with the inputs that arrived meanwhile', async () => {
  const e = new GatedEmbedder({ dim: 4 });
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxConcurrentRequests: 10, maxConcurrentBatches: 2 });
  const warm = b.submit([text('w')]);
  await e.waitPending(1);
  await new Promise((r) => setTimeout(r, 200)); // calls take ~200 ms: the dispatch estimate
  e.releaseNext();
  await warm;
  const t0 = performance.now();
  const a = b.submit([text('a')]);
  await e.waitPending(1); // the model was idle: sent at once
  const later = [b.submit([text('b')])];
  await new Promise((r) => setTimeout(r, 30));
  later.push(b.submit([text('c')])); // arrives while 'a' computes and 'b' waits
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(e.pending.length, 1, `at ${(performance.now() - t0).toFixed(0)} ms 'b' is still held back`);
  await e.waitPending(2, 1000);
  const sentAt = performance.now() - t0;
  // Due at ~150 ms (200 ms expected − a quarter); the upper bound only allows for a busy machine's timers.
  assert.ok(sentAt >= 120 && sentAt < 400, `the next batch went at ${sentAt.toFixed(0)} ms`);
  assert.deepEqual(e.pending[1]!.texts, ['b', 'c'], 'one batch with both inputs');
  e.openAll();
  await Promise.all([a, ...later]);
});

test('inputs with different keys never share an embed() call, and token ids go to embedTokenIds', async () => {
  const e = new GatedEmbedder({ dim: 4 });
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxConcurrentRequests: 10 });
  const blocker = b.submit([text('x')]);
  await e.waitPending(1);
  const q = { key: 'instruction\u0000Q', request: { instruction: 'Q' } };
  const reqs = [
    b.submit([{ ...text('a'), ...q }]),
    b.submit([text('b')]),
    b.submit([{ key: '', ids: [1, 2, 3], tokens: 3 }]),
    b.submit([{ ...text('c'), ...q }, text('d')]),
  ];
  await new Promise((r) => setImmediate(r));
  e.openAll();
  await blocker;
  const out = await Promise.all(reqs);
  const calls = e.log.slice(1);
  assert.deepEqual(
    calls.map((c) => (c.ids ? { ids: c.ids } : { texts: c.texts, instruction: c.request?.instruction })),
    [{ texts: ['a', 'c'], instruction: 'Q' }, { texts: ['b', 'd'], instruction: undefined }, { ids: [[1, 2, 3]] }],
  );
  const ref = new SyntheticEmbedder({ dim: 4 });
  assert.deepEqual(out[0]!.vectors, await ref.embed(['a'], { instruction: 'Q' }));
  assert.deepEqual(out[2]!.vectors, await ref.embedTokenIds!([[1, 2, 3]]));
  assert.deepEqual(out[3]!.vectors, [(await ref.embed(['c'], { instruction: 'Q' }))[0], (await ref.embed(['d']))[0]]);
  // Every call asks the model to truncate: lengths were checked (or cut) before queueing.
  for (const c of calls) if (c.texts) assert.equal(c.request?.truncate, true);
});

test('a full queue refuses with 429 and a Retry-After; nothing admitted is lost', async () => {
  const e = new GatedEmbedder({ dim: 4 });
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxConcurrentRequests: 3 });
  const admitted = [b.submit([text('a')]), b.submit([text('b')]), b.submit([text('c')])];
  await assert.rejects(b.submit([text('d')]), (err: unknown) => {
    assert.ok(err instanceof ServeError);
    assert.equal(err.status, 429);
    assert.equal(err.kind, 'overloaded');
    assert.ok(err.retryAfterS! >= 1 && err.retryAfterS! <= 60);
    return true;
  });
  e.openAll();
  const out = await Promise.all(admitted);
  assert.equal(out.length, 3);
  // Room again once answered.
  await b.submit([text('e')]);
});

test('a request past its timeout fails with 503 and its queued inputs are dropped', async () => {
  const e = new GatedEmbedder({ dim: 4 });
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxConcurrentRequests: 10 });
  const blocker = b.submit([text('x')]);
  await e.waitPending(1);
  const late = b.submit([text('y'), text('z')], { timeoutMs: 30 });
  await assert.rejects(late, (err: unknown) => err instanceof ServeError && err.status === 503 && err.kind === 'timeout');
  assert.equal(b.queuedInputs, 0);
  assert.equal(b.activeRequests, 1);
  e.openAll();
  await blocker;
  await b.drain();
  assert.deepEqual(e.log.map((c) => c.texts), [['x']], 'the timed-out inputs never reached the model');
});

test('aborting a request drops its queued inputs', async () => {
  const e = new GatedEmbedder({ dim: 4 });
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxConcurrentRequests: 10 });
  const blocker = b.submit([text('x')]);
  await e.waitPending(1);
  const ac = new AbortController();
  const gone = b.submit([text('y')], { signal: ac.signal });
  const kept = b.submit([text('z')]);
  ac.abort();
  await assert.rejects(gone, (err: unknown) => err instanceof ServeError && err.status === 499);
  e.openAll();
  await Promise.all([blocker, kept]);
  assert.deepEqual(e.log.map((c) => c.texts), [['x'], ['z']]);
});

test("one request's failing input does not fail the requests batched with it", async () => {
  let releaseHold!: () => void;
  const hold = new Promise<void>((r) => (releaseHold = r));
  let holdStarted!: () => void;
  const holding = new Promise<void>((r) => (holdStarted = r));
  class Picky extends SyntheticEmbedder {
    override async embed(texts: readonly string[], request = {}): Promise<Float32Array[]> {
      if (texts[0] === 'hold') {
        holdStarted();
        await hold; // keeps the model busy so the next requests form one batch
      }
      if (texts.includes('poison')) throw new Error('cannot embed poison');
      return super.embed(texts, request);
    }
  }
  const e = new Picky({ dim: 4, record: true });
  const stats: BatchStats[] = [];
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxConcurrentRequests: 10, onBatch: (s) => stats.push(s) });
  const h = b.submit([text('hold')]);
  await holding;
  const ok1 = b.submit([text('fine one')]);
  const bad = b.submit([text('ok'), text('poison')]);
  const ok2 = b.submit([text('fine two')]);
  await new Promise((r) => setImmediate(r));
  releaseHold();
  await h;
  const ref = new SyntheticEmbedder({ dim: 4 });
  assert.deepEqual((await ok1).vectors, await ref.embed(['fine one']));
  assert.deepEqual((await ok2).vectors, await ref.embed(['fine two']));
  await assert.rejects(bad, (err: unknown) => err instanceof ServeError && err.status === 500 && /poison/.test(err.message));
  assert.deepEqual(
    stats.map((s) => [s.size, s.ok]),
    [[1, true], [4, false], [1, true], [2, false], [1, true]],
    'the shared batch failed once, then each request ran on its own',
  );
});

test('close() refuses new requests with 503 and resolves after the admitted ones are answered', async () => {
  const e = new GatedEmbedder({ dim: 4 });
  const b = new DynamicBatcher(e, { maxBatchTokens: 1000, maxConcurrentRequests: 10 });
  const r = b.submit([text('a')]);
  await e.waitPending(1);
  let closed = false;
  const c = b.close().then(() => (closed = true));
  await assert.rejects(b.submit([text('b')]), (err: unknown) => err instanceof ServeError && err.status === 503);
  await new Promise((r2) => setTimeout(r2, 20));
  assert.equal(closed, false, 'close() waits for the running request');
  e.releaseNext();
  await r;
  await c;
  assert.equal(closed, true);
});

test('a wrong number of vectors from the model is an error, not a silent misroute', async () => {
  const e = new SyntheticEmbedder({ dim: 4 });
  const broken = Object.assign(Object.create(e) as SyntheticEmbedder, { embed: async () => [new Float32Array(4)] });
  const b = new DynamicBatcher(broken, { maxBatchTokens: 1000, maxConcurrentRequests: 10 });
  await assert.rejects(b.submit([text('a'), text('b')]), /returned 1 vectors for 2 inputs/);
});
