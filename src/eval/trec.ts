// Retrieval metrics with trec_eval 9.0.8 semantics (as pytrec_eval computes them for mteb): nDCG@k,
// MAP@k, P@k, Recall@k, success@k, plus mteb's own MRR@k and the nAUC abstention metrics.
// Rules: mteb-semantics.md §1.3–1.5.
import { compareCodePoints, npMean, npStd, pairwiseSum, pythonRound, pythonSum } from './numeric.js';

/** mteb's retrieval cut-offs. */
export const K_VALUES: readonly number[] = [1, 3, 5, 10, 20, 100, 1000];

/** Relevance judgements: query id → doc id → integer relevance. */
export type Qrels = Map<string, Map<string, number>>;

/** One query's retrieved docs with their scores (any order; trec_eval sorts them itself). */
export interface QueryRun {
  docIds: readonly string[];
  scores: ArrayLike<number>;
}

/** Per-query metric values, one entry per k in the k list. */
export interface QueryMetrics {
  ndcg: number[];
  map: number[];
  recall: number[];
  precision: number[];
  success: number[];
  mrr: number[];
}

/**
 * The order trec_eval ranks a query's results in: score descending, ties broken by doc id descending
 * in byte order (form_res_rels.c). Returns indices into the run.
 */
export function trecOrder(run: QueryRun): number[] {
  const order = Array.from({ length: run.docIds.length }, (_, i) => i);
  const { scores, docIds } = run;
  order.sort((a, b) => scores[b]! - scores[a]! || compareCodePoints(docIds[b]!, docIds[a]!));
  return order;
}

/** trec_eval's measures for one query. `relevanceLevel` is trec_eval's -l (mteb: 1). */
export function queryMetrics(rels: ReadonlyMap<string, number>, run: QueryRun, kValues: readonly number[] = K_VALUES, relevanceLevel = 1): QueryMetrics {
  const order = trecOrder(run);
  let numRel = 0;
  const positiveGains: number[] = [];
  for (const r of rels.values()) {
    if (r >= relevanceLevel) numRel++;
    if (r > 0) positiveGains.push(r);
  }
  positiveGains.sort((a, b) => b - a);

  const maxK = Math.max(...kValues);
  const depth = Math.min(order.length, maxK);
  // Prefix sums over ranks 1..depth.
  const relRetrieved = new Float64Array(depth + 1); // # relevant docs in ranks 1..r
  const dcg = new Float64Array(depth + 1);
  const apSum = new Float64Array(depth + 1); // Σ precision at each relevant rank ≤ r
  let firstRelevant = 0; // rank of the first doc with rel > 0 (mteb's MRR relevance), 0 = none
  for (let r = 1; r <= depth; r++) {
    const rel = rels.get(run.docIds[order[r - 1]!]!) ?? 0;
    const isRel = rel >= relevanceLevel;
    relRetrieved[r] = relRetrieved[r - 1]! + (isRel ? 1 : 0);
    dcg[r] = dcg[r - 1]! + (rel > 0 ? rel / Math.log2(r + 1) : 0);
    apSum[r] = apSum[r - 1]! + (isRel ? relRetrieved[r]! / r : 0);
    if (rel > 0 && firstRelevant === 0) firstRelevant = r;
  }
  const out: QueryMetrics = { ndcg: [], map: [], recall: [], precision: [], success: [], mrr: [] };
  for (const k of kValues) {
    const c = Math.min(k, depth);
    let idcg = 0;
    for (let r = 1; r <= Math.min(k, positiveGains.length); r++) idcg += positiveGains[r - 1]! / Math.log2(r + 1);
    out.ndcg.push(idcg > 0 ? dcg[c]! / idcg : 0);
    out.map.push(numRel > 0 ? apSum[c]! / numRel : 0);
    out.recall.push(numRel > 0 ? relRetrieved[c]! / numRel : 0);
    out.precision.push(relRetrieved[c]! / k);
    out.success.push(relRetrieved[c]! > 0 ? 1 : 0);
    out.mrr.push(firstRelevant > 0 && firstRelevant <= k ? 1 / firstRelevant : 0);
  }
  return out;
}

export interface RetrievalMetricsOptions {
  kValues?: readonly number[];
  /** Adds `hit_rate_at_k` (mteb 2.x). Default false (1.38.30 keys). */
  hitRate?: boolean;
  /** Adds the nauc_* keys (default true, as 1.38.30 writes them). */
  nauc?: boolean;
}

/**
 * mteb's retrieval scores from qrels and a run: trec_eval means rounded to 5 decimals, MRR means
 * (not pre-rounded), nAUC keys. Queries are evaluated in run order; queries absent from the qrels
 * are skipped, as pytrec_eval does.
 */
