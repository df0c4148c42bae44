// The server over real HTTP (port 0, fetch): response shapes, prompt handling, validation errors that
// name the field, auth, limits, and the info/health/models/metrics routes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createEmbeddingServer, type EmbeddingServer } from '../../src/serve/server.js';
import { SyntheticEmbedder } from '../../src/serve/synthetic-embedder.js';
import { truncateDimensions } from '../../src/serve/vectors.js';
import type { ServedModel } from '../../src/serve/served-model.js';
import { instructionForSide } from '../../src/model/instructions.js';
import { GatedEmbedder, decodeBase64, getJson, parsePrometheus, postJson, sampleValue } from './helpers.js';

const embedder = new SyntheticEmbedder({ dim: 16, maxLength: 24 });
const prompts = { query: 'query: ', passage: 'passage: ' };
let server: EmbeddingServer;
let url: string;

before(async () => {
  server = await createEmbeddingServer({
    embedder,
    modelName: 'tiny-test',
    prompts,
    vocabSize: 1000,
    maxClientBatchSize: 8,
    payloadLimit: 4096,
    version: '0.0.0-test',
  });
  url = await server.listen();
});
after(() => server.close());

const floats = (a: unknown) => Float32Array.from(a as number[]);

test('POST /v1/embeddings answers in OpenAI shape with exactly the vectors embed() gives', async () => {
  const texts = ['the cat sat', 'on the mat', 'x'];
  const r = await postJson(`${url}/v1/embeddings`, { model: 'tiny-test', input: texts, encoding_format: 'float', user: 'u1' });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type')!, /^application\/json/);
  const expected = await embedder.embed(texts);
  assert.deepEqual(Object.keys(r.json).sort(), ['data', 'model', 'object', 'usage']);
  assert.equal(r.json.object, 'list');
  assert.equal(r.json.model, 'tiny-test');
  assert.deepEqual(r.json.usage, { prompt_tokens: 7, total_tokens: 7 });
  assert.equal(r.json.data.length, 3);
  r.json.data.forEach((d: any, i: number) => {
    assert.deepEqual(Object.keys(d).sort(), ['embedding', 'index', 'object']);
    assert.equal(d.object, 'embedding');
    assert.equal(d.index, i);
    assert.deepEqual(floats(d.embedding), expected[i]);
  });
  // TEI-style timing headers.
  assert.equal(r.headers.get('x-compute-tokens'), '7');
  for (const h of ['x-queue-time', 'x-inference-time', 'x-total-time']) assert.match(r.headers.get(h) ?? '', /^\d+$/, h);
  // A single string is one input.
  const one = await postJson(`${url}/v1/embeddings`, { model: 'm', input: 'on the mat' });
  assert.deepEqual(floats(one.json.data[0].embedding), expected[1]);
  assert.equal(one.json.model, 'tiny-test');
});

