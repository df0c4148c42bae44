// Classification (mteb 1.38.30 AbsTaskClassification + logRegClassificationEvaluator): per experiment
// the training indices are shuffled in place by a fresh RandomState(42) (each experiment permutes the
// previous permutation), the first samples_per_label rows of each label are kept, a logistic regression
// (sklearn lbfgs protocol) is fitted on their embeddings and scored on the test embeddings.
import type { TextEncoder } from '../encoder.js';
import { LogisticRegression } from '../logistic-regression.js';
import { npMean } from '../numeric.js';
import { NumpyRandomState } from '../rng.js';
import { accuracyScore, averagePrecision, f1Score, sortedLabels, type Label } from '../sklearn-metrics.js';
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
      const ap = hardPredictionAp(test.labels, pred);
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

/**
 * mteb's `average_precision_score(y_test, y_pred)` for a binary test set, as sklearn computes it: the
 * larger of the two labels present is the positive class (label_binarize), and the predicted labels
 * themselves are the scores. Labels that are not numbers (sklearn would reject them) score 1 when the
 * prediction is the positive class.
 */
export function hardPredictionAp(yTrue: readonly Label[], yPred: readonly Label[]): number {
  const present = sortedLabels(yTrue);
  const positive = present.length === 2 ? present[1] : undefined; // one class present: no positives
  const numeric = [...yTrue, ...yPred].every((l) => typeof l === 'number');
  return averagePrecision(
    yTrue.map((l) => l === positive),
    yPred.map((p) => (numeric ? (p as number) : p === positive ? 1 : 0)),
  );
}
