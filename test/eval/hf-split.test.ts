// HF datasets' train_test_split as mteb uses it to subsample test sets. The NumPy draws underneath are
// checked against NumPy's own known answers (numpy-generator.test.ts); here: the split's structure, class
// encoding order, approximate-mode counts worked by hand, and HF's errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { approximateMode, stratifiedTrainTestSplitTestRows, trainTestSplitTestRows } from '../../src/eval/hf-split.js';
import { NumpyGenerator } from '../../src/eval/numpy-generator.js';

test('plain split: the test rows are the first test_size entries of default_rng(seed).permutation(n)', () => {
  const rows = trainTestSplitTestRows(50, 7, 42);
  assert.deepEqual(rows, NumpyGenerator.defaultRng(42).permutation(50).slice(0, 7));
  assert.equal(new Set(rows).size, 7);
  assert.throws(() => trainTestSplitTestRows(5, 5, 42), /test_size=5 should be .* smaller than the number of samples 5/);
});

test('approximate mode: floors of the proportional shares, then the largest remainders (worked by hand)', () => {
  // 4 draws from [5, 3, 2]: shares 2, 1.2, 0.8 → floors 2, 1, 0 → one more for the remainder 0.8.
  assert.deepEqual(approximateMode([5, 3, 2], 4, NumpyGenerator.defaultRng(0)), [2, 1, 1]);
  // 952 draws from [2700, 300]: 856.8 and 95.2 → 857 and 95.
  assert.deepEqual(approximateMode([2700, 300], 952, NumpyGenerator.defaultRng(0)), [857, 95]);
  // A tie (1/3 each, 2 draws): the rng picks which two classes get one, always summing to the draws.
  const tie = approximateMode([1, 1, 1], 2, NumpyGenerator.defaultRng(0));
  assert.deepEqual([...tie].sort(), [0, 1, 1]);
  const g = NumpyGenerator.defaultRng(0);
  const picked = g.choiceWithoutReplacement(3, 2);
  assert.deepEqual(tie.flatMap((c, i) => (c ? [i] : [])), [...picked].sort(), 'ties are broken by choice(inds, size, replace=False)');
});

test('stratified split: per-class counts from the approximate mode, distinct rows, deterministic by seed', () => {
  const labels = Array.from({ length: 1000 }, (_, i) => (i % 10 < 6 ? 'b' : i % 10 < 9 ? 'a' : 'c'));
  const rows = stratifiedTrainTestSplitTestRows(labels, 100, 42);
  assert.equal(rows.length, 100);
  assert.equal(new Set(rows).size, 100);
  const count = (l: string) => rows.filter((r) => labels[r] === l).length;
  assert.deepEqual([count('a'), count('b'), count('c')], [30, 60, 10]);
  assert.deepEqual(stratifiedTrainTestSplitTestRows(labels, 100, 42), rows);
  assert.notDeepEqual(stratifiedTrainTestSplitTestRows(labels, 100, 7), rows);
  assert.notDeepEqual([...rows].sort((x, y) => x - y), rows, 'rows come in the permuted order, not sorted');
});

test('stratified split: classes are the sorted str() forms (so "10" comes before "2"), which decides the draw order', () => {
  const labels = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? '2' : i % 3 === 1 ? '10' : '3'));
  const relabelled = labels.map((l) => ({ '10': 'a', '2': 'b', '3': 'c' })[l]!);
  assert.deepEqual(stratifiedTrainTestSplitTestRows(labels, 12, 42), stratifiedTrainTestSplitTestRows(relabelled, 12, 42));
});

test('stratified split: HF datasets\' errors', () => {
  assert.throws(() => stratifiedTrainTestSplitTestRows(['a', 'a', 'b'], 1, 42), /least populated class \("b"\) has only 1 member/);
  assert.throws(() => stratifiedTrainTestSplitTestRows(['a', 'a', 'b', 'b', 'c', 'c'], 2, 42), /test size 2 should be greater or equal to the number of classes 3/);
});
