// Bench: the evaluators' model fits at QZhou-Embedding's width (3584 dims).
// 1. Logistic regression on Banking77's shape (77 classes × 8 samples/label = 616 rows): one objective +
//    gradient evaluation with the ORT GEMMs vs plain JS loops (same run, side by side), then a full fit.
// 2. MiniBatchKMeans on a ClusteringFast draw (16,384 rows, 20 clusters, batch 512).
// Usage: npx tsx bench/eval-classifiers.ts [dim]
import { gemm } from '../src/eval/gemm.js';
import { miniBatchKMeans } from '../src/eval/kmeans.js';
import { LogisticRegression, logisticObjective } from '../src/eval/logistic-regression.js';

const DIM = Number(process.argv[2] ?? 3584);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Unit vectors around k centres, like sentence embeddings of k classes. */
function embeddings(n: number, k: number, seed: number): { X: Float32Array; y: number[] } {
  const rnd = lcg(seed);
  const centres = Array.from({ length: k }, () => Float32Array.from({ length: DIM }, () => rnd() - 0.5));
  const X = new Float32Array(n * DIM);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % k;
    y.push(c);
    let norm = 0;
    for (let j = 0; j < DIM; j++) norm += (X[i * DIM + j] = centres[c]![j]! + (rnd() - 0.5) * 2) ** 2;
    norm = Math.sqrt(norm);
    for (let j = 0; j < DIM; j++) X[i * DIM + j] = X[i * DIM + j]! / norm;
  }
  return { X, y };
}

function jsMatmulTransB(a: Float64Array, m: number, k: number, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t]! * b[j * k + t]!;
      out[i * n + j] = s;
    }
  return out;
}

const time = async <T>(fn: () => Promise<T> | T): Promise<[T, number]> => {
  const t = performance.now();
  const r = await fn();
  return [r, (performance.now() - t) / 1000];
};

console.log(`classifier bench at ${DIM} dims`);
const n = 616;
const K = 77;
const { X, y } = embeddings(n, K, 1);
const obj = logisticObjective(X, n, DIM, y);
const w = Float64Array.from({ length: obj.size }, (_, i) => Math.sin(i) * 1e-2);
await obj.fg(w); // warm-up: sessions
const [, tOrt] = await time(() => obj.fg(w));
// The same two products in JS loops (logits X·Wᵀ and the gradient Gᵀ·X as X·… transposed): the cost of the objective.
const Xd = Float64Array.from(X);
const W = w.subarray(0, K * DIM);
const [, tJs] = await time(() => {
  jsMatmulTransB(Xd, n, DIM, W, K);
  jsMatmulTransB(W, K, DIM, Xd, n);
});
console.log(`LR objective+gradient (616×${DIM}, 77 classes): ORT ${(tOrt * 1000).toFixed(1)} ms, JS loops ${(tJs * 1000).toFixed(1)} ms → ${(tJs / tOrt).toFixed(1)}× faster with ORT`);
const [clf, tFit] = await time(() => LogisticRegression.fit(X, n, DIM, y));
console.log(`LR fit (sklearn defaults, max_iter 100): ${tFit.toFixed(2)} s, ${clf.nIter} iterations, stop: ${clf.status}`);
const [clf100, tFit100] = await time(() => LogisticRegression.fit(X, n, DIM, y, { tol: 0 }));
console.log(`LR fit with tol 0 (runs until max_iter or the ftol stop): ${tFit100.toFixed(2)} s, ${clf100.nIter} iterations, stop: ${clf100.status}`);

const { X: Xc } = embeddings(16_384, 20, 2);
await gemm(Xc.subarray(0, 512 * DIM), 512, DIM, Xc.subarray(0, 20 * DIM), 20, { transB: true }); // warm-up
const [km, tKm] = await time(() => miniBatchKMeans(Xc, 16_384, DIM, { nClusters: 20, batchSize: 512, randomState: 42 }));
console.log(`MiniBatchKMeans 16384×${DIM}, k=20, batch 512: ${tKm.toFixed(2)} s, ${km.nSteps} steps (${((tKm / Math.max(1, km.nSteps)) * 1000).toFixed(1)} ms/step incl. init and final labels)`);
