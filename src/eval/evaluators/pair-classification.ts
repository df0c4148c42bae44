// PairClassification (mteb 1.38.30 PairClassificationEvaluator): distinct texts embedded once; per
// score family (similarity, cosine, manhattan, euclidean, dot) the best accuracy and F1 over cut
// points of the stable similar-first order, with midpoint thresholds, and sklearn average precision.
import type { TextEncoder } from '../encoder.js';
import { pairedCosine, pairedDot, pairedEuclidean, pairedManhattan } from '../paired.js';
import { averagePrecision } from '../sklearn-metrics.js';
import type { Scores } from './sts.js';

export interface PairData {
  sentence1: string[];
  sentence2: string[];
  /** 1 = similar / duplicate, 0 = not. */
  labels: number[];
}

const f = Math.fround;

/** Rows in mteb's order: a stable sort on the score, similar first (Python `sorted(reverse=...)` keeps ties in input order). */
function orderedRows(scores: Float32Array, higherIsSimilar: boolean): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => (higherIsSimilar ? scores[b]! - scores[a]! : scores[a]! - scores[b]!) || a - b);
  return idx;
}

/** find_best_acc_and_threshold: the last row is never a cut; strictly better accuracy wins. */
export function bestAccuracy(scores: Float32Array, labels: readonly number[], higherIsSimilar: boolean): { accuracy: number; threshold: number } {
  const rows = orderedRows(scores, higherIsSimilar);
  let maxAcc = 0;
  let threshold = -1;
  let positives = 0;
  let remainingNegatives = labels.filter((l) => l === 0).length;
  for (let i = 0; i < rows.length - 1; i++) {
    if (labels[rows[i]!] === 1) positives++;
    else remainingNegatives--;
    const acc = (positives + remainingNegatives) / labels.length;
    if (acc > maxAcc) {
      maxAcc = acc;
      threshold = f(f(scores[rows[i]!]! + scores[rows[i + 1]!]!) / 2);
    }
  }
  return { accuracy: maxAcc, threshold };
}

/** find_best_f1_and_threshold. */
export function bestF1(scores: Float32Array, labels: readonly number[], higherIsSimilar: boolean): { f1: number; precision: number; recall: number; threshold: number } {
  const rows = orderedRows(scores, higherIsSimilar);
  let best = { f1: 0, precision: 0, recall: 0, threshold: 0 };
  let extracted = 0;
  let correct = 0;
  const totalPositives = labels.reduce((s, l) => s + l, 0);
  for (let i = 0; i < rows.length - 1; i++) {
    extracted++;
    if (labels[rows[i]!] === 1) correct++;
    if (correct > 0) {
      const precision = correct / extracted;
      const recall = correct / totalPositives;
      const f1 = (2 * precision * recall) / (precision + recall);
      if (f1 > best.f1) best = { f1, precision, recall, threshold: f(f(scores[rows[i]!]! + scores[rows[i + 1]!]!) / 2) };
    }
  }
  return best;
}

function familyMetrics(scores: Float32Array, labels: readonly number[], higherIsSimilar: boolean): Record<string, number> {
  const acc = bestAccuracy(scores, labels, higherIsSimilar);
  const f1 = bestF1(scores, labels, higherIsSimilar);
  const ap = averagePrecision(
    labels.map((l) => l === 1),
    higherIsSimilar ? scores : scores.map((v) => -v),
  );
  return { accuracy: acc.accuracy, accuracy_threshold: acc.threshold, f1: f1.f1, f1_threshold: f1.threshold, precision: f1.precision, recall: f1.recall, ap };
}

export async function evaluatePairClassification(data: PairData, encoder: TextEncoder): Promise<Scores> {
  const n = data.sentence1.length;
  if (n === 0) throw new Error('PairClassification: no pairs to evaluate');
  for (const [i, l] of data.labels.entries()) if (l !== 0 && l !== 1) throw new Error(`PairClassification: label ${i} is ${l}; labels must be 0 or 1`);
  const distinct = [...new Set([...data.sentence1, ...data.sentence2])];
  const vecs = await encoder.encode(distinct, 'query', 'sentences');
  const byText = new Map(distinct.map((t, i) => [t, vecs[i]!]));
  const e1 = data.sentence1.map((t) => byText.get(t)!);
  const e2 = data.sentence2.map((t) => byText.get(t)!);
  const cosine = pairedCosine(e1, e2);
  const families: [string, Float32Array, boolean][] = [
    ['similarity', cosine, true],
    ['cosine', cosine, true],
    ['manhattan', pairedManhattan(e1, e2), false],
    ['euclidean', pairedEuclidean(e1, e2), false],
    ['dot', pairedDot(e1, e2), true],
  ];
  const out: Scores = {};
  const max: Record<string, number[]> = { accuracy: [], f1: [], precision: [], recall: [], ap: [] };
  for (const [name, scores, higher] of families) {
    for (const [metric, value] of Object.entries(familyMetrics(scores, data.labels, higher))) {
      out[`${name}_${metric}`] = value;
      max[metric]?.push(value);
    }
  }
  for (const metric of ['accuracy', 'f1', 'precision', 'recall', 'ap']) out[`max_${metric}`] = Math.max(...max[metric]!);
  return out;
}
