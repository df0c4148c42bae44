// STS (mteb 1.38.30 STSEvaluator): both sides embedded without a prompt type; float32 cosine,
// negated manhattan and euclidean distances; Pearson and Spearman against the normalised gold scores.
import type { TextEncoder } from '../encoder.js';
import { pearson, spearman } from '../numeric.js';
import { pairedCosine, pairedEuclidean, pairedManhattan } from '../paired.js';

export interface StsData {
  sentence1: string[];
  sentence2: string[];
  scores: number[];
}

export type Scores = Record<string, unknown>;

/** mteb's STS scores; `range` is the task's gold bounds (affine, so it only affects rounding). */
export async function evaluateSts(data: StsData, encoder: TextEncoder, range?: [number, number]): Promise<Scores> {
  const n = data.sentence1.length;
  if (n === 0) throw new Error('STS: no pairs to evaluate');
  const e1 = await encoder.encode(data.sentence1, 'query', 'sentence1');
  const e2 = await encoder.encode(data.sentence2, 'query', 'sentence2');
  const gold = range ? data.scores.map((y) => (y - range[0]) / (range[1] - range[0])) : data.scores;
  const cos = pairedCosine(e1, e2);
  const man = pairedManhattan(e1, e2).map((v) => -v);
  const euc = pairedEuclidean(e1, e2).map((v) => -v);
  const cosinePearson = pearson(gold, cos);
  const cosineSpearman = spearman(gold, cos);
  return {
    pearson: cosinePearson,
    spearman: cosineSpearman,
    cosine_pearson: cosinePearson,
    cosine_spearman: cosineSpearman,
    manhattan_pearson: pearson(gold, man),
    manhattan_spearman: spearman(gold, man),
    euclidean_pearson: pearson(gold, euc),
    euclidean_spearman: spearman(gold, euc),
  };
}
