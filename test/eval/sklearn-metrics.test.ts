// sklearn's metrics on hand-worked cases: average precision with tied scores as one step, accuracy and
// macro/weighted F1 over the union of labels, v-measure from closed-form entropies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracyScore, averagePrecision, f1Score, vMeasure } from '../../src/eval/sklearn-metrics.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('average precision: distinct thresholds, a tie group is one step', () => {
  // Thresholds 0.9 (P 1, R 1/3), 0.8 tie of a negative and a positive (P 2/3, R 2/3), 0.3 (P 3/4, R 1), 0.1 (R 1).
  close(averagePrecision([1, 0, 1, 1, 0], [0.9, 0.8, 0.8, 0.3, 0.1]), 1 / 3 + (1 / 3) * (2 / 3) + (1 / 3) * (3 / 4));
  // The order inside the tie group does not matter.
  close(averagePrecision([1, 1, 0, 1, 0], [0.9, 0.8, 0.8, 0.3, 0.1]), 29 / 36);
  // Perfect and worst rankings.
  close(averagePrecision([true, true, false], [3, 2, 1]), 1);
  close(averagePrecision([false, false, true], [3, 2, 1]), 1 / 3);
  // No positives: sklearn warns and returns 0 (recall is set to 1 everywhere).
  assert.ok(averagePrecision([0, 0], [0.2, 0.1]) === 0); // −0, like NumPy's −np.sum(...)
  // Hard 0/1 predictions as scores (mteb's classification `ap`): two tie groups.
  close(averagePrecision([1, 0, 1, 0], [1, 1, 0, 0]), 0.5 * 0.5 + 0.5 * 0.5);
});

test('accuracy and F1 (macro and weighted) over the union of true and predicted labels', () => {
  const yTrue = ['a', 'a', 'b', 'b', 'c'];
  const yPred = ['a', 'b', 'b', 'b', 'd'];
  assert.equal(accuracyScore(yTrue, yPred), 3 / 5);
  // Per label F = 2tp/(true + pred): a 2/3, b 4/5, c 0, d 0 (d never true: weight 0 but counted in macro).
  close(f1Score(yTrue, yPred, 'macro'), (2 / 3 + 4 / 5) / 4);
  close(f1Score(yTrue, yPred, 'weighted'), (2 * (2 / 3) + 2 * (4 / 5)) / 5);
  assert.equal(f1Score([1, 2, 3], [1, 2, 3], 'macro'), 1);
});

test('v-measure: permutation invariance, independence and a closed-form case', () => {
  assert.equal(vMeasure([0, 0, 1, 1], [5, 5, 7, 7]), 1);
  assert.equal(vMeasure([0, 0, 1, 1], [1, 1, 0, 0]), 1);
  assert.equal(vMeasure([0, 0, 1, 1], [0, 1, 0, 1]), 0);
  assert.equal(vMeasure(['a', 'a'], ['x', 'y']), 0, 'one class: homogeneity 1, completeness 0 → 0');
  // true a a a b b b, pred x x y y y y: contingency (a,x)=2 (a,y)=1 (b,y)=3.
  const HC = Math.log(2);
  const HK = -((1 / 3) * Math.log(1 / 3) + (2 / 3) * Math.log(2 / 3));
  const MI = (1 / 3) * Math.log(2) + (1 / 6) * Math.log(1 / 2) + (1 / 2) * Math.log(1.5);
  const h = MI / HC;
  const c = MI / HK;
  close(vMeasure(['a', 'a', 'a', 'b', 'b', 'b'], ['x', 'x', 'y', 'y', 'y', 'y']), (2 * h * c) / (h + c), 1e-14);
});
