// Clustering.
// - Fast (mteb 1.38.30 AbsTaskClusteringFast): a Python Random(42) picks ⌊fraction·N⌋ documents
//   (sample order), which are embedded; per label level, 10 bootstrap draws of 16,384 rows with
//   replacement (rng.choices) are clustered by MiniBatchKMeans(k = labels at that level, batch 512)
//   and scored by v-measure. The k-means follows mteb 2.x: each fit starts from RandomState(42); 1.38
//   used the unseeded global NumPy RNG, which no implementation can reproduce (about 0.01 v-measure).
// - Legacy (AbsTaskClustering, C-MTEB): each row is a set of sentences; MiniBatchKMeans(k = labels,
//   batch 500) with the NumPy RNG reseeded to 42 (exactly mteb's behaviour), v-measure per set.
import type { TextEncoder } from '../encoder.js';
import { miniBatchKMeans } from '../kmeans.js';
import { npMean, npStd } from '../numeric.js';
import { NumpyRandomState, PythonRandom } from '../rng.js';
import { vMeasure, type Label } from '../sklearn-metrics.js';
import type { Scores } from './sts.js';

export interface FastClusteringData {
  sentences: string[];
  /** Label path per document (one entry per hierarchy level). */
  labels: string[][];
}

export interface FastClusteringOptions {
  /** Fraction of documents embedded (default 0.04); null embeds all. */
  maxFraction?: number | null;
  /** Bootstrap runs per level (default 10). */
  nRuns?: number;
  /** Rows per bootstrap draw (default 16,384). */
  clusterSize?: number;
  batchSize?: number;
  maxDepth?: number;
  onRun?: (done: number, total: number) => void;
}

function stackRows(vectors: readonly Float32Array[], rows: ArrayLike<number>, d: number): Float32Array {
  const out = new Float32Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) out.set(vectors[rows[i]!]!, i * d);
  return out;
}

export async function evaluateFastClustering(data: FastClusteringData, encoder: TextEncoder, opts: FastClusteringOptions = {}): Promise<Scores> {
  const n = data.sentences.length;
  if (n === 0) throw new Error('Clustering: no documents to evaluate');
  const rng = new PythonRandom(42);
  const fraction = opts.maxFraction === undefined ? 0.04 : opts.maxFraction;
  let selected: number[];
  if (fraction === null) selected = Array.from({ length: n }, (_, i) => i);
  else {
    const k = Math.min(n, Math.trunc(fraction * n));
    selected = rng.sample(n, k);
  }
  if (selected.length === 0) throw new Error(`Clustering: ${n} documents × fraction ${fraction} leaves none to embed`);
  const vectors = await encoder.encode(
    selected.map((i) => data.sentences[i]!),
    'query',
    'documents',
  );
  const labels = selected.map((i) => data.labels[i]!);
  const d = vectors[0]!.length;
  const depth = Math.min(opts.maxDepth ?? Infinity, Math.max(...labels.map((l) => l.length)));
  const runs = opts.nRuns ?? 10;
  const size = opts.clusterSize ?? 16_384;
  const vMeasures: Record<string, number[]> = {};
  const all: number[] = [];
  for (let level = 0; level < depth; level++) {
    const valid: number[] = [];
    labels.forEach((l, i) => {
      if (l.length > level) valid.push(i);
    });
    const levelLabels = valid.map((i) => labels[i]![level]!);
    const k = new Set(levelLabels).size;
    const scores: number[] = [];
    for (let r = 0; r < runs; r++) {
      const draw = rng.choices(valid.length, size);
      const X = stackRows(
        vectors,
        Array.from(draw, (j) => valid[j]!),
        d,
      );
      const res = await miniBatchKMeans(X, size, d, { nClusters: k, batchSize: opts.batchSize ?? 512, randomState: new NumpyRandomState(42) });
      const v = vMeasure(
        Array.from(draw, (j) => levelLabels[j]!),
        Array.from(res.labels),
      );
      scores.push(v);
      all.push(v);
      opts.onRun?.(level * runs + r + 1, depth * runs);
    }
    vMeasures[`Level ${level}`] = scores;
  }
  return { v_measures: vMeasures, v_measure: npMean(all), v_measure_std: npStd(all) };
}

export interface ClusterSet {
  sentences: string[];
  labels: Label[];
}

export async function evaluateLegacyClustering(sets: ClusterSet[], encoder: TextEncoder, opts: { batchSize?: number; onSet?: (done: number, total: number) => void } = {}): Promise<Scores> {
  if (sets.length === 0) throw new Error('Clustering: no cluster sets to evaluate');
  const vMeasures: number[] = [];
  for (const [i, set] of sets.entries()) {
    if (set.sentences.length !== set.labels.length) throw new Error(`Clustering: set ${i} has ${set.sentences.length} sentences and ${set.labels.length} labels`);
    const vectors = await encoder.encode(set.sentences, 'query', `set ${i + 1}/${sets.length}`);
    const d = vectors[0]!.length;
    const X = stackRows(
      vectors,
      Array.from({ length: vectors.length }, (_, j) => j),
      d,
    );
    const k = new Set(set.labels).size;
    const res = await miniBatchKMeans(X, vectors.length, d, { nClusters: k, batchSize: opts.batchSize ?? 500, randomState: new NumpyRandomState(42) });
    vMeasures.push(vMeasure(set.labels, Array.from(res.labels)));
    opts.onSet?.(i + 1, sets.length);
  }
  return { v_measure: npMean(vMeasures), v_measure_std: npStd(vMeasures), v_measures: vMeasures };
}
