// The scikit-learn metrics mteb calls, computed the way sklearn computes them: average_precision_score
// (binary, tie groups as one step), accuracy, macro/weighted F1 (sklearn ≥ 1.3 formula) and the
// v-measure (natural logs, contingency-based mutual information).
import { compareCodePoints, npMean, pairwiseSum } from './numeric.js';

/**
 * sklearn.metrics.average_precision_score for binary targets: thresholds are the distinct scores in
 * descending order, AP = Σ (R_t − R_{t−1}) · P_t. `positive[i]` says whether item i is relevant.
 * With no positives sklearn warns and returns 0 (recall is taken as 1 everywhere).
 */
export function averagePrecision(positive: ArrayLike<boolean | number>, scores: ArrayLike<number>): number {
  const n = scores.length;
  if (positive.length !== n) throw new Error(`averagePrecision: ${positive.length} labels for ${n} scores`);
  if (n === 0) return NaN;
  // Descending by score (sklearn reverses a stable ascending mergesort; order inside ties is irrelevant).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const tps: number[] = [];
  const fps: number[] = [];
  let tp = 0;
  for (let i = 0; i < n; i++) {
    if (positive[order[i]!]) tp++;
    const last = i === n - 1 || scores[order[i + 1]!]! !== scores[order[i]!]!;
    if (last) {
      tps.push(tp);
      fps.push(i + 1 - tp);
    }
  }
  const m = tps.length;
  const totalPos = tps[m - 1]!;
  // precision and recall in sklearn's reversed order, with the (1, 0) end point appended.
  const precision = new Float64Array(m + 1);
  const recall = new Float64Array(m + 1);
  for (let t = 0; t < m; t++) {
    const src = m - 1 - t;
    const ps = tps[src]! + fps[src]!;
    precision[t] = ps !== 0 ? tps[src]! / ps : 0;
    recall[t] = totalPos === 0 ? 1 : tps[src]! / totalPos;
  }
  precision[m] = 1;
  recall[m] = 0;
  const terms = new Float64Array(m);
  for (let t = 0; t < m; t++) terms[t] = (recall[t + 1]! - recall[t]!) * precision[t]!;
  return -pairwiseSum(terms);
}

export type Label = string | number;

/** The distinct labels in np.unique order: the classes of a classifier, the columns of a confusion matrix. */
export function sortedLabels(labels: Iterable<Label>): Label[] {
  const set = [...new Set(labels)];
  // np.unique sorts numbers numerically and strings by code point; mixed types do not occur in mteb data.
  return set.sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : compareCodePoints(String(a), String(b))));
}

/** sklearn.metrics.accuracy_score. */
export function accuracyScore(yTrue: readonly Label[], yPred: readonly Label[]): number {
  if (yTrue.length !== yPred.length) throw new Error(`accuracy: ${yTrue.length} labels vs ${yPred.length} predictions`);
  let ok = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) ok++;
  return ok / yTrue.length;
}

/**
 * sklearn.metrics.f1_score with average 'macro' or 'weighted' over the sorted union of true and
 * predicted labels; F = 2·tp / (true + predicted), 0 where undefined (zero_division="warn").
 */
export function f1Score(yTrue: readonly Label[], yPred: readonly Label[], average: 'macro' | 'weighted'): number {
  const labels = sortedLabels([...yTrue, ...yPred]);
  const index = new Map(labels.map((l, i) => [l, i]));
  const tp = new Float64Array(labels.length);
  const trueSum = new Float64Array(labels.length);
  const predSum = new Float64Array(labels.length);
  for (let i = 0; i < yTrue.length; i++) {
    const t = index.get(yTrue[i]!)!;
    const p = index.get(yPred[i]!)!;
    trueSum[t]++;
    predSum[p]++;
    if (t === p) tp[t]++;
  }
  const f = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const denom = trueSum[i]! + predSum[i]!;
    f[i] = denom === 0 ? 0 : (2 * tp[i]!) / denom;
  }
  if (average === 'macro') return npMean(f);
  const weighted = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) weighted[i] = f[i]! * trueSum[i]!;
  const scale = pairwiseSum(trueSum);
  return scale === 0 ? 0 : pairwiseSum(weighted) / scale;
}

/** Entropy (natural log) of a labelling, as sklearn.metrics.cluster._supervised.entropy. */
function entropyOf(counts: Float64Array): number {
  const total = pairwiseSum(counts);
  if (counts.length <= 1) return 0;
  const terms = new Float64Array(counts.length);
  const logTotal = Math.log(total);
  for (let i = 0; i < counts.length; i++) terms[i] = (counts[i]! / total) * (Math.log(counts[i]!) - logTotal);
  return -pairwiseSum(terms);
}

/** sklearn.metrics.v_measure_score (β = 1). Invariant to how either labelling names its labels. */
export function vMeasure(labelsTrue: readonly Label[], labelsPred: readonly Label[]): number {
  const n = labelsTrue.length;
  if (labelsPred.length !== n) throw new Error(`v_measure: ${n} true labels vs ${labelsPred.length} predicted`);
  if (n === 0) return 1;
  const ti = new Map<Label, number>();
  const pi = new Map<Label, number>();
  for (const l of sortedLabels(labelsTrue)) ti.set(l, ti.size);
  for (const l of sortedLabels(labelsPred)) pi.set(l, pi.size);
  const rows = ti.size;
  const cols = pi.size;
  const cont = new Map<number, number>();
  const rowSum = new Float64Array(rows);
  const colSum = new Float64Array(cols);
  for (let i = 0; i < n; i++) {
    const r = ti.get(labelsTrue[i]!)!;
    const c = pi.get(labelsPred[i]!)!;
    const key = r * cols + c;
    cont.set(key, (cont.get(key) ?? 0) + 1);
    rowSum[r]++;
    colSum[c]++;
  }
  const hC = entropyOf(rowSum);
  const hK = entropyOf(colSum);
  let mi = 0;
  if (rows > 1 && cols > 1) {
    // Non-zeros in row-major order, like scipy.sparse.find on the CSR contingency matrix.
    const keys = [...cont.keys()].sort((a, b) => a - b);
    const terms = new Float64Array(keys.length);
    const logN = Math.log(n);
    const logSums = Math.log(pairwiseSum(rowSum)) + Math.log(pairwiseSum(colSum));
    keys.forEach((key, t) => {
      const v = cont.get(key)!;
      const r = Math.floor(key / cols);
      const c = key % cols;
      const pij = v / n;
      const logOuter = -Math.log(rowSum[r]! * colSum[c]!) + logSums;
      let term = pij * (Math.log(v) - logN) + pij * logOuter;
      if (Math.abs(term) < Number.EPSILON) term = 0;
      terms[t] = term;
    });
    mi = Math.max(pairwiseSum(terms), 0);
  }
  const homogeneity = hC ? mi / hC : 1;
  const completeness = hK ? mi / hK : 1;
  if (homogeneity + completeness === 0) return 0;
  return (2 * homogeneity * completeness) / (homogeneity + completeness);
}
