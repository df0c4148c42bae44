// Reranking (mteb 1.38.30 RerankingEvaluator, main score `map`): samples without positives or
// negatives are dropped; queries embedded with the query side, candidates (positives then negatives,
// de-duplicated by text) with the document side; a candidate's score is its float32 cosine, the maximum
// over subqueries when a query is a list; AP (sklearn, tie groups as one step) and MRR@10 per sample,
// averaged; nAUC over each sample's candidate scores.
// MRR@10 under exact score ties: 1.38 uses a non-stable torch argsort (undefined order); here tied
// candidates keep their input order (positives first).
import type { TextEncoder } from '../encoder.js';
import { npMean } from '../numeric.js';
import { cosineToEach } from '../paired.js';
import { averagePrecision } from '../sklearn-metrics.js';
import { CONFIDENCE_FUNCTIONS, confidenceScores, nAUC } from '../trec.js';
import type { Scores } from './sts.js';

export interface RerankingSample {
  query: string | string[];
  positive: string[];
  negative: string[];
}

export async function evaluateReranking(samples: RerankingSample[], encoder: TextEncoder, mrrAtK = 10): Promise<Scores> {
  const kept = samples.filter((s) => s.positive.length > 0 && s.negative.length > 0);
  if (kept.length === 0) throw new Error('Reranking: no sample has both positives and negatives');
  const queryTexts = kept.flatMap((s) => (Array.isArray(s.query) ? s.query : [s.query]));
  const queryVecs = await encoder.encode(queryTexts, 'query', 'queries');
  const docTexts = kept.flatMap((s) => [...s.positive, ...s.negative]);
  const docVecs = await encoder.encode(docTexts, 'document', 'candidates');
  const aps: number[] = [];
  const mrrs: number[] = [];
  const conf: Record<string, number>[] = [];
  let qi = 0;
  let di = 0;
  for (const s of kept) {
    const nq = Array.isArray(s.query) ? s.query.length : 1;
    const qv = queryVecs.slice(qi, (qi += nq));
    const nd = s.positive.length + s.negative.length;
    const dv = docVecs.slice(di, (di += nd));
    const sims = new Float32Array(nd).fill(-Infinity);
    for (const q of qv) {
      const row = cosineToEach(q, dv);
      for (let j = 0; j < nd; j++) if (row[j]! > sims[j]!) sims[j] = row[j]!;
    }
    const relevant = Array.from({ length: nd }, (_, j) => j < s.positive.length);
    const order = Array.from({ length: nd }, (_, j) => j).sort((a, b) => sims[b]! - sims[a]! || a - b);
    let rr = 0;
    for (let r = 0; r < Math.min(mrrAtK, nd); r++) {
      if (relevant[order[r]!]) {
        rr = 1 / (r + 1);
        break;
      }
    }
    mrrs.push(rr);
    aps.push(averagePrecision(relevant, sims));
    conf.push(confidenceScores(sims));
  }
  const out: Scores = { map: npMean(aps), mrr: npMean(mrrs) };
  for (const [name, values] of [
    ['map', aps],
    ['mrr', mrrs],
  ] as const) {
    for (const fct of CONFIDENCE_FUNCTIONS) out[`nAUC_${name}_${fct}`] = nAUC(Float64Array.from(conf.map((c) => c[fct]!)), Float64Array.from(values));
  }
  return out;
}
