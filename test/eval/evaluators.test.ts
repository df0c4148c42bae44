// The per-type evaluators on fixed vectors, checked against values worked by hand from mteb's rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestAccuracy, bestF1, evaluatePairClassification } from '../../src/eval/evaluators/pair-classification.js';
import { evaluateSts } from '../../src/eval/evaluators/sts.js';
import { evaluateSummarization } from '../../src/eval/evaluators/summarization.js';
import { evaluateReranking } from '../../src/eval/evaluators/reranking.js';
import { evaluateRetrieval } from '../../src/eval/evaluators/retrieval.js';
import { evaluateClassification, hardPredictionAp, undersamplingPlan } from '../../src/eval/evaluators/classification.js';
import { evaluateFastClustering, evaluateLegacyClustering } from '../../src/eval/evaluators/clustering.js';
import { pairedCosine, pairedEuclidean, pairedManhattan } from '../../src/eval/paired.js';
import { PythonRandom } from '../../src/eval/rng.js';
import { queryMetrics } from '../../src/eval/trec.js';
import { FixedEncoder, vec } from './helpers.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const f = Math.fround;

test('pair classification: stable similar-first order, last row never a cut, strict improvement, float32 midpoints', () => {
  const scores = Float32Array.from([0.9, 0.8, 0.8, 0.3, 0.1]);
  const labels = [1, 0, 1, 1, 0];
  // Cuts after rows 0..3 (tied rows 1, 2 keep input order): accuracies 0.6, 0.4, 0.6, 0.8.
  const acc = bestAccuracy(scores, labels, true);
  assert.equal(acc.accuracy, 0.8);
  assert.equal(acc.threshold, f(f(f(0.3) + f(0.1)) / 2));
  // F1 after rows 0..3: 0.5, 0.4, 2/3, 6/7 (P 3/4, R 1).
  const f1 = bestF1(scores, labels, true);
  close(f1.f1, 6 / 7);
  assert.equal(f1.precision, 0.75);
  assert.equal(f1.recall, 1);
  // Swapping the tied rows' labels changes the result: ties are not grouped, input order decides.
  const swapped = bestAccuracy(scores, [1, 1, 0, 1, 0], true);
  assert.equal(swapped.accuracy, 0.8);
  assert.equal(swapped.threshold, f(f(f(0.8) + f(0.8)) / 2));
  // Distances: lower is more similar; the same rows in ascending order.
  const dist = bestAccuracy(Float32Array.from([0.1, 0.2, 0.2, 0.7, 0.9]), labels, false);
  assert.equal(dist.accuracy, 0.8);
});

test('pair classification keys, families and max_* over them', async () => {
  const table = new Map([
    ['a', vec(1, 0)],
    ['a2', vec(2, 0.1)],
    ['b', vec(0, 1)],
    ['c', vec(1, 1)],
  ]);
  const enc = new FixedEncoder(table);
  const s = await evaluatePairClassification({ sentence1: ['a', 'a', 'b', 'c'], sentence2: ['a2', 'b', 'c', 'a'], labels: [1, 0, 1, 1] }, enc);
  const families = ['similarity', 'cosine', 'manhattan', 'euclidean', 'dot'];
  const metrics = ['accuracy', 'accuracy_threshold', 'f1', 'f1_threshold', 'precision', 'recall', 'ap'];
  assert.deepEqual(Object.keys(s), [...families.flatMap((fam) => metrics.map((m) => `${fam}_${m}`)), 'max_accuracy', 'max_f1', 'max_precision', 'max_recall', 'max_ap']);
  assert.equal(s.similarity_ap, s.cosine_ap);
  assert.equal(s.max_ap, Math.max(...families.map((fam) => s[`${fam}_ap`] as number)));
  assert.deepEqual(enc.sides, ['query'], 'distinct texts embedded once, without a document side');
});

