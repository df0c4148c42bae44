// trec_eval semantics: hand-worked cases (tie rule included), a brute-force cross-check written from the
// metric definitions, aggregation over queries, MRR and nAUC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nAUC, queryMetrics, retrievalScores, trecOrder, type QueryRun, type Qrels } from '../../src/eval/trec.js';
import { lcg } from './helpers.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

// qrels: d1 rel 2, d2 rel 1, d3 judged non-relevant, d4 rel 1 (never retrieved); R = 3.
const rels = new Map([
  ['d1', 2],
  ['d2', 1],
  ['d3', 0],
  ['d4', 1],
]);
// d1 and d3 tie at 0.8: trec_eval puts the larger doc id (d3) first.
const run: QueryRun = { docIds: ['d1', 'd5', 'd2', 'd3'], scores: [0.8, 0.9, 0.5, 0.8] };

test('ranking: score descending, ties by doc id descending (byte order)', () => {
  assert.deepEqual(
    trecOrder(run).map((i) => run.docIds[i]),
    ['d5', 'd3', 'd1', 'd2'],
  );
  assert.deepEqual(
    trecOrder({ docIds: ['doc10', 'doc9', 'doc2'], scores: [1, 1, 1] }).map((i) => ['doc10', 'doc9', 'doc2'][i]),
    ['doc9', 'doc2', 'doc10'],
  );
});

test('nDCG, MAP, P, Recall, success and MRR at cut-offs on the hand-worked query', () => {
  const m = queryMetrics(rels, run, [1, 3, 5]);
  // Ranks: 1 d5 (unjudged), 2 d3 (0), 3 d1 (2), 4 d2 (1).
  const idcg3 = 2 / Math.log2(2) + 1 / Math.log2(3) + 1 / Math.log2(4); // gains 2, 1, 1 (d4 counts though not retrieved)
  close(m.ndcg[0]!, 0);
  close(m.ndcg[1]!, 2 / Math.log2(4) / idcg3); // linear gain: rel 2 contributes 2, not 2^2 − 1
  close(m.ndcg[2]!, (2 / Math.log2(4) + 1 / Math.log2(5)) / idcg3);
  close(m.map[1]!, 1 / 3 / 3); // R = 3, not capped at k
  close(m.map[2]!, (1 / 3 + 2 / 4) / 3);
  assert.deepEqual(m.precision, [0, 1 / 3, 2 / 5]); // P@5 counts the missing 5th rank as non-relevant
  assert.deepEqual(m.recall, [0, 1 / 3, 2 / 3]);
  assert.deepEqual(m.success, [0, 1, 1]);
  assert.deepEqual(m.mrr, [0, 1 / 3, 1 / 3]);
  // With the opposite tie rule d1 would be at rank 2 and nDCG@3 would differ.
  const flipped = queryMetrics(rels, { docIds: ['d1', 'd5', 'd2', 'd3'], scores: [0.80001, 0.9, 0.5, 0.8] }, [3]);
  assert.notEqual(flipped.ndcg[0], m.ndcg[1]);
});

test('queries whose judgements are all 0 score 0 and count; unjudged run queries and unretrieved qrels queries are skipped', () => {
  const qrels: Qrels = new Map([
    ['q1', rels],
    ['q2', new Map([['d9', 0]])],
    ['q3', new Map([['d1', 1]])], // judged but not in the run → not evaluated at all
  ]);
  const runs = new Map<string, QueryRun>([
    ['q1', run],
    ['q2', { docIds: ['d9'], scores: [0.7] }],
    ['q4', { docIds: ['d1'], scores: [0.1] }], // no judgements → skipped
  ]);
  const s = retrievalScores(qrels, runs, { kValues: [1, 3, 5], nauc: false });
  const q1 = queryMetrics(rels, run, [1, 3, 5]);
  // Means over the two evaluated queries (q1, q2), rounded to 5 decimals; MRR not pre-rounded.
  assert.equal(s.ndcg_at_3, Math.round((q1.ndcg[1]! / 2) * 1e5) / 1e5);
  assert.equal(s.map_at_5, Math.round((q1.map[2]! / 2) * 1e5) / 1e5);
  assert.equal(s.precision_at_5, 0.2);
  assert.equal(s.mrr_at_3, 1 / 3 / 2);
  assert.deepEqual(Object.keys(s), [
    'ndcg_at_1', 'ndcg_at_3', 'ndcg_at_5', 'map_at_1', 'map_at_3', 'map_at_5', 'recall_at_1', 'recall_at_3', 'recall_at_5',
    'precision_at_1', 'precision_at_3', 'precision_at_5', 'mrr_at_1', 'mrr_at_3', 'mrr_at_5',
  ]);
  const withHit = retrievalScores(qrels, runs, { kValues: [1, 3], nauc: false, hitRate: true });
  assert.equal(withHit.hit_rate_at_3, 0.5);
});

