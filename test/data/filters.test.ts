import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HashSet64, hash64, normalizeText, ngramTokens, applyLengthFilter, Deduplicator, Rng } from '../../src/data/index.js';

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
});