test('embedding responses are byte for byte what JSON.stringify writes for the same answer', async () => {
  const texts = ['the cat sat', 'on the mat'];
  const expected = await embedder.embed(texts);
  const tokens = embedder.countTokens(texts).reduce((a, b) => a + b, 0);
  const body = (encode: (v: Float32Array) => unknown) =>
    JSON.stringify({
      object: 'list',
      data: expected.map((v, index) => ({ object: 'embedding', index, embedding: encode(v) })),
      model: 'tiny-test',
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  const f = await postJson(`${url}/v1/embeddings`, { input: texts });
  assert.equal(f.text, body((v) => Array.from(v)));
  assert.equal(f.headers.get('content-type'), 'application/json; charset=utf-8');
  const b = await postJson(`${url}/v1/embeddings`, { input: texts, encoding_format: 'base64' });
  assert.equal(b.text, body((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')));
  const tei = await postJson(`${url}/embed`, { inputs: texts });
  assert.equal(tei.text, JSON.stringify(expected.map((v) => Array.from(v))));
  assert.equal(tei.headers.get('content-type'), 'application/json; charset=utf-8');
});

test('base64 encoding carries the same float32 bits; dimensions truncate and re-normalise', async () => {
  const texts = ['alpha beta', 'gamma'];
  const expected = await embedder.embed(texts);
  const b = await postJson(`${url}/v1/embeddings`, { input: texts, encoding_format: 'base64' });
  assert.equal(b.status, 200);
  b.json.data.forEach((d: any, i: number) => {
    assert.equal(typeof d.embedding, 'string');
    assert.deepEqual(decodeBase64(d.embedding), expected[i]);
  });
  const d = await postJson(`${url}/v1/embeddings`, { input: texts, dimensions: 5 });
  d.json.data.forEach((x: any, i: number) => {
    const v = floats(x.embedding);
    assert.equal(v.length, 5);
    assert.deepEqual(v, truncateDimensions(expected[i]!, 5, true));
    const norm = Math.hypot(...v);
    assert.ok(Math.abs(norm - 1) < 1e-6, `norm ${norm}`);
  });
  const tei = await postJson(`${url}/embed`, { inputs: texts, dimensions: 5 });
  assert.deepEqual(tei.json.map(floats), expected.map((v) => truncateDimensions(v, 5, true)));
  const bad = await postJson(`${url}/v1/embeddings`, { input: 'a', dimensions: 17 });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, 'dimensions');
  assert.match(bad.json.error.message, /17 is more than the model's 16 dimensions/);
});

test('prompts: sentence-transformers prompt names, QZhou task names with input_type, explicit instructions', async () => {
  const q = await postJson(`${url}/embed`, { inputs: ['where is it'], prompt_name: 'query' });
  assert.deepEqual(q.json.map(floats), await embedder.embed(['query: where is it']));
  const viaOpenAI = await postJson(`${url}/v1/embeddings`, { input: ['where is it'], prompt_name: 'query' });
  assert.deepEqual(floats(viaOpenAI.json.data[0].embedding), (await embedder.embed(['query: where is it']))[0]);

  const instr = instructionForSide('FiQA2018', 'query')!;
  const fq = await postJson(`${url}/embed`, { inputs: 'how to save', prompt_name: 'FiQA2018', input_type: 'query' });
  assert.deepEqual(fq.json.map(floats), await embedder.embed(['how to save'], { instruction: instr }));
  assert.deepEqual(fq.json.map(floats), await embedder.embed(['how to save'], { task: 'FiQA2018', kind: 'query' }));
  // Query-side-only task: documents get no instruction.
  const fd = await postJson(`${url}/v1/embeddings`, { input: 'a reply', prompt_name: 'FiQA2018', input_type: 'document' });
  assert.deepEqual(floats(fd.json.data[0].embedding), (await embedder.embed(['a reply']))[0]);
  assert.notDeepEqual(fq.json[0], fd.json.data[0].embedding);

  const ex = await postJson(`${url}/embed`, { inputs: ['x y'], instruction: 'Find duplicates' });
  assert.deepEqual(ex.json.map(floats), await embedder.embed(['x y'], { instruction: 'Find duplicates' }));
  // The instruction counts toward usage.
  const u = await postJson(`${url}/v1/embeddings`, { input: 'x y', instruction: 'Find duplicates' });
  assert.equal(u.json.usage.prompt_tokens, embedder.countTokens(['x y'], { instruction: 'Find duplicates' })[0]);
});

test('token-id inputs go through embedTokenIds', async () => {
  const r = await postJson(`${url}/v1/embeddings`, { input: [[5, 6, 7], [8]] });
  assert.equal(r.status, 200);
  const expected = await embedder.embedTokenIds!([[5, 6, 7], [8]]);
  assert.deepEqual(r.json.data.map((d: any) => floats(d.embedding)), expected);
  assert.equal(r.json.usage.prompt_tokens, 4);
  const single = await postJson(`${url}/embed`, { inputs: [5, 6, 7] });
  assert.deepEqual(single.json.map(floats), [expected[0]]);
  const oov = await postJson(`${url}/v1/embeddings`, { input: [[5, 6000]] });
  assert.equal(oov.status, 400);
  assert.equal(oov.json.error.param, 'input[0][1]');
});

test('truncation: refused without it (400 on OpenAI, 413 on TEI), cut right or left with it', async () => {
  const long = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
  const o = await postJson(`${url}/v1/embeddings`, { input: ['ok', long] });
  assert.equal(o.status, 400);
  assert.deepEqual(o.json.error, {
    message: "input[1]: 30 tokens, more than the model's maximum of 24; shorten it or set \"truncate\": true",
    type: 'invalid_request_error',
    param: 'input[1]',
    code: 'context_length_exceeded',
  });
  const t = await postJson(`${url}/embed`, { inputs: long });
  assert.equal(t.status, 413);
  assert.deepEqual(t.json, { error: "inputs: 30 tokens, more than the model's maximum of 24; shorten it or set \"truncate\": true", error_type: 'Validation' });
  const right = await postJson(`${url}/embed`, { inputs: long, truncate: true });
  assert.deepEqual(right.json.map(floats), await embedder.embed([long], { truncate: true }));
  const left = await postJson(`${url}/embed`, { inputs: long, truncate: true, truncation_direction: 'Left' });
  const tail = Array.from({ length: 24 }, (_, i) => `w${i + 6}`).join(' ');
  assert.deepEqual(left.json.map(floats), await embedder.embed([tail]));
  const leftLower = await postJson(`${url}/v1/embeddings`, { input: long, truncate: true, truncation_direction: 'left' });
  assert.deepEqual(floats(leftLower.json.data[0].embedding), (await embedder.embed([tail]))[0]);
  assert.equal(leftLower.json.usage.prompt_tokens, 24);
});

interface Case {
  name: string;
  path: '/v1/embeddings' | '/embed' | '/similarity';
  body: unknown;
  status: number;
  param?: string | null;
  message: RegExp;
  teiType?: string;
}

const cases: Case[] = [
  { name: 'missing input', path: '/v1/embeddings', body: { model: 'x' }, status: 400, param: 'input', message: /^input: is required$/ },
  { name: 'input wrong type', path: '/v1/embeddings', body: { input: 5 }, status: 400, param: 'input', message: /input: must be a string or an array/ },
  { name: 'empty string', path: '/v1/embeddings', body: { input: ['a', ''] }, status: 400, param: 'input[1]', message: /must not be an empty string/ },
  { name: 'empty array', path: '/v1/embeddings', body: { input: [] }, status: 400, param: 'input', message: /must not be empty/ },
  { name: 'mixed element', path: '/v1/embeddings', body: { input: ['a', null] }, status: 400, param: 'input[1]', message: /got null/ },
  { name: 'too many inputs', path: '/v1/embeddings', body: { input: Array(9).fill('a') }, status: 400, param: 'input', message: /9 inputs, more than the maximum of 8/ },
  { name: 'bad encoding_format', path: '/v1/embeddings', body: { input: 'a', encoding_format: 'int8' }, status: 400, param: 'encoding_format', message: /must be one of "float", "base64"/ },
  { name: 'dimensions as string', path: '/v1/embeddings', body: { input: 'a', dimensions: '8' }, status: 400, param: 'dimensions', message: /must be an integer or null/ },
  { name: 'dimensions zero', path: '/v1/embeddings', body: { input: 'a', dimensions: 0 }, status: 400, param: 'dimensions', message: /must be at least 1/ },
  { name: 'unknown field', path: '/v1/embeddings', body: { input: 'a', dimension: 8 }, status: 400, param: 'dimension', message: /unrecognized request argument/ },
  { name: 'bad input_type', path: '/v1/embeddings', body: { input: 'a', input_type: 'passage' }, status: 400, param: 'input_type', message: /"query", "document"/ },
  { name: 'unknown prompt', path: '/v1/embeddings', body: { input: 'a', prompt_name: 'nope' }, status: 400, param: 'prompt_name', message: /unknown prompt "nope"/ },
  { name: 'both prompt kinds', path: '/v1/embeddings', body: { input: 'a', prompt_name: 'query', instruction: 'x' }, status: 400, param: 'prompt_name', message: /not both/ },
  { name: 'body is an array', path: '/v1/embeddings', body: ['a'], status: 400, param: null, message: /^the request body must be a JSON object$/ },
  { name: 'invalid JSON', path: '/v1/embeddings', body: '{"input": ', status: 400, param: null, message: /not valid JSON/ },
  { name: 'TEI missing inputs', path: '/embed', body: { input: 'a' }, status: 400, message: /^inputs: is required$/, teiType: 'Validation' },
  { name: 'TEI normalize false', path: '/embed', body: { inputs: 'a', normalize: false }, status: 400, message: /^normalize: false is not supported/, teiType: 'Validation' },
  { name: 'TEI bad direction', path: '/embed', body: { inputs: 'a', truncation_direction: 'Up' }, status: 400, message: /^truncation_direction: must be one of/, teiType: 'Validation' },
  { name: 'TEI truncate as string', path: '/embed', body: { inputs: 'a', truncate: 'yes' }, status: 400, message: /^truncate: must be a boolean or null$/, teiType: 'Validation' },
  { name: 'TEI empty batch', path: '/embed', body: { inputs: [] }, status: 400, message: /^inputs: must not be empty$/, teiType: 'Empty' },
  { name: 'TEI bad element', path: '/embed', body: { inputs: ['a', 1.5] }, status: 400, message: /^inputs\[1\]: must be a string or an array of token ids, got number$/, teiType: 'Validation' },
  { name: 'similarity without sentences', path: '/similarity', body: { inputs: { source_sentence: 'a' } }, status: 400, message: /^inputs\.sentences: is required$/, teiType: 'Validation' },
  { name: 'similarity with no sentences', path: '/similarity', body: { inputs: { source_sentence: 'a', sentences: [] } }, status: 400, message: /^inputs\.sentences: must have at least 1 item$/, teiType: 'Validation' },
  { name: 'similarity sentence not a string', path: '/similarity', body: { inputs: { source_sentence: 'a', sentences: ['b', 3] } }, status: 400, message: /^inputs\.sentences\[1\]: must be a string$/, teiType: 'Validation' },
  { name: 'similarity inputs as a string', path: '/similarity', body: { inputs: 'a' }, status: 400, message: /^inputs: must be an object$/, teiType: 'Validation' },
  { name: 'similarity too many sentences', path: '/similarity', body: { inputs: { source_sentence: 'a', sentences: Array(9).fill('b') } }, status: 400, message: /^inputs\.sentences: 9 inputs, more than the maximum of 8/, teiType: 'Validation' },
];

for (const c of cases) {
  test(`validation: ${c.name} → ${c.status} naming the field`, async () => {
    const r = await postJson(url + c.path, c.body);
    assert.equal(r.status, c.status, r.text);
    if (c.path.startsWith('/v1')) {
      assert.deepEqual(Object.keys(r.json), ['error']);
      assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(r.json.error.type, 'invalid_request_error');
      assert.equal(r.json.error.param, c.param);
      assert.match(r.json.error.message, c.message);
    } else {
      assert.deepEqual(Object.keys(r.json).sort(), ['error', 'error_type']);
      assert.equal(r.json.error_type, c.teiType);
      assert.match(r.json.error, c.message);
    }
  });
}

test('TEI /embed ignores unknown fields (as TEI does) and embeds empty strings', async () => {
  const r = await postJson(`${url}/embed`, { inputs: ['', 'b'], normalize: true, some_future_field: 1 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.map(floats), await embedder.embed(['', 'b']));
});

test('TEI /similarity: the cosine of the source to each sentence, from the same vectors embed() gives, prompt and truncation applied', async () => {
  const sentences = ['the cat sat', 'on the mat', '', 'the cat sat'];
  const r = await postJson(`${url}/similarity`, { inputs: { source_sentence: 'the cat', sentences } });
  assert.equal(r.status, 200, r.text);
  const [src, ...others] = await embedder.embed(['the cat', ...sentences]);
  const cos = (v: Float32Array) => Math.fround(v.reduce((acc, x, i) => acc + x * src![i]!, 0));
  assert.deepEqual(r.json, others.map(cos));
  assert.equal(r.json[0], r.json[3]);
  assert.equal(r.headers.get('x-compute-tokens'), String(2 + 3 + 3 + 0 + 3));
  // A prompt from the model's prompts applies to every text; the direction and truncation parameters too.
  const q = await postJson(`${url}/similarity`, { inputs: { source_sentence: 'the cat', sentences: ['on the mat'] }, parameters: { prompt_name: 'query' } });
  const [qs, qo] = await embedder.embed(['query: the cat', 'query: on the mat']);
  assert.deepEqual(q.json, [Math.fround(qo!.reduce((acc, x, i) => acc + x * qs![i]!, 0))]);
  const long = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
  const refused = await postJson(`${url}/similarity`, { inputs: { source_sentence: long, sentences: ['a'] }, parameters: { truncate: false } });
  assert.equal(refused.status, 413);
  assert.match(refused.json.error, /^inputs\.source_sentence: 30 tokens, more than the model's maximum of 24/);
  const cut = await postJson(`${url}/similarity`, { inputs: { source_sentence: 'a', sentences: [long] }, parameters: { truncate: true, truncation_direction: 'Left' } });
  const tail = Array.from({ length: 24 }, (_, i) => `w${i + 6}`).join(' ');
  const [a, t] = await embedder.embed(['a', tail]);
  assert.deepEqual(cut.json, [Math.fround(t!.reduce((acc, x, i) => acc + x * a![i]!, 0))]);
});

test('payload limit (413), content type (415) and unknown routes (404) answer in the route family shape', async () => {
  const big = await postJson(`${url}/v1/embeddings`, { input: 'x'.repeat(5000) });
  assert.equal(big.status, 413);
  assert.equal(big.json.error.code, 'payload_too_large');
  assert.match(big.json.error.message, /larger than 4096 bytes/);
  const bigTei = await postJson(`${url}/embed`, { inputs: 'x'.repeat(5000) });
  assert.equal(bigTei.status, 413);
  assert.equal(bigTei.json.error_type, 'Validation');
  const form = await getJson(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'input=a' });
  assert.equal(form.status, 415);
  assert.match(form.json.error.message, /Content-Type must be application\/json/);
  const nf = await getJson(`${url}/v1/nothing`);
  assert.equal(nf.status, 404);
  assert.equal(nf.json.error.code, 'not_found');
  const nfTei = await getJson(`${url}/nothing`);
  assert.deepEqual(nfTei.json, { error: 'no route GET /nothing', error_type: 'NotFound' });
});

test('GET /health, /info, /v1/models and /v1/models/:id', async () => {
  assert.deepEqual((await getJson(`${url}/health`)).json, { status: 'ok' });
  const info = (await getJson(`${url}/info`)).json;
  assert.equal(info.model_id, 'tiny-test');
  assert.equal(info.dim, 16);
  assert.equal(info.max_input_length, 24);
  assert.equal(info.max_client_batch_size, 8);
  assert.deepEqual(info.prompts, ['query', 'passage']);
  assert.equal(info.accepts_token_ids, true);
  const models = (await getJson(`${url}/v1/models`)).json;
  assert.equal(models.object, 'list');
  assert.deepEqual(models.data.map((m: any) => [m.id, m.object, m.owned_by]), [['tiny-test', 'model', 'qzhou']]);
  assert.equal(typeof models.data[0].created, 'number');
  const one = await getJson(`${url}/v1/models/tiny-test`);
  assert.equal(one.json.id, 'tiny-test');
  const none = await getJson(`${url}/v1/models/gpt-4`);
  assert.equal(none.status, 404);
  assert.deepEqual(none.json.error, {
    message: 'the model "gpt-4" does not exist; this server serves "tiny-test"',
    type: 'invalid_request_error',
    param: 'model',
    code: 'model_not_found',
  });
});

test('GET /metrics counts requests by route and status, and batches consistently', async () => {
  const before = parsePrometheus(await (await fetch(`${url}/metrics`)).text()).samples;
  const b200 = sampleValue(before, 'qzhou_requests_total', { route: '/v1/embeddings', status: '200' }) ?? 0;
  const b400 = sampleValue(before, 'qzhou_requests_total', { route: '/v1/embeddings', status: '400' }) ?? 0;
  await postJson(`${url}/v1/embeddings`, { input: ['m1', 'm2 m3'] });
  await postJson(`${url}/v1/embeddings`, { input: 7 });
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const { samples, types } = parsePrometheus(await res.text());
  assert.equal(sampleValue(samples, 'qzhou_requests_total', { route: '/v1/embeddings', status: '200' }), b200 + 1);
  assert.equal(sampleValue(samples, 'qzhou_requests_total', { route: '/v1/embeddings', status: '400' }), b400 + 1);
  assert.equal(types.get('qzhou_request_duration_seconds'), 'histogram');
  assert.equal(types.get('qzhou_queue_inputs'), 'gauge');
  assert.equal(sampleValue(samples, 'qzhou_queue_inputs'), 0);
  assert.equal(sampleValue(samples, 'qzhou_active_requests'), 0);
  // Every embedded input went through exactly one successful batch.
  assert.equal(sampleValue(samples, 'qzhou_batch_size_sum'), sampleValue(samples, 'qzhou_inputs_total'));
  assert.equal(sampleValue(samples, 'qzhou_batch_tokens_sum'), sampleValue(samples, 'qzhou_input_tokens_total'));
  assert.equal(sampleValue(samples, 'qzhou_model_info', { model: 'tiny-test', dim: '16', max_length: '24' }), 1);
});

test('API key: 401 in both shapes without it; constant-time check passes with it; /health and /metrics stay public', async (t) => {
  const s = await createEmbeddingServer({ embedder, apiKey: 'k-123' });
  const u = await s.listen();
  t.after(() => s.close());
  const none = await postJson(`${u}/v1/embeddings`, { input: 'a' });
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer');
  assert.equal(none.json.error.code, 'invalid_api_key');
  const wrong = await postJson(`${u}/embed`, { inputs: 'a' }, { authorization: 'Bearer k-124' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error_type, 'Unauthorized');
  assert.equal((await fetch(`${u}/v1/models`)).status, 401);
  assert.equal((await fetch(`${u}/info`)).status, 401);
  const ok = await postJson(`${u}/embed`, { inputs: 'a' }, { authorization: 'Bearer k-123' });
  assert.equal(ok.status, 200);
  assert.equal((await fetch(`${u}/health`)).status, 200);
  assert.equal((await fetch(`${u}/metrics`)).status, 200);
});

test('--request-timeout: a request not answered in time gets 503 and the server stays healthy', async (t) => {
  const gated = new GatedEmbedder({ dim: 4 });
  const s = await createEmbeddingServer({ embedder: gated, requestTimeoutMs: 100 });
  const u = await s.listen();
  t.after(() => s.close());
  const r = await postJson(`${u}/v1/embeddings`, { input: 'slow' });
  assert.equal(r.status, 503);
  assert.equal(r.json.error.code, 'timeout');
  assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
  gated.openAll();
  const ok = await postJson(`${u}/embed`, { inputs: 'fast' });
  assert.equal(ok.status, 200);
});

test('--request-timeout also covers token counting (a stuck model cannot hang a request)', async (t) => {
  const stuck: ServedModel = {
    id: 'stuck',
    dim: 4,
    maxLength: 16,
    countTokens: () => new Promise<number[]>(() => {}),
    embed: async () => [],
  };
  const s = await createEmbeddingServer({ embedder: stuck, requestTimeoutMs: 150 });
  const u = await s.listen();
  t.after(() => s.close({ timeoutMs: 10 }));
  const t0 = performance.now();
  const r = await postJson(`${u}/embed`, { inputs: 'anything' });
  assert.equal(r.status, 503);
  assert.deepEqual(r.json, { error: 'the request was not answered within 0.15 s (--request-timeout)', error_type: 'Timeout' });
  assert.ok(performance.now() - t0 < 2000);
});

test('a client that disconnects while queued never reaches the model', async (t) => {
  const gated = new GatedEmbedder({ dim: 4 });
  const s = await createEmbeddingServer({ embedder: gated });
  const u = await s.listen();
  t.after(() => s.close());
  const first = postJson(`${u}/embed`, { inputs: 'first' });
  await gated.waitPending(1);
  // A raw request we destroy after the server has admitted it.
  await new Promise<void>((resolve) => {
    const body = JSON.stringify({ inputs: 'abandoned' });
    const req = httpRequest(`${u}/embed`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    req.on('error', () => {});
    req.end(body);
    const poll = setInterval(() => {
      if (s.batcher.queuedInputs === 1) {
        clearInterval(poll);
        req.destroy();
        resolve();
      }
    }, 5);
  });
  const deadline = Date.now() + 2000;
  while (s.batcher.activeRequests !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(s.batcher.activeRequests, 1, 'the abandoned request was dropped');
  gated.openAll();
  assert.equal((await first).status, 200);
  await s.batcher.drain();
  assert.deepEqual(gated.log.map((c) => c.texts), [['first']]);
});

test('server options are checked by name, and a bad default prompt is refused at startup', async () => {
  await assert.rejects(createEmbeddingServer({ embedder, payloadLimit: Infinity }), /payloadLimit must be a positive integer, got Infinity/);
  await assert.rejects(createEmbeddingServer({ embedder, maxBatchTokens: 0 }), /maxBatchTokens must be a positive integer, got 0/);
  await assert.rejects(createEmbeddingServer({ embedder, requestTimeoutMs: -1 }), /requestTimeoutMs must be a non-negative integer/);
  await assert.rejects(createEmbeddingServer({ embedder, defaultPromptName: 'nope' }), /default prompt "nope" is neither one of the model's prompts \(none\) nor a QZhou task name/);
  const s = await createEmbeddingServer({ embedder, maxBatchRequests: Infinity, requestTimeoutMs: 0, defaultPromptName: 'SCIDOCS' });
  await s.close();
});

test("the server keeps the embedder's pipelineDepth of model calls in flight; maxConcurrentBatches overrides it", async () => {
  const inFlight = async (pipelineDepth: number | undefined, maxConcurrentBatches?: number) => {
    const gated = new GatedEmbedder({ dim: 4 });
    const embedder: ServedModel = Object.assign(gated, { pipelineDepth });
    const s = await createEmbeddingServer({ embedder, maxBatchRequests: 1, maxConcurrentBatches });
    const u = await s.listen();
    try {
      const answers = ['a', 'b', 'c'].map((t) => postJson(`${u}/embed`, { inputs: t }));
      await gated.waitPending(1);
      await new Promise((r) => setTimeout(r, 50));
      const most = gated.pending.length;
      gated.openAll();
      for (const a of await Promise.all(answers)) assert.equal(a.status, 200);
      return most;
    } finally {
      await s.close();
    }
  };
  assert.equal(await inFlight(undefined), 1);
  assert.equal(await inFlight(2), 2);
  assert.equal(await inFlight(2, 1), 1);
});
