// exactTopK (shared API 4) against a brute-force JS scorer: same documents, same order, ties to the lower
// document index, across query blocks and document chunks; cosine mode; input validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exactTopK, StreamingTopK } from '../../src/eval/search.js';
import { lcg } from './helpers.js';

function vectors(n: number, dim: number, seed: number, round = false): Float32Array[] {
  const rnd = lcg(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => (round ? Math.round(rnd() * 4) / 4 : rnd() - 0.5)));
}

/** Brute force in float32: exact dot products of float32 inputs, sorted by (score desc, index asc). */
function brute(q: Float32Array[], d: Float32Array[], k: number) {
  return q.map((qv) => {
    const s = d.map((dv, i) => {
      let acc = 0;
      for (let j = 0; j < qv.length; j++) acc += qv[j]! * dv[j]!;
      return { i, s: acc };
    });
    s.sort((a, b) => b.s - a.s || a.i - b.i);
    return s.slice(0, k);
  });
}

test('top-k equals brute force, across query blocks and document chunks', async () => {
  const q = vectors(37, 24, 1);
  const d = vectors(523, 24, 2);
  const ref = brute(q, d, 17);
  for (const opts of [{}, { blockSize: 5, docChunkSize: 100 }, { blockSize: 1, docChunkSize: 523 }, { docChunkSize: 7 }]) {
    const res = await exactTopK(q, d, 17, opts);
    assert.equal(res.length, 37);
    res.forEach((r, qi) => {
      assert.deepEqual([...r.indices], ref[qi]!.map((x) => x.i), `query ${qi} with ${JSON.stringify(opts)}`);
      r.scores.forEach((s, t) => assert.ok(Math.abs(s - ref[qi]![t]!.s) < 1e-5), 'Math.abs(s - ref[qi]![t]!.s) < 1e-5)');
      for (let t = 1; t < r.scores.length; t++) assert.ok(r.scores[t - 1]! >= r.scores[t]!, 'r.scores[t - 1]! >= r.scores[t]!');
    });
  }
});

test('exact ties keep the lower document index first, also across chunk boundaries', async () => {
  // Coarse values make many exact ties; duplicated documents tie exactly.
  const base = vectors(60, 8, 3, true);
  const d = [...base, ...base, ...base];
  const q = vectors(9, 8, 4, true);
  const ref = brute(q, d, 50);
  for (const docChunkSize of [180, 60, 13]) {
    const res = await exactTopK(q, d, 50, { docChunkSize, blockSize: 4 });
    res.forEach((r, qi) => assert.deepEqual([...r.indices], ref[qi]!.map((x) => x.i), `query ${qi}, chunk ${docChunkSize}`));
  }
});

test('k larger than the corpus returns every document; cosine mode normalises both sides', async () => {
  const q = vectors(3, 5, 5);
  const d = vectors(4, 5, 6);
  const all = await exactTopK(q, d, 10);
  assert.ok(all.every((r) => r.indices.length === 4), 'all.every((r) => r.indices.length === 4)');
  const scaled = d.map((v, i) => v.map((x) => x * (i + 1) * 3));
  const cos = await exactTopK(q, scaled, 4, { normalize: true });
  const plain = await exactTopK(q, d, 4, { normalize: true });
  cos.forEach((r, i) => assert.deepEqual([...r.indices], [...plain[i]!.indices]));
  const qn = Math.hypot(...q[0]!);
  const dn = Math.hypot(...d[cos[0]!.indices[0]!]!);
  let dot = 0;
  for (let j = 0; j < 5; j++) dot += q[0]![j]! * d[cos[0]!.indices[0]!]![j]!;
  assert.ok(Math.abs(cos[0]!.scores[0]! - dot / qn / dn) < 1e-6, 'Math.abs(cos[0]!.scores[0]! - dot / qn / dn) < 1e-6');
});

test('rows of one matrix (consecutive views) are scored without copying and give the same result', async () => {
  const q = vectors(7, 12, 9);
  const d = vectors(150, 12, 10);
  const matrix = new Float32Array(150 * 12);
  d.forEach((v, i) => matrix.set(v, i * 12));
  const views = d.map((_, i) => matrix.subarray(i * 12, (i + 1) * 12));
  const a = await exactTopK(q, views, 9, { docChunkSize: 64 });
  const b = await exactTopK(q, d, 9, { docChunkSize: 64 });
  a.forEach((r, i) => assert.deepEqual([...r.indices], [...b[i]!.indices]));
  // Out-of-order views are not contiguous: they are packed, and still scored correctly.
  const shuffled = [...views].reverse();
  const c = await exactTopK(q, shuffled, 9);
  c.forEach((r, i) => assert.deepEqual([...r.indices].map((j) => 149 - j), [...b[i]!.indices]));
});

test('streaming in several chunks gives the same result as one call', async () => {
  const q = vectors(11, 16, 7);
  const d = vectors(300, 16, 8);
  const s = new StreamingTopK(q, 25);
  for (let i = 0; i < 300; i += 70) await s.add(d.slice(i, i + 70));
  const one = await exactTopK(q, d, 25);
  s.finish().forEach((r, i) => assert.deepEqual([...r.indices], [...one[i]!.indices]));
  assert.equal(s.documents, 300);
});

test('bad input: dimension mismatch and non-finite values name the vector', async () => {
  await assert.rejects(exactTopK([new Float32Array([1, 2])], [new Float32Array([1, 2, 3])], 1), /document 0 has 3 dimensions, expected 2/);
  await assert.rejects(exactTopK([new Float32Array([1, 2])], [new Float32Array([1, 2]), new Float32Array([NaN, 0])], 1), /document 1 has a non-finite value at dimension 0/);
  // ±Infinity where the first query is 0 (0 · ∞ is NaN), in a later chunk, and with normalisation.
  const q = [new Float32Array([0, 1]), new Float32Array([1, 1])];
  const docs = [new Float32Array([1, 2]), new Float32Array([3, 4]), new Float32Array([5, 6]), new Float32Array([Infinity, 0])];
  await assert.rejects(exactTopK(q, docs, 2, { docChunkSize: 2 }), /document 3 has a non-finite value at dimension 0 \(Infinity\)/);
  await assert.rejects(exactTopK(q, docs, 2, { docChunkSize: 2, normalize: true }), /document 3 has a non-finite value at dimension 0/);
  const s = new StreamingTopK(q, 1);
  await s.add(docs.slice(0, 2));
  await assert.rejects(s.add([new Float32Array([1, -Infinity])]), /document 2 has a non-finite value at dimension 1/);
  await assert.rejects(exactTopK([new Float32Array([NaN, 1])], docs.slice(0, 1), 1), /query 0 has a non-finite value at dimension 0/);
  // Finite values whose dot products overflow float32 are not an error (nothing is non-finite to name).
  const big = await exactTopK([new Float32Array([3e38, 3e38])], [new Float32Array([3e38, 3e38]), new Float32Array([1, 1])], 2);
  assert.deepEqual([...big[0]!.indices].sort(), [0, 1]);
  await assert.rejects(exactTopK([new Float32Array([1])], [new Float32Array([1])], 0), /k must be a positive integer/);
  assert.deepEqual(await exactTopK([], [new Float32Array([1])], 3), []);
});
