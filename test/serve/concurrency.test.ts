// Concurrency over real HTTP: many clients at once get exactly embed()'s vectors for their own inputs,
// in order, while the server batches across them; overload answers every request exactly once with
// 200 or 429; shutdown drains what was admitted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EmbedRequest } from '../../src/model/embedder.js';
import { instructionForSide } from '../../src/model/instructions.js';
import { createEmbeddingServer } from '../../src/serve/server.js';
import { SyntheticEmbedder } from '../../src/serve/synthetic-embedder.js';
import { truncateDimensions } from '../../src/serve/vectors.js';
import { GatedEmbedder, decodeBase64, parsePrometheus, postJson, sampleValue } from './helpers.js';

/** Small deterministic PRNG so the request mix is the same on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a * 1103515245 + 12345) >>> 0;
    return a / 2 ** 32;
  };
}

test('64 concurrent clients get exactly what embed() returns for each input, in order, while the server batches', async (t) => {
  // Each embed() call costs 5 ms, so requests pile up behind a running batch and get batched.
  const served = new SyntheticEmbedder({ dim: 24, maxLength: 64, costMs: () => 5, record: true });
  const ref = new SyntheticEmbedder({ dim: 24, maxLength: 64 });
  const s = await createEmbeddingServer({ embedder: served, prompts: { query: 'query: ' }, maxBatchTokens: 4096 });
  const url = await s.listen();
  t.after(() => s.close());

  const rand = rng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const variants: { fields: Record<string, unknown>; prefix: string; request: EmbedRequest }[] = [
    { fields: {}, prefix: '', request: {} },
    { fields: { prompt_name: 'query' }, prefix: 'query: ', request: {} },
    { fields: { prompt_name: 'STS12' }, prefix: '', request: { instruction: instructionForSide('STS12', 'query')! } },
    { fields: { prompt_name: 'SCIDOCS', input_type: 'document' }, prefix: '', request: {} },
    { fields: { instruction: 'Find the answer' }, prefix: '', request: { instruction: 'Find the answer' } },
  ];
  const jobs = Array.from({ length: 64 }, (_, i) => {
    const n = 1 + Math.floor(rand() * 4);
    const texts = Array.from({ length: n }, (_, k) => `client ${i} text ${k} ${'w '.repeat(Math.floor(rand() * 20))}`.trim());
    return { i, texts, variant: pick(variants), route: pick(['openai-float', 'openai-base64', 'tei'] as const), dims: rand() < 0.25 ? 8 : undefined };
  });

  const responses = await Promise.all(
    jobs.map(async (j) => {
      if (j.route === 'tei') {
        const r = await postJson(`${url}/embed`, { inputs: j.texts, dimensions: j.dims, ...j.variant.fields });
        assert.equal(r.status, 200, r.text);
        return (r.json as number[][]).map((v) => Float32Array.from(v));
      }
      const base64 = j.route === 'openai-base64';
      const r = await postJson(`${url}/v1/embeddings`, {
        model: 'm',
        input: j.texts,
        dimensions: j.dims,
        encoding_format: base64 ? 'base64' : 'float',
        ...j.variant.fields,
      });
      assert.equal(r.status, 200, r.text);
      const data = r.json.data as { index: number; embedding: number[] | string }[];
      assert.deepEqual(data.map((d) => d.index), j.texts.map((_, k) => k));
      return data.map((d) => (typeof d.embedding === 'string' ? decodeBase64(d.embedding) : Float32Array.from(d.embedding)));
    }),
  );

  for (const [k, j] of jobs.entries()) {
    const expected = await ref.embed(j.texts.map((x) => j.variant.prefix + x), j.variant.request);
    const want = j.dims ? expected.map((v) => truncateDimensions(v, j.dims!, true)) : expected;
    assert.deepEqual(responses[k], want, `client ${j.i}`);
  }
  const totalInputs = jobs.reduce((a, j) => a + j.texts.length, 0);
  const calls = served.calls;
  assert.equal(calls.reduce((a, c) => a + c.texts!.length, 0), totalInputs, 'every input embedded exactly once');
  assert.ok(calls.length < totalInputs / 2, `expected batching: ${calls.length} embed() calls for ${totalInputs} inputs`);
  assert.ok(Math.max(...calls.map((c) => c.texts!.length)) > 4);
  // Texts are only batched with texts of the same instruction (verbatim prompts are part of the text,
  // so those may share a call with unprompted texts).
  const modelPrompt = (r: EmbedRequest | undefined) => ref.prompted('', r);
  const promptOf = new Map<string, string>();
  for (const j of jobs) for (const x of j.texts) promptOf.set(j.variant.prefix + x, modelPrompt(j.variant.request));
  for (const c of calls) {
    for (const x of c.texts!) assert.equal(promptOf.get(x), modelPrompt(c.request), `"${x}" batched under the wrong instruction`);
  }
  assert.ok(new Set(calls.map((c) => modelPrompt(c.request))).size >= 3, 'several instruction groups were served');
});

test('overload: every request is answered exactly once, 200 or 429 with Retry-After, and nothing admitted is lost', async (t) => {
  const gated = new GatedEmbedder({ dim: 8 });
  const ref = new SyntheticEmbedder({ dim: 8 });
  const s = await createEmbeddingServer({ embedder: gated, maxConcurrentRequests: 4 });
  const url = await s.listen();
  t.after(() => s.close());
  const N = 24;
  let settled = 0;
  const results = Array.from({ length: N }, (_, i) =>
    postJson(`${url}/v1/embeddings`, { input: `request number ${i}` }).finally(() => settled++),
  );
  // Four are admitted and held by the model; the other twenty are refused at once.
  const deadline = Date.now() + 20_000;
  while (settled < N - 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(settled, N - 4);
  assert.equal(s.batcher.activeRequests, 4);
  gated.openAll();
  const all = await Promise.all(results);
  const ok = all.map((r, i) => ({ r, i })).filter(({ r }) => r.status === 200);
  const busy = all.filter((r) => r.status === 429);
  assert.equal(ok.length, 4);
  assert.equal(busy.length, N - 4);
  for (const r of busy) {
    assert.equal(r.json.error.type, 'rate_limit_error');
    assert.equal(r.json.error.code, 'server_overloaded');
    assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
  }
  for (const { r, i } of ok) assert.deepEqual(Float32Array.from(r.json.data[0].embedding), (await ref.embed([`request number ${i}`]))[0]);
  // The model saw exactly the admitted inputs, once each.
  const seen = gated.log.flatMap((c) => c.texts ?? []).sort();
  assert.deepEqual(seen, ok.map(({ i }) => `request number ${i}`).sort());
  const { samples } = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
  assert.equal(sampleValue(samples, 'qzhou_requests_total', { route: '/v1/embeddings', status: '429' }), N - 4);
  assert.equal(sampleValue(samples, 'qzhou_requests_total', { route: '/v1/embeddings', status: '200' }), 4);
});

test('graceful shutdown: admitted requests are answered, new ones are refused, then the model is closed', async () => {
  const gated = new GatedEmbedder({ dim: 8 });
  const ref = new SyntheticEmbedder({ dim: 8 });
  const s = await createEmbeddingServer({ embedder: gated, closeEmbedder: true });
  const url = await s.listen();
  const inflight = ['one', 'two', 'three'].map((x) => postJson(`${url}/embed`, { inputs: x }));
  await gated.waitPending(1);
  while (s.batcher.activeRequests < 3) await new Promise((r) => setTimeout(r, 5));
  let closed = false;
  const closing = s.close().then(() => (closed = true));
  // No new connections are accepted while draining.
  await assert.rejects(fetch(`${url}/health`));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(closed, false, 'close() waits for in-flight requests');
  assert.equal(gated.closed, false, 'the model stays open while requests are in flight');
  gated.openAll();
  const answers = await Promise.all(inflight);
  for (const [k, x] of ['one', 'two', 'three'].entries()) {
    assert.equal(answers[k]!.status, 200);
    assert.deepEqual(answers[k]!.json.map((v: number[]) => Float32Array.from(v)), await ref.embed([x]));
  }
  await closing;
  assert.equal(closed, true);
  assert.equal(gated.closed, true);
});

test('shutdown past its drain timeout answers the waiting requests with 503 instead of dropping them', async () => {
  const gated = new GatedEmbedder({ dim: 8 });
  const s = await createEmbeddingServer({ embedder: gated });
  const url = await s.listen();
  const inflight = ['one', 'two'].map((x) => postJson(`${url}/v1/embeddings`, { input: x }));
  await gated.waitPending(1);
  while (s.batcher.activeRequests < 2) await new Promise((r) => setTimeout(r, 5));
  const closing = s.close({ timeoutMs: 100 });
  const answers = await Promise.all(inflight);
  for (const a of answers) {
    assert.equal(a.status, 503);
    assert.equal(a.json.error.code, 'shutting_down');
  }
  // The running embed() call is still allowed to finish before close() resolves.
  gated.openAll();
  await closing;
});