export function retrievalScores(qrels: Qrels, run: ReadonlyMap<string, QueryRun>, opts: RetrievalMetricsOptions = {}): Record<string, number> {
  const kValues = opts.kValues ?? K_VALUES;
  const evaluated: string[] = [];
  const per: QueryMetrics[] = [];
  for (const [qid, qrun] of run) {
    const rels = qrels.get(qid);
    if (!rels) continue;
    evaluated.push(qid);
    per.push(queryMetrics(rels, qrun, kValues));
  }
  if (per.length === 0) throw new Error('retrieval: no query of the run has relevance judgements; nothing to evaluate');
  const column = (name: keyof QueryMetrics, ki: number) => per.map((m) => m[name][ki]!);
  const scores: Record<string, number> = {};
  const families: [keyof QueryMetrics, string][] = [
    ['ndcg', 'ndcg'],
    ['map', 'map'],
    ['recall', 'recall'],
    ['precision', 'precision'],
  ];
  for (const [field, key] of families) {
    kValues.forEach((k, ki) => {
      scores[`${key}_at_${k}`] = pythonRound(pythonSum(column(field, ki)) / per.length, 5);
    });
  }
  kValues.forEach((k, ki) => {
    scores[`mrr_at_${k}`] = pythonSum(column('mrr', ki)) / per.length;
  });
  if (opts.hitRate) {
    kValues.forEach((k, ki) => {
      scores[`hit_rate_at_${k}`] = pythonRound(pythonSum(column('success', ki)) / per.length, 5);
    });
  }
  if (opts.nauc ?? true) {
    const conf = evaluated.map((q) => confidenceScores(run.get(q)!.scores));
    for (const [field, key] of [...families, ['mrr', 'mrr'] as [keyof QueryMetrics, string]]) {
      kValues.forEach((k, ki) => {
        const metric = Float64Array.from(column(field, ki));
        for (const fct of CONFIDENCE_FUNCTIONS) {
          scores[`nauc_${key}_at_${k}_${fct}`] = nAUC(Float64Array.from(conf.map((c) => c[fct])), metric);
        }
      });
    }
  }
  return scores;
}

export const CONFIDENCE_FUNCTIONS = ['max', 'std', 'diff1'] as const;
export type ConfidenceFunction = (typeof CONFIDENCE_FUNCTIONS)[number];

/** mteb's confidence scores of one query's retrieved (or candidate) scores. */
export function confidenceScores(scores: ArrayLike<number>): Record<ConfidenceFunction, number> {
  const sorted = Array.from(scores).sort((a, b) => b - a);
  return {
    max: sorted[0] ?? NaN,
    std: npStd(scores),
    diff1: sorted.length > 1 ? sorted[0]! - sorted[1]! : 0,
  };
}

/** np.linspace(0, 1, 11)[:-1]: i·0.1, with NumPy's rounding. */
export const ABSTENTION_RATES: readonly number[] = Array.from({ length: 10 }, (_, i) => i * 0.1);

function stableArgsort(a: Float64Array): number[] {
  const idx = Array.from({ length: a.length }, (_, i) => i);
  idx.sort((i, j) => a[i]! - a[j]! || i - j);
  return idx;
}

function abstentionCurve(conf: Float64Array, metrics: Float64Array): Float64Array {
  const order = stableArgsort(conf);
  const n = conf.length;
  const curve = new Float64Array(ABSTENTION_RATES.length);
  ABSTENTION_RATES.forEach((rate, i) => {
    const drop = Math.min(pythonRound(rate * n, 0), n - 1);
    const kept = new Float64Array(n - drop);
    for (let t = drop; t < n; t++) kept[t - drop] = metrics[order[t]!]!;
    curve[i] = npMean(kept);
  });
  return curve;
}

/** sklearn.metrics.auc (np.trapz). */
function trapezoid(x: readonly number[], y: Float64Array): number {
  const terms = new Float64Array(x.length - 1);
  for (let i = 0; i < terms.length; i++) terms[i] = ((x[i + 1]! - x[i]!) * (y[i + 1]! + y[i]!)) / 2.0;
  return pairwiseSum(terms);
}

/** Normalised area under the abstention curve (mteb's nAUC, arXiv 2402.12997). NaN when the oracle is flat. */
export function nAUC(conf: Float64Array, metrics: Float64Array): number {
  const curve = abstentionCurve(conf, metrics);
  const oracle = abstentionCurve(metrics, metrics);
  const auc = trapezoid(ABSTENTION_RATES, curve);
  const oracleAuc = trapezoid(ABSTENTION_RATES, oracle);
  const flat = oracle[0]! * (ABSTENTION_RATES[ABSTENTION_RATES.length - 1]! - ABSTENTION_RATES[0]!);
  if (oracleAuc === flat) return NaN;
  return (auc - flat) / (oracleAuc - flat);
}
