// Summarization (mteb 1.38.30 SummarizationEvaluator): each machine summary is scored by its maximum
// float32 cosine (and dot product) to the document's human summaries; per document Spearman and
// Pearson against the human relevance scores; documents with constant inputs are skipped; mean over documents.
import type { TextEncoder } from '../encoder.js';
import { npMean, pearson, spearman } from '../numeric.js';
import { cosineToEach, dotToEach } from '../paired.js';
import type { Scores } from './sts.js';

export interface SummarizationDoc {
  human: string[];
  machine: string[];
  /** Human relevance score per machine summary. */
  relevance: number[];
}

function maxOf(a: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i]! > m) m = a[i]!;
  return m;
}

export async function evaluateSummarization(docs: SummarizationDoc[], encoder: TextEncoder, range?: [number, number]): Promise<Scores> {
  if (docs.length === 0) throw new Error('Summarization: no documents to evaluate');
  const human = await encoder.encode(docs.flatMap((d) => d.human), 'query', 'human summaries');
  const machine = await encoder.encode(docs.flatMap((d) => d.machine), 'query', 'machine summaries');
  const cosS: number[] = [];
  const cosP: number[] = [];
  const dotS: number[] = [];
  const dotP: number[] = [];
  let hi = 0;
  let mi = 0;
  for (const doc of docs) {
    const h = human.slice(hi, (hi += doc.human.length));
    const m = machine.slice(mi, (mi += doc.machine.length));
    const gold = range ? doc.relevance.map((y) => (y - range[0]) / (range[1] - range[0])) : doc.relevance;
    const cosMax = m.map((v) => maxOf(cosineToEach(v, h)));
    const dotMax = m.map((v) => maxOf(dotToEach(v, h)));
    if (new Set(gold).size === 1 || new Set(dotMax).size === 1 || new Set(cosMax).size === 1) continue;
    cosS.push(spearman(gold, cosMax));
    cosP.push(pearson(gold, cosMax));
    dotS.push(spearman(gold, dotMax));
    dotP.push(pearson(gold, dotMax));
  }
  return {
    pearson: npMean(cosP),
    spearman: npMean(cosS),
    cosine_spearman: npMean(cosS),
    cosine_pearson: npMean(cosP),
    dot_spearman: npMean(dotS),
    dot_pearson: npMean(dotP),
  };
}
