// Retrieval (mteb 1.38.30 AbsTaskRetrieval + DenseRetrievalExactSearch, main score `ndcg_at_10`):
// corpus ids sorted descending (code-point order), queries and documents embedded with their sides,
// float32 cosine scores (both sides L2-normalised), exact top-1000 per query by (score, doc id)
// descending — the graph's TopK keeps lower indices first on ties, i.e. larger ids, which is both the
// heap's and trec_eval's rule — then `ignore_identical_ids`, trec_eval metrics, MRR and nAUC.
// The corpus is embedded and scored in chunks of 50,000 documents, as mteb does, so memory stays bounded.
import type { TextEncoder } from '../encoder.js';
import { compareCodePoints } from '../numeric.js';
import { StreamingTopK } from '../search.js';
import { retrievalScores, type QueryRun, type Qrels } from '../trec.js';
import type { Scores } from './sts.js';

export interface RetrievalData {
  /** Document ids and their texts (already joined from title and text by the task's rule). */
  corpus: { ids: string[]; texts: string[] };
  queries: { ids: string[]; texts: string[] };
  qrels: Qrels;
}

export interface RetrievalOptions {
  ignoreIdenticalIds?: boolean;
  /** Results kept per query (mteb: max k = 1000). */
  topK?: number;
  /** Documents embedded and scored per step (mteb: 50,000). */
  corpusChunkSize?: number;
  /** Adds the 2.x `hit_rate_at_k` keys. */
  hitRate?: boolean;
  onSearchProgress?: (docsDone: number, docsTotal: number) => void;
}

export async function evaluateRetrieval(data: RetrievalData, encoder: TextEncoder, opts: RetrievalOptions = {}): Promise<Scores> {
  const { corpus, queries, qrels } = data;
  if (corpus.ids.length === 0) throw new Error('Retrieval: the corpus is empty');
  if (queries.ids.length === 0) throw new Error('Retrieval: no query has relevance judgements');
  const order = Array.from({ length: corpus.ids.length }, (_, i) => i).sort((a, b) => compareCodePoints(corpus.ids[b]!, corpus.ids[a]!));
  for (let i = 1; i < order.length; i++) {
    if (corpus.ids[order[i]!] === corpus.ids[order[i - 1]!]) throw new Error(`Retrieval: document id "${corpus.ids[order[i]!]}" occurs twice in the corpus`);
  }
  const topK = opts.topK ?? 1000;
  const chunkSize = opts.corpusChunkSize ?? 50_000;
  const queryVecs = await encoder.encode(queries.texts, 'query', 'queries');
  const search = new StreamingTopK(queryVecs, topK, { normalize: true });
  for (let c = 0; c < order.length; c += chunkSize) {
    const rows = order.slice(c, c + chunkSize);
    const vecs = await encoder.encode(
      rows.map((i) => corpus.texts[i]!),
      'document',
      order.length > chunkSize ? `corpus ${c + 1}–${c + rows.length} of ${order.length}` : 'corpus',
    );
    await search.add(vecs);
    opts.onSearchProgress?.(c + rows.length, order.length);
  }
  const top = search.finish();
  const run = new Map<string, QueryRun>();
  queries.ids.forEach((qid, qi) => {
    const r = top[qi]!;
    const docIds: string[] = [];
    const scores: number[] = [];
    for (let t = 0; t < r.indices.length; t++) {
      const id = corpus.ids[order[r.indices[t]!]!]!;
      if (opts.ignoreIdenticalIds && id === qid) continue;
      docIds.push(id);
      scores.push(r.scores[t]!);
    }
    run.set(qid, { docIds, scores });
  });
  return retrievalScores(qrels, run, { hitRate: opts.hitRate });
}
