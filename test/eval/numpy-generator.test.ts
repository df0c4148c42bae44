// NumPy's Generator API against NumPy's own known-answer data: SeedSequence's reference outputs
// (numpy/random/tests/test_seed_sequence.py), PCG64's test sets (numpy/random/tests/data/pcg64-testset-*.csv:
// PCG64(0xdeadbeaf) and PCG64(0)), and Generator(MT19937(1234567890)) permutation/choice results from
// numpy/random/tests/test_generator_mt19937.py — the draws HF datasets' train_test_split makes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { NumpyGenerator, PCG64, SeedSequence, SeededMT19937 } from '../../src/eval/numpy-generator.js';

test('SeedSequence.generate_state matches NumPy reference data (uint32 and uint64)', () => {
  const a = new SeedSequence([3735928559, 195939070, 229505742, 305419896]);
  assert.deepEqual([...a.generateState32(4)], [3914649087, 576849849, 3593928901, 2229911004]);
  assert.deepEqual(a.generateState64(2), [2477551240072187391n, 9577394838764454085n]);
  const b = new SeedSequence([2766103236, 2883057919, 4029656435, 862374500]);
  assert.deepEqual([...b.generateState32(4)], [296367413, 4262059219, 13109864, 3283683422]);
  assert.deepEqual(b.generateState64(2), [18305404959516669237n, 14103312907920476776n]);
});

test('PCG64 raw 64-bit outputs match NumPy test sets (seeds 0xdeadbeaf and 0, draws 1-3 and 1000)', () => {
  const draws = (seed: number) => {
    const p = new PCG64(seed);
    return Array.from({ length: 1000 }, () => p.next64());
  };
  const a = draws(0xdeadbeaf);
  assert.deepEqual(a.slice(0, 3), [0x60d24054e17a0698n, 0xd5e79d89856e4f12n, 0xd254972fe64bd782n]);
  assert.equal(a[999], 0xa5cb380b8de10d10n);
  const b = draws(0);
  assert.deepEqual(b.slice(0, 3), [0xa30febcfd9c2825fn, 0x4510bdf882d9d721n, 0x0a7d3da94ecde8b8n]);
  assert.equal(b[999], 0x6148329042f743b0n);
});

test('PCG64 32-bit draws are the low then the high half of one 64-bit draw', () => {
  const x = new PCG64(7).next64();
  const p = new PCG64(7);
  assert.deepEqual([p.next32(), p.next32()], [Number(x & 0xffffffffn), Number(x >> 32n)]);
});

const mt = () => new NumpyGenerator(new SeededMT19937(1234567890));

test('Generator.permutation matches NumPy (int and list arguments)', () => {
  assert.deepEqual(mt().permutation(10), [3, 0, 8, 7, 9, 4, 2, 5, 1, 6]);
  assert.deepEqual(mt().permutation([1, 2, 3, 4, 5, 6, 7, 8, 9, 0]), [4, 1, 9, 8, 0, 5, 3, 6, 2, 7]);
});

test('Generator.choice without replacement matches NumPy (Floyd with shuffle, without shuffle, 5000 of 10000)', () => {
  const g = mt();
  assert.deepEqual(g.choiceWithoutReplacement(4, 3), [2, 0, 3]);
  assert.deepEqual(g.choiceWithoutReplacement(4, 4, false), [0, 1, 2, 3]);
  const big = mt().choiceWithoutReplacement(10000, 5000);
  const bytes = Buffer.alloc(8 * big.length);
  big.forEach((v, i) => bytes.writeBigInt64LE(BigInt(v), 8 * i));
  assert.equal(createHash('sha256').update(bytes).digest('hex'), '4266599d12bfcfb815213303432341c06b4349f5455890446578877bb322e222');
});

test('choice without replacement takes the tail-shuffle path for large populations: distinct, in range, seeded', () => {
  const a = NumpyGenerator.defaultRng(1).choiceWithoutReplacement(20000, 1000);
  assert.equal(new Set(a).size, 1000);
  assert.ok(a.every((v) => Number.isInteger(v) && v >= 0 && v < 20000));
  assert.deepEqual(NumpyGenerator.defaultRng(1).choiceWithoutReplacement(20000, 1000), a);
  assert.notDeepEqual(NumpyGenerator.defaultRng(2).choiceWithoutReplacement(20000, 1000), a);
  assert.throws(() => NumpyGenerator.defaultRng(1).choiceWithoutReplacement(3, 4), /larger sample than population/);
});

test('bounded draws are uniform over [0, max] (masked and Lemire)', () => {
  const g = NumpyGenerator.defaultRng(3);
  const masked = new Array(5).fill(0);
  const lemire = new Array(5).fill(0);
  for (let i = 0; i < 50000; i++) {
    masked[g.randomInterval(4)]++;
    lemire[g.boundedLemire(4)]++;
  }
  for (const c of [...masked, ...lemire]) assert.ok(Math.abs(c - 10000) < 500, `count ${c}`);
});
