// HF datasets' `Dataset.train_test_split(test_size=n, seed=s[, stratify_by_column])`, reduced to the indices
// of the test rows in the order `select` returns them. mteb 1.38 subsamples some test sets this way
// (ToxicConversations, StackExchangeClustering.v2 stratified; ArXivHierarchical* plainly), so the same rows
// in the same order are needed for the same scores. Ported from datasets' arrow_dataset.py and
// utils/stratify.py (itself from scikit-learn's StratifiedShuffleSplit) over NumPy's default_rng.
import { NumpyGenerator } from './numpy-generator.js';
import { compareCodePoints } from './numeric.js';

function checkSizes(n: number, testSize: number): void {
  if (!Number.isInteger(testSize) || testSize <= 0 || testSize >= n) {
    throw new RangeError(`test_size=${testSize} should be either positive and smaller than the number of samples ${n}`);
  }
}

/** `train_test_split(test_size=testSize, seed=seed)["test"]`: the first testSize entries of permutation(n). */
export function trainTestSplitTestRows(n: number, testSize: number, seed: number): number[] {
  checkSizes(n, testSize);
  return NumpyGenerator.defaultRng(seed).permutation(n).slice(0, testSize);
}

/**
 * `train_test_split(test_size=testSize, seed=seed, stratify_by_column=label)["test"]` for a label column that
 * mteb class-encodes first (`class_encode_column`: classes are the labels' Python `str` forms, sorted).
 * `labels` are those string forms, one per row.
 */
export function stratifiedTrainTestSplitTestRows(labels: readonly string[], testSize: number, seed: number): number[] {
  const n = labels.length;
  checkSizes(n, testSize);
  const classes = [...new Set(labels)].sort(compareCodePoints);
  const classOf = new Map(classes.map((c, i) => [c, i]));
  const classIndices: number[][] = classes.map(() => []);
  labels.forEach((l, row) => classIndices[classOf.get(l)!]!.push(row)); // = argsort(kind="mergesort") split by class
  const counts = classIndices.map((rows) => rows.length);
  const nTrain = n - testSize;
  if (Math.min(...counts) < 2) {
    const least = classes[counts.indexOf(Math.min(...counts))];
    throw new RangeError(`the least populated class ("${least}") has only 1 member, which is too few for a stratified split (at least 2 are needed)`);
  }
  if (nTrain < classes.length) throw new RangeError(`the train size ${nTrain} should be greater or equal to the number of classes ${classes.length}`);
  if (testSize < classes.length) throw new RangeError(`the test size ${testSize} should be greater or equal to the number of classes ${classes.length}`);

  const rng = NumpyGenerator.defaultRng(seed);
  const trainPerClass = approximateMode(counts, nTrain, rng);
  const testPerClass = approximateMode(counts.map((c, i) => c - trainPerClass[i]!), testSize, rng);
  const train: number[] = [];
  const test: number[] = [];
  classIndices.forEach((rows, i) => {
    const perm = rng.permutation(counts[i]!);
    const t = trainPerClass[i]!;
    for (let k = 0; k < t; k++) train.push(rows[perm[k]!]!);
    for (let k = t; k < t + testPerClass[i]!; k++) test.push(rows[perm[k]!]!);
  });
  rng.permutation(train); // drawn before the test permutation: it advances the generator
  return rng.permutation(test);
}

/**
 * scikit-learn's `_approximate_mode`: per-class draws that sum to nDraws — floors of the proportional shares,
 * then one more for the classes with the largest remainders, ties broken by `rng.choice` without replacement
 * (which draws even when the whole tie group is taken).
 */
export function approximateMode(classCounts: readonly number[], nDraws: number, rng: NumpyGenerator): number[] {
  const total = classCounts.reduce((a, b) => a + b, 0);
  const continuous = classCounts.map((c) => (nDraws * c) / total);
  const floored = continuous.map(Math.floor);
  let needToAdd = nDraws - floored.reduce((a, b) => a + b, 0);
  if (needToAdd > 0) {
    const remainder = continuous.map((c, i) => c - floored[i]!);
    const values = [...new Set(remainder)].sort((a, b) => b - a);
    for (const value of values) {
      const inds = remainder.flatMap((r, i) => (r === value ? [i] : []));
      const addNow = Math.min(inds.length, needToAdd);
      for (const k of rng.choiceWithoutReplacement(inds.length, addNow)) floored[inds[k]!] = floored[inds[k]!]! + 1;
      needToAdd -= addNow;
      if (needToAdd === 0) break;
    }
  }
  return floored;
}

/** Python's `str()` of a label value as HF datasets stringifies it before class encoding. */
export function pythonLabelString(label: string | number): string {
  return typeof label === 'string' ? label : String(label);
}
