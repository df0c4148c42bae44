import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelMetadata } from '../../src/serve/model-metadata.js';
import { MetricsRegistry, exponentialBuckets } from '../../src/serve/metrics.js';
import { ApiKeyCheck } from '../../src/serve/auth.js';
import { base64ToFloat32, float32ToBase64, float32ToJson, truncateDimensions } from '../../src/serve/vectors.js';
import { parsePrometheus, sampleValue } from './helpers.js';

test('readModelMetadata reads sentence-transformers prompts and vocab_size; bad files are named with the field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-serve-meta-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(await readModelMetadata(dir), { prompts: {} });
  writeFileSync(join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 'Instruct: x\nQuery: ', document: '' }, default_prompt_name: 'query' }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ vocab_size: 384 }));
  assert.deepEqual(await readModelMetadata(dir), { prompts: { query: 'Instruct: x\nQuery: ', document: '' }, defaultPromptName: 'query', vocabSize: 384 });
  const st = join(dir, 'config_sentence_transformers.json');
  writeFileSync(st, '{"prompts": {"query": 3}}');
  await assert.rejects(readModelMetadata(dir), (e: Error) => e.message.includes(st) && e.message.includes('"prompts.query" must be a string'));
  writeFileSync(st, '{"prompts": {"q": "x"}, "default_prompt_name": "z"}');
  await assert.rejects(readModelMetadata(dir), /"default_prompt_name" is "z", which is not a key of "prompts"/);
  writeFileSync(st, '{"prompts": ');
  await assert.rejects(readModelMetadata(dir), (e: Error) => e.message.startsWith(`${st}: not valid JSON`));
  // The transformer module may live in a subfolder named by modules.json.
  rmSync(st);
  mkdirSync(join(dir, '0_Transformer'));
  writeFileSync(join(dir, 'modules.json'), JSON.stringify([{ idx: 0, name: '0', path: '0_Transformer', type: 'sentence_transformers.models.Transformer' }]));
  writeFileSync(join(dir, '0_Transformer', 'config.json'), JSON.stringify({ vocab_size: 77 }));
  assert.deepEqual(await readModelMetadata(dir), { prompts: {}, vocabSize: 77 });
  writeFileSync(join(dir, '0_Transformer', 'config.json'), JSON.stringify({ vocab_size: 'many' }));
  await assert.rejects(readModelMetadata(dir), (e: Error) => e.message.includes(join(dir, '0_Transformer', 'config.json')) && /"vocab_size" must be a positive integer/.test(e.message));
});

test('Prometheus exposition: counters, gauges and cumulative histograms with escaped labels', () => {
  const r = new MetricsRegistry();
  const c = r.counter('t_requests_total', 'Requests.\nSecond line', ['route', 'status']);
  c.inc({ route: '/a"b\\c\nd', status: 200 });
  c.inc({ route: '/a"b\\c\nd', status: 200 }, 2);
  c.inc({ route: '/x', status: 429 });
  r.gauge('t_queue', 'Queue.', [], () => 7);
  const h = r.histogram('t_latency_seconds', 'Latency.', [0.1, 1, 10]);
  for (const v of [0.05, 0.1, 0.5, 3, 100]) h.observe(v);
  const text = r.render();
  assert.ok(text.includes('# HELP t_requests_total Requests.\\nSecond line\n'));
  const { samples, types } = parsePrometheus(text);
  assert.equal(types.get('t_requests_total'), 'counter');
  assert.equal(types.get('t_queue'), 'gauge');
  assert.equal(types.get('t_latency_seconds'), 'histogram');
  assert.equal(sampleValue(samples, 't_requests_total', { route: '/a"b\\c\nd', status: '200' }), 3);
  assert.equal(sampleValue(samples, 't_requests_total', { route: '/x', status: '429' }), 1);
  assert.equal(sampleValue(samples, 't_queue'), 7);
  // le is inclusive: 0.1 falls in the 0.1 bucket.
  assert.deepEqual(
    ['0.1', '1', '10', '+Inf'].map((le) => sampleValue(samples, 't_latency_seconds_bucket', { le })),
    [2, 3, 4, 5],
  );
  assert.equal(sampleValue(samples, 't_latency_seconds_count'), 5);
  assert.ok(Math.abs(sampleValue(samples, 't_latency_seconds_sum')! - 103.65) < 1e-9);
  assert.throws(() => c.inc({ route: '/x' }), /label "status" is missing/);
  assert.throws(() => c.inc({ route: '/x', status: 1 }, -1), /cannot decrease/);
  assert.throws(() => r.counter('t_requests_total', 'again'), /registered twice/);
  assert.deepEqual(exponentialBuckets(1, 2, 4), [1, 2, 4, 8]);
});

test('ApiKeyCheck accepts exactly "Bearer <key>"', () => {
  const k = new ApiKeyCheck('s3cret');
  assert.equal(k.accepts('Bearer s3cret'), true);
  assert.equal(k.accepts('bearer s3cret'), true);
  assert.equal(k.accepts('Bearer s3cret2'), false);
  assert.equal(k.accepts('Bearer s3cre'), false);
  assert.equal(k.accepts('s3cret'), false);
  assert.equal(k.accepts('Basic s3cret'), false);
  assert.equal(k.accepts(undefined), false);
  assert.equal(k.accepts('Bearer '), false);
  assert.throws(() => new ApiKeyCheck(''), /must not be empty/);
});

test('dimensions: truncation re-normalises; base64 round-trips float32 bits', () => {
  const v = new Float32Array([0.6, 0.8, 0, 0]);
  const t = truncateDimensions(new Float32Array([3, 4, 12, 0]).map((x) => x / 13), 2, true);
  assert.ok(Math.abs(t[0]! - 0.6) < 1e-6 && Math.abs(t[1]! - 0.8) < 1e-6);
  assert.equal(truncateDimensions(v, 4, true), v);
  assert.deepEqual(truncateDimensions(v, 1, false), new Float32Array([0.6]));
  const odd = new Float32Array([1e-38, -0, 3.4028234663852886e38, Math.fround(0.1)]);
  assert.deepEqual(base64ToFloat32(float32ToBase64(odd)), odd);
  // Known encoding: 1.0f = 00 00 80 3f little-endian.
  assert.equal(float32ToBase64(new Float32Array([1])), Buffer.from([0, 0, 0x80, 0x3f]).toString('base64'));
  // A subarray view encodes only its own bytes.
  assert.deepEqual(base64ToFloat32(float32ToBase64(odd.subarray(1, 3))), odd.subarray(1, 3));
});

test('float32ToJson writes exactly what JSON.stringify writes for the same vector', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const cases = [
    Float32Array.from({ length: 384 }, rand),
    Float32Array.from({ length: 64 }, () => rand() * 1e-30),
    new Float32Array([0, -0, 1, -1, 1e-45, -1.4e-45, 1.17549435e-38, 3.4028234663852886e38, 1e21, 1e-7, 123456789, Math.fround(0.1)]),
    new Float32Array([0.5, NaN, -Infinity, Infinity]), // not JSON numbers: written as null, as JSON.stringify does
    new Float32Array(0),
    new Float32Array([9, 0.25, -2]).subarray(1),
  ];
  for (const v of cases) assert.equal(float32ToJson(v), JSON.stringify(Array.from(v)));
});