/** Brute force from the definitions: sort, then count per cut-off with no prefix sums. */
function reference(relMap: Map<string, number>, r: QueryRun, k: number) {
  const idx = r.docIds.map((_, i) => i).sort((a, b) => r.scores[b]! - r.scores[a]! || (r.docIds[a]! < r.docIds[b]! ? 1 : -1));
  const top = idx.slice(0, k).map((i) => relMap.get(r.docIds[i]!) ?? 0);
  const R = [...relMap.values()].filter((v) => v >= 1).length;
  let dcg = 0;
  top.forEach((g, i) => (dcg += g > 0 ? g / Math.log2(i + 2) : 0));
  const ideal = [...relMap.values()].filter((v) => v > 0).sort((a, b) => b - a).slice(0, k);
  let idcg = 0;
  ideal.forEach((g, i) => (idcg += g / Math.log2(i + 2)));
  let hits = 0;
  let ap = 0;
  top.forEach((g, i) => {
    if (g >= 1) {
      hits++;
      ap += hits / (i + 1);
    }
  });
  const first = top.findIndex((g) => g > 0);
  return { ndcg: idcg ? dcg / idcg : 0, map: R ? ap / R : 0, recall: R ? hits / R : 0, precision: hits / k, mrr: first >= 0 ? 1 / (first + 1) : 0 };
}

test('random queries agree with a brute-force implementation of the definitions (ties and grades included)', () => {
  const rnd = lcg(11);
  for (let q = 0; q < 200; q++) {
    const n = 1 + Math.floor(rnd() * 40);
    const docIds = Array.from({ length: n }, (_, i) => `d${Math.floor(rnd() * 1000)}_${i}`);
    const scores = docIds.map(() => Math.round(rnd() * 8) / 8); // many exact ties
    const relMap = new Map<string, number>();
    for (const id of docIds) if (rnd() < 0.4) relMap.set(id, Math.floor(rnd() * 3));
    if (rnd() < 0.5) relMap.set(`unretrieved${q}`, 1 + Math.floor(rnd() * 2));
    const ks = [1, 3, 5, 10, 20];
    const m = queryMetrics(relMap, { docIds, scores }, ks);
    ks.forEach((k, ki) => {
      const ref = reference(relMap, { docIds, scores }, k);
      close(m.ndcg[ki]!, ref.ndcg, 1e-12);
      close(m.map[ki]!, ref.map, 1e-12);
      close(m.recall[ki]!, ref.recall, 1e-12);
      close(m.precision[ki]!, ref.precision, 1e-12);
      close(m.mrr[ki]!, ref.mrr, 1e-12);
    });
  }
});

test('nAUC on a hand-worked example', () => {
  // Per-query metric m and confidence c; abstention drops min(round(rate·4), 3) lowest-confidence queries.
  const m = Float64Array.from([1, 0, 0.5, 0]);
  const c = Float64Array.from([0.1, 0.9, 0.5, 0.2]);
  // Curve (sorted by c: metrics 1, 0, 0.5, 0): [3/8, 3/8, 1/6, 1/6, 1/4, 1/4, 1/4, 0, 0, 0] → AUC 79/480.
  // Oracle (sorted by m): [3/8, 3/8, 1/2, 1/2, 3/4, 3/4, 3/4, 1, 1, 1] → AUC 101/160; flat = 3/8·0.9.
  close(nAUC(c, m), (79 / 480 - 0.3375) / (101 / 160 - 0.3375), 1e-12);
  // Confidence ordered like the metric → the oracle curve itself → 1.
  close(nAUC(Float64Array.from([0.9, 0.1, 0.5, 0.2]), m), 1, 1e-12);
  // A flat oracle (all metrics equal) → NaN, as mteb.
  assert.ok(Number.isNaN(nAUC(c, Float64Array.from([0.5, 0.5, 0.5, 0.5]))), 'Number.isNaN(nAUC(c, Float64Array.from([0.5, 0.5, 0.5, 0.5])))');
});
