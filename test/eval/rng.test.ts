// The Python-compatible generators against the check values of mteb-semantics.md §11 (outputs of NumPy
// RandomState and CPython 3.11 random), plus properties of the integer and float draws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MT19937, NumpyRandomState, PythonRandom } from '../../src/eval/rng.js';

test('MT19937 init_genrand(42) and init_by_array([42]) first outputs', () => {
  const a = new MT19937();
  a.initGenrand(42);
  assert.deepEqual([a.next32(), a.next32(), a.next32()], [1608637542, 3421126067, 4083286876]);
  const b = new MT19937();
  b.initByArray([42]);
  assert.deepEqual([b.next32(), b.next32(), b.next32()], [2746317213, 478163327, 107420369]);
});

test('NumPy RandomState(42).shuffle(arange(20)) matches NumPy', () => {
  const a = Array.from({ length: 20 }, (_, i) => i);
  new NumpyRandomState(42).shuffle(a);
  assert.deepEqual(a, [0, 17, 15, 1, 8, 5, 11, 3, 18, 16, 13, 2, 9, 19, 4, 12, 7, 10, 14, 6]);
});

test('three successive fresh-seed-42 shuffles of range(10) (the classification experiment sequence)', () => {
  const a = Array.from({ length: 10 }, (_, i) => i);
  const seen: number[][] = [];
  for (let e = 0; e < 3; e++) {
    new NumpyRandomState(42).shuffle(a);
    seen.push([...a]);
  }
  assert.deepEqual(seen, [
    [8, 1, 5, 0, 7, 2, 9, 4, 3, 6],
    [3, 1, 2, 8, 4, 5, 6, 7, 0, 9],
    [0, 1, 5, 3, 7, 2, 9, 4, 8, 6],
  ]);
  // Typed arrays shuffle identically.
  const t = Int32Array.from({ length: 20 }, (_, i) => i);
  new NumpyRandomState(42).shuffle(t);
  assert.deepEqual([...t], [0, 17, 15, 1, 8, 5, 11, 3, 18, 16, 13, 2, 9, 19, 4, 12, 7, 10, 14, 6]);
});

test('CPython Random(42): random(), sample(range(100), 10), choices(range(100), k=10)', () => {
  const r = new PythonRandom(42);
  assert.deepEqual([r.random(), r.random(), r.random()], [0.6394267984578837, 0.025010755222666936, 0.27502931836911926]);
  assert.deepEqual(new PythonRandom(42).sample(100, 10), [81, 14, 3, 94, 35, 31, 28, 17, 13, 86]);
  assert.deepEqual([...new PythonRandom(42).choices(100, 10)], [63, 2, 27, 22, 73, 67, 89, 8, 42, 2]);
});

test('sample(): pool method for small populations, distinct values from the set method for large ones', () => {
  // n ≤ setsize (21 for k ≤ 5) → pool method: a permutation prefix without repeats.
  const small = new PythonRandom(7).sample(10, 10);
  assert.deepEqual([...small].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const big = new PythonRandom(7).sample(53_787, 2151);
  assert.equal(new Set(big).size, 2151);
  assert.ok(big.every((x) => Number.isInteger(x) && x >= 0 && x < 53_787), 'big.every((x) => Number.isInteger(x) && x >= 0 && x < 53_787)');
  assert.throws(() => new PythonRandom(1).sample(3, 4), /sample larger than population/);
});

test('randint and random_interval are masked rejection draws (same words, same values)', () => {
  // randint(0, n) and random_interval(n − 1) consume the generator identically.
  const a = new NumpyRandomState(42);
  const b = new NumpyRandomState(42);
  const x = a.randint(0, 1000, 50);
  const y = Array.from({ length: 50 }, () => b.randomInterval(999));
  assert.deepEqual([...x], y);
  assert.ok(x.every((v) => v >= 0 && v < 1000), 'x.every((v) => v >= 0 && v < 1000)');
  // A range that is a power of two minus one never rejects: one 32-bit word per draw, masked.
  const c = new NumpyRandomState(3);
  const d = new MT19937();
  d.initGenrand(3);
  const r = c.randint(5, 5 + 256, 10);
  for (let i = 0; i < 10; i++) assert.equal(r[i], 5 + (d.next32() & 255));
});

test('random_sample uses 53 bits from two words, like genrand_res53', () => {
  const r = new NumpyRandomState(42);
  const m = new MT19937();
  m.initGenrand(42);
  const a = m.next32() >>> 5;
  const b = m.next32() >>> 6;
  assert.equal(r.randomSample(), (a * 67108864 + b) / 9007199254740992);
  // NumPy RandomState(42).random_sample() is 0.3745401188473625 (documented NumPy output).
  assert.equal(new NumpyRandomState(42).randomSample(), 0.3745401188473625);
});

test('choice with probabilities searches the normalised cumulative sum (side="right")', () => {
  const r = new NumpyRandomState(42);
  const u = new NumpyRandomState(42).randomSample(); // 0.3745…
  // p = [0.25, 0.25, 0.5] → cdf [0.25, 0.5, 1]; u ∈ [0.25, 0.5) → index 1.
  assert.ok(u >= 0.25 && u < 0.5, 'u >= 0.25 && u < 0.5');
  assert.equal(r.choiceWeighted([0.25, 0.25, 0.5]), 1);
  // permutation / choice without replacement.
  const p = new NumpyRandomState(42).permutation(20);
  assert.deepEqual([...p], [0, 17, 15, 1, 8, 5, 11, 3, 18, 16, 13, 2, 9, 19, 4, 12, 7, 10, 14, 6]);
  assert.deepEqual([...new NumpyRandomState(42).choiceWithoutReplacement(20, 3)], [0, 17, 15]);
});
