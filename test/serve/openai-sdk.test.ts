// The official `openai` npm client against the server: default (base64) and float encodings,
// dimensions, models.list, errors surfacing as the SDK's typed errors, and concurrent calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createEmbeddingServer, type EmbeddingServer } from '../../src/serve/server.js';
import { SyntheticEmbedder } from '../../src/serve/synthetic-embedder.js';
import { truncateDimensions } from '../../src/serve/vectors.js';
import { GatedEmbedder } from './helpers.js';

const embedder = new SyntheticEmbedder({ dim: 32, maxLength: 64, costMs: () => 2, record: true });
const ref = new SyntheticEmbedder({ dim: 32, maxLength: 64 });
let server: EmbeddingServer;
let client: OpenAI;

before(async () => {
  server = await createEmbeddingServer({ embedder, modelName: 'qzhou-tiny', apiKey: 'sk-test' });
  const url = await server.listen();
  client = new OpenAI({ apiKey: 'sk-test', baseURL: `${url}/v1`, maxRetries: 0 });
});
after(() => server.close());

const f32 = (v: number[]) => Float32Array.from(v);

test('embeddings.create with the SDK default (it asks for base64 and decodes it) returns embed() vectors', async () => {
  const input = ['The quick brown fox', 'jumped over the lazy dog'];
  const r = await client.embeddings.create({ model: 'qzhou-tiny', input });
  assert.equal(r.object, 'list');
  assert.equal(r.model, 'qzhou-tiny');
  assert.deepEqual(r.usage, { prompt_tokens: 9, total_tokens: 9 });
  const expected = await ref.embed(input);
  assert.deepEqual(r.data.map((d) => f32(d.embedding)), expected);
  assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
});

test('encoding_format float and dimensions through the SDK', async () => {
  const r = await client.embeddings.create({ model: 'qzhou-tiny', input: 'hello there', encoding_format: 'float', dimensions: 8 });
  const v = f32(r.data[0]!.embedding);
  assert.deepEqual(v, truncateDimensions((await ref.embed(['hello there']))[0]!, 8, true));
  const ids = await client.embeddings.create({ model: 'qzhou-tiny', input: [[1, 2, 3]], encoding_format: 'float' });
  assert.deepEqual(f32(ids.data[0]!.embedding), (await ref.embedTokenIds!([[1, 2, 3]]))[0]);
});

test('models.list and models.retrieve', async () => {
  const page = await client.models.list();
  assert.deepEqual(page.data.map((m) => m.id), ['qzhou-tiny']);
  assert.equal((await client.models.retrieve('qzhou-tiny')).owned_by, 'qzhou');
  await assert.rejects(client.models.retrieve('other'), (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
});

test('errors reach the SDK as typed errors with param and code', async () => {
  await assert.rejects(client.embeddings.create({ model: 'qzhou-tiny', input: ['ok', ''] }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.equal(e.status, 400);
    assert.equal(e.param, 'input[1]');
    assert.equal(e.type, 'invalid_request_error');
    assert.match(e.message, /input\[1\]: must not be an empty string/);
    return true;
  });
  const long = Array(80).fill('w').join(' ');
  await assert.rejects(client.embeddings.create({ model: 'qzhou-tiny', input: long }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded');
  const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: client.baseURL, maxRetries: 0 });
  await assert.rejects(bad.embeddings.create({ model: 'qzhou-tiny', input: 'x' }), (e: unknown) => e instanceof OpenAI.AuthenticationError && e.code === 'invalid_api_key');
});

test('429 reaches the SDK as RateLimitError with Retry-After, and the SDK retry then succeeds', async (t) => {
  const gated = new GatedEmbedder({ dim: 4 });
  const s = await createEmbeddingServer({ embedder: gated, maxConcurrentRequests: 1 });
  const url = await s.listen();
  t.after(() => s.close());
  const c = new OpenAI({ apiKey: 'unused', baseURL: `${url}/v1`, maxRetries: 0 });
  const first = c.embeddings.create({ model: 'm', input: 'first' });
  await gated.waitPending(1);
  await assert.rejects(c.embeddings.create({ model: 'm', input: 'second' }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.RateLimitError);
    assert.match(e.headers?.get('retry-after') ?? '', /^\d+$/);
    return true;
  });
  // With retries on, the SDK honours Retry-After and gets through once the model is free.
  const retrying = new OpenAI({ apiKey: 'unused', baseURL: `${url}/v1`, maxRetries: 2 });
  const second = retrying.embeddings.create({ model: 'm', input: 'second' });
  const refused = () => s.metrics.render().match(/qzhou_requests_total\{route="\/v1\/embeddings",status="429"\} (\d+)/)?.[1];
  while (refused() !== '2') await new Promise((r) => setTimeout(r, 5));
  gated.openAll();
  await first;
  const r = await second;
  assert.deepEqual(f32(r.data[0]!.embedding), (await new SyntheticEmbedder({ dim: 4 }).embed(['second']))[0]);
});

test('32 concurrent SDK calls each get their own vectors, batched by the server', async () => {
  const before = embedder.calls.length;
  const inputs = Array.from({ length: 32 }, (_, i) => [`sdk client ${i}`, `second text of client ${i}`]);
  const results = await Promise.all(inputs.map((input) => client.embeddings.create({ model: 'qzhou-tiny', input })));
  for (const [i, r] of results.entries()) assert.deepEqual(r.data.map((d) => f32(d.embedding)), await ref.embed(inputs[i]!), `client ${i}`);
  const calls = embedder.calls.length - before;
  assert.ok(calls < 32, `expected fewer embed() calls than requests, got ${calls}`);
});