test('STS: float32 paired scores and correlations; gold normalisation does not change them', async () => {
  const e1 = [vec(1, 0, 0), vec(1, 1, 0), vec(0, 1, 1), vec(3, 0, 4)];
  const e2 = [vec(1, 0.1, 0), vec(0, 1, 0), vec(0, 0.2, 1), vec(0, 4, 3)];
  const cos = pairedCosine(e1, e2);
  // 1 − ½‖â − b̂‖² equals the cosine up to float32 rounding.
  close(cos[3]!, 12 / 25, 1e-6);
  assert.equal(pairedManhattan([vec(1, 2)], [vec(3, -1)])[0], 5);
  assert.equal(pairedEuclidean([vec(0, 0)], [vec(3, 4)])[0], 5);
  const table = new Map<string, Float32Array>();
  e1.forEach((v, i) => table.set(`s1-${i}`, v));
  e2.forEach((v, i) => table.set(`s2-${i}`, v));
  const data = { sentence1: e1.map((_, i) => `s1-${i}`), sentence2: e2.map((_, i) => `s2-${i}`), scores: [5, 3, 2, 1] };
  const a = await evaluateSts(data, new FixedEncoder(table), [0, 5]);
  const b = await evaluateSts(data, new FixedEncoder(table));
  assert.deepEqual(Object.keys(a), ['pearson', 'spearman', 'cosine_pearson', 'cosine_spearman', 'manhattan_pearson', 'manhattan_spearman', 'euclidean_pearson', 'euclidean_spearman']);
  close(a.cosine_spearman as number, b.cosine_spearman as number);
  close(a.cosine_pearson as number, b.cosine_pearson as number, 1e-12);
  // Cosines: 0.995, 0.707, 0.832, 0.48 → order 0, 2, 1, 3.
  const order = [...cos].map((c, i) => [c, i] as const).sort((x, y) => y[0] - x[0]).map(([, i]) => i);
  assert.deepEqual(order, [0, 2, 1, 3]);
  // Spearman of gold (5,3,2,1) → ranks (4,3,2,1) with cosine ranks (4,2,3,1): Σd² = 2 → 1 − 6·2/(4·15) = 0.8.
  close(a.cosine_spearman as number, 0.8, 1e-12);
});

test('summarization: max cosine to the human summaries, per-document Spearman, constant documents skipped', async () => {
  const table = new Map([
    ['h1', vec(1, 0)],
    ['h2', vec(0, 1)],
    ['m-good', vec(1, 0.05)],
    ['m-mid', vec(1, 0.8)],
    ['m-bad', vec(-1, -1)],
    ['m-x', vec(1, 0)],
  ]);
  const docs = [
    { human: ['h1', 'h2'], machine: ['m-good', 'm-mid', 'm-bad'], relevance: [5, 3, 1] },
    { human: ['h1'], machine: ['m-good', 'm-x'], relevance: [2, 2] }, // constant human scores → skipped
  ];
  const s = await evaluateSummarization(docs, new FixedEncoder(table), [0, 5]);
  assert.deepEqual(Object.keys(s), ['pearson', 'spearman', 'cosine_spearman', 'cosine_pearson', 'dot_spearman', 'dot_pearson']);
  close(s.cosine_spearman as number, 1); // cos_max: good ≈ 0.9988 > mid ≈ 0.78 > bad ≈ −0.71, matching 5 > 3 > 1
  // dot_max: good 1, mid 1 (a tie → average ranks 2.5, 2.5), bad −1: ranks (3,2,1) vs (2.5,2.5,1) → r = 1.5/√3.
  close(s.dot_spearman as number, 1.5 / Math.sqrt(3));
});

test('reranking: per-sample AP and MRR@10, max over subqueries, samples without negatives dropped', async () => {
  const table = new Map([
    ['q', vec(1, 0)],
    ['q-alt', vec(0, 1)],
    ['p1', vec(1, 0.1)], // cos ≈ 0.995
    ['p2', vec(0.2, 1)], // cos ≈ 0.196 to q; ≈ 0.98 to q-alt
    ['n1', vec(1, 0.5)], // ≈ 0.894
    ['n2', vec(-1, 0)],
  ]);
  const enc = new FixedEncoder(table);
  const s = await evaluateReranking(
    [
      { query: 'q', positive: ['p1', 'p2'], negative: ['n1', 'n2'] }, // ranking p1, n1, p2, n2 → AP (1 + 2/3)/2, RR 1
      { query: 'q', positive: ['p2'], negative: ['n1', 'p1'] }, // p1 as a negative: ranking p1, n1, p2 → AP 1/3, RR 1/3
      { query: ['q', 'q-alt'], positive: ['p2'], negative: ['n1'] }, // max over subqueries: p2 0.98 > n1 0.894 → AP 1, RR 1
      { query: 'q', positive: ['p1'], negative: [] }, // dropped
    ],
    enc,
  );
  close(s.map as number, ((1 + 2 / 3) / 2 + 1 / 3 + 1) / 3);
  close(s.mrr as number, (1 + 1 / 3 + 1) / 3);
  assert.deepEqual(enc.sides, ['query', 'document']);
  assert.deepEqual(Object.keys(s).slice(0, 2), ['map', 'mrr']);
  assert.ok('nAUC_map_max' in s && 'nAUC_mrr_diff1' in s, '\'nAUC_map_max\' in s && \'nAUC_mrr_diff1\' in s');
});

