// Classification (mteb 1.38.30 AbsTaskClassification + logRegClassificationEvaluator): per experiment
// the training indices are shuffled in place by a fresh RandomState(42) (each experiment permutes the
// previous permutation), the first samples_per_label rows of each label are kept, a logistic regression
// (sklearn lbfgs protocol) is fitted on their embeddings and scored on the test embeddings.
import type { TextEncoder } from '../encoder.js';
import { LogisticRegression } from '../logistic-regression.js';
import { npMean } from '../numeric.js';
import { NumpyRandomState } from '../rng.js';
import { accuracyScore, averagePrecision, f1Score, type Label } from '../sklearn-metrics.js';
import type { Scores } from './sts.js';

export interface LabelledTexts {
  texts: string[];
  labels: Label[];
}

export interface ClassificationOptions {
  samplesPerLabel: number;
  nExperiments: number;
  /** LogisticRegression max_iter (default 100). */
  maxIter?: number;
  onExperiment?: (done: number, total: number) => void;
}

/** The rows each experiment trains on: mteb's _undersample_data with a reseeded global RNG. */
export function undersamplingPlan(labels: readonly Label[], samplesPerLabel: number, nExperiments: number): number[][] {
  let idxs: number[] | null = null;
  const plans: number[][] = [];
  for (let e = 0; e < nExperiments; e++) {
    if (!idxs) idxs = Array.from({ length: labels.length }, (_, i) => i);
    new NumpyRandomState(42).shuffle(idxs);
    const counter = new Map<Label, number>();
    const picked: number[] = [];
    for (const i of idxs) {
      const c = counter.get(labels[i]!) ?? 0;
      if (c < samplesPerLabel) {
        picked.push(i);
        counter.set(labels[i]!, c + 1);
      }
    }
    plans.push(picked);
  }
  return plans;
}

function stack(vectors: readonly Float32Array[]): Float32Array {
  const d = vectors[0]?.length ?? 0;
  const out = new Float32Array(vectors.length * d);
  vectors.forEach((v, i) => out.set(v, i * d));
  return out;
}

export async function evaluateClassification(train: LabelledTexts, test: LabelledTexts, encoder: TextEncoder, opts: ClassificationOptions): Promise<Scores> {
  if (train.texts.length === 0) throw new Error('Classification: the train split is empty');
  if (test.texts.length === 0) throw new Error('Classification: the evaluation split is empty');
  const plans = undersamplingPlan(train.labels, opts.samplesPerLabel, opts.nExperiments);
  // Embed every sampled training text once (the union over experiments), then the test set once.
  const union = [...new Set(plans.flat())].sort((a, b) => a - b);
  const unionVecs = await encoder.encode(
    union.map((i) => train.texts[i]!),
    'query',
    'train',
  );
  const trainVec = new Map(union.map((row, j) => [row, unionVecs[j]!]));
  const testVecs = await encoder.encode(test.texts, 'query', 'test');
  const d = testVecs[0]!.length;
  const Xtest = Float64Array.from(stack(testVecs)); // float64 once: sklearn's decision_function upcasts anyway
  const perExperiment: Record<string, number>[] = [];
  for (const [e, rows] of plans.entries()) {
    const X = stack(rows.map((r) => trainVec.get(r)!));
    const y = rows.map((r) => train.labels[r]!);
    const clf = await LogisticRegression.fit(X, rows.length, d, y, { maxIter: opts.maxIter ?? 100 });
    const pred = await clf.predict(Xtest, test.texts.length);
    const s: Record<string, number> = {
      accuracy: accuracyScore(test.labels, pred),
      f1: f1Score(test.labels, pred, 'macro'),
      f1_weighted: f1Score(test.labels, pred, 'weighted'),
    };
    if (new Set(y).size === 2) {
      // average_precision_score on hard predictions; for binary targets "macro" and "weighted" coincide.
      const pos = positiveLabel(test.labels);
      const ap = averagePrecision(
        test.labels.map((l) => l === pos),
        pred.map((p) => (p === pos ? 1 : 0)),
      );
      s.ap = ap;
      s.ap_weighted = ap;
    }
    perExperiment.push(s);
    opts.onExperiment?.(e + 1, plans.length);
  }
  const out: Scores = {};
  for (const key of Object.keys(perExperiment[0]!)) out[key] = npMean(perExperiment.map((s) => s[key]!));
  out.scores_per_experiment = perExperiment;
  return out;
}

/** sklearn's pos_label=1 (or "1"); otherwise the larger of the two labels. */
function positiveLabel(labels: readonly Label[]): Label {
  const set = [...new Set(labels)];
  if (set.includes(1)) return 1;
  if (set.includes('1')) return '1';
  return set.sort((a, b) => (String(a) < String(b) ? -1 : 1))[set.length - 1]!;
}