test('retrieval: ids sorted descending so tied documents rank by larger id; ignore_identical_ids after top-k', async () => {
  const table = new Map([
    ['q1 text', vec(1, 0)],
    ['doc A', vec(1, 0.2)],
    ['doc B', vec(1, 0.2)], // identical to A: an exact tie
    ['doc C', vec(0, 1)],
    ['self', vec(1, 0)],
  ]);
  const data = {
    corpus: { ids: ['a', 'b', 'c', 'q1'], texts: ['doc A', 'doc B', 'doc C', 'self'] },
    queries: { ids: ['q1'], texts: ['q1 text'] },
    qrels: new Map([['q1', new Map([['a', 1]])]]),
  };
  const enc = new FixedEncoder(table);
  const kept = await evaluateRetrieval(data, enc);
  // Ranking: q1 (self, 1.0), then b before a (tie → larger id), then c.
  const expected = queryMetrics(data.qrels.get('q1')!, { docIds: ['q1', 'b', 'a', 'c'], scores: [1, 0.9, 0.9, 0] });
  assert.equal(kept.ndcg_at_3, Math.round(expected.ndcg[1]! * 1e5) / 1e5);
  assert.equal(kept.mrr_at_10, 1 / 3);
  const ignored = await evaluateRetrieval(data, enc, { ignoreIdenticalIds: true });
  assert.equal(ignored.mrr_at_10, 1 / 2);
  assert.equal(ignored.recall_at_1, 0);
  assert.deepEqual(enc.sides.slice(0, 2), ['query', 'document']);
  assert.equal(Object.keys(kept).filter((k) => k.startsWith('nauc_')).length, 5 * 7 * 3);
});

test('classification undersampling reproduces NumPy: each experiment reshuffles the previous order with RandomState(42)', () => {
  const labels = Array.from({ length: 20 }, (_, i) => i); // one row per label → the plan is the permutation
  const plans = undersamplingPlan(labels, 1, 2);
  assert.deepEqual(plans[0], [0, 17, 15, 1, 8, 5, 11, 3, 18, 16, 13, 2, 9, 19, 4, 12, 7, 10, 14, 6]);
  const ten = undersamplingPlan(Array.from({ length: 10 }, (_, i) => i), 1, 3);
  assert.deepEqual(ten, [
    [8, 1, 5, 0, 7, 2, 9, 4, 3, 6],
    [3, 1, 2, 8, 4, 5, 6, 7, 0, 9],
    [0, 1, 5, 3, 7, 2, 9, 4, 8, 6],
  ]);
  // samples_per_label keeps the first k rows of each label in shuffled order.
  const two = undersamplingPlan(['x', 'y', 'x', 'y', 'x', 'y', 'x', 'y', 'x', 'y'], 2, 1)[0]!;
  assert.deepEqual(two, [8, 1, 5, 0]);
});

test('classification evaluator: accuracy/F1 per experiment and averaged; ap keys only for binary training data', async () => {
  const rows = Array.from({ length: 40 }, (_, i) => ({ text: `t${i}`, label: i % 2 }));
  const table = (t: string) => (Number(t.slice(1)) % 2 ? vec(1, 0.1 * (Number(t.slice(1)) % 5)) : vec(-1, 0.1 * (Number(t.slice(1)) % 3)));
  const train = { texts: rows.map((r) => r.text), labels: rows.map((r) => r.label) };
  const test = { texts: ['t100', 't101', 't102', 't103'], labels: [0, 1, 0, 1] };
  const s = await evaluateClassification(train, test, new FixedEncoder(table), { samplesPerLabel: 8, nExperiments: 3 });
  assert.deepEqual(Object.keys(s), ['accuracy', 'f1', 'f1_weighted', 'ap', 'ap_weighted', 'scores_per_experiment']);
  assert.equal(s.accuracy, 1);
  assert.equal((s.scores_per_experiment as unknown[]).length, 3);
  const three = await evaluateClassification(
    { texts: train.texts, labels: rows.map((_, i) => i % 3) },
    { texts: test.texts, labels: [0, 1, 2, 0] },
    new FixedEncoder(table),
    { samplesPerLabel: 4, nExperiments: 1 },
  );
  assert.ok(!('ap' in three), '!(\'ap\' in three)');
});

test('classification ap: sklearn average_precision_score(y_test, y_pred): the larger label is positive, predictions are the scores', () => {
  // {0, 1}: positive 1. Scores = predictions: t=1 → rows 0, 2 (TP 1: P 1/2, R 1/2); t=0 → all (P 1/2, R 1) → AP 1/2.
  close(hardPredictionAp([1, 0, 0, 1], [1, 1, 0, 0]), 0.5);
  // {1, 2}: label_binarize makes 2 the positive class, scored by the predicted label values.
  // Truth [2,2,2,1], predictions [2,2,1,1]: t=2 → TP 2 of 2 (P 1, R 2/3); t=1 → TP 3 of 4 (P 3/4, R 1) → 2/3 + 1/4.
  close(hardPredictionAp([2, 2, 2, 1], [2, 2, 1, 1]), 2 / 3 + 1 / 4);
  // Text labels: the larger one is positive, a prediction of it scores 1.
  close(hardPredictionAp(['pos', 'pos', 'pos', 'neg'], ['pos', 'pos', 'neg', 'neg']), 2 / 3 + 1 / 4);
  close(hardPredictionAp(['neg', 'neg', 'neg', 'pos'], ['neg', 'neg', 'pos', 'pos']), 0.5);
});

test('fast clustering: Python Random(42) picks the documents, one v-measure list per label level', async () => {
  const docs = Array.from({ length: 50 }, (_, i) => `doc${i}`);
  const labels = docs.map((_, i) => [`top${i % 2}`, `sub${i % 4}`]);
  const table = (t: string) => {
    const i = Number(t.slice(3));
    return vec((i % 2) * 10 + ((i % 4) >> 1), 1);
  };
  const seen: string[] = [];
  const enc = new FixedEncoder((t) => {
    seen.push(t);
    return table(t);
  });
  const s = await evaluateFastClustering({ sentences: docs, labels }, enc, { maxFraction: 0.5, nRuns: 2, clusterSize: 64 });
  assert.deepEqual(
    seen,
    new PythonRandom(42).sample(50, 25).map((i) => docs[i]),
  );
  const levels = s.v_measures as Record<string, number[]>;
  assert.deepEqual(Object.keys(levels), ['Level 0', 'Level 1']);
  assert.ok(levels['Level 0']!.every((v) => Math.abs(v - 1) < 1e-12), 'levels[\'Level 0\']!.every((v) => Math.abs(v - 1) < 1e-12)');
  assert.deepEqual(Object.keys(s), ['v_measures', 'v_measure', 'v_measure_std']);
});

test('legacy clustering: one v-measure per cluster set, mean and population std', async () => {
  const enc = new FixedEncoder((t) => (t.startsWith('a') ? vec(0, 0, 1) : t.startsWith('b') ? vec(5, 5, 0) : vec(-5, 5, 0)));
  const sets = [
    { sentences: ['a1', 'a2', 'b1', 'b2', 'c1', 'c2'], labels: ['A', 'A', 'B', 'B', 'C', 'C'] },
    { sentences: ['a3', 'b3', 'c3', 'a4'], labels: [1, 1, 2, 2] }, // labels that disagree with the geometry
  ];
  const s = await evaluateLegacyClustering(sets, enc);
  const vs = s.v_measures as number[];
  assert.equal(vs.length, 2);
  assert.ok(Math.abs(vs[0]! - 1) < 1e-12, 'Math.abs(vs[0]! - 1) < 1e-12');
  assert.ok(vs[1]! < 1, 'vs[1]! < 1');
  close(s.v_measure as number, (vs[0]! + vs[1]!) / 2);
  close(s.v_measure_std as number, Math.abs(vs[0]! - vs[1]!) / 2);
  assert.deepEqual(Object.keys(s), ['v_measure', 'v_measure_std', 'v_measures']);
});
