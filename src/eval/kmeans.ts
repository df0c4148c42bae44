// scikit-learn's MiniBatchKMeans (≥ 1.3, dense float32 input, unit sample weights), ported from its
// documented algorithm so that, given the same RandomState, it draws the same random numbers in the
// same order and does the same float32 arithmetic where sklearn does:
// 1. validation indices = randint(0, n, init_size) (drawn even though one init never uses them);
// 2. init subset = randint(0, n, init_size) when init_size < n; k-means++ on it: the first centre by
//    choice(p = w/Σw), then per centre `uniform(2 + ⌊ln k⌋)`·potential searched in the cumulative
//    distances (distances computed in float64, stored as float32), the candidate with the lowest
//    potential wins;
// 3. max_iter·n/batch steps: minibatch = randint(0, n, batch); labels by ‖c‖² − 2x·c (float32 GEMM),
//    float32 inertia and count-weighted centre updates; low-count centres are reassigned to random
//    batch rows (choice without replacement = permutation prefix) whenever a centre has no count or
//    10·k samples were seen; early stop after 10 steps without a new minimum of the exponentially
//    weighted batch inertia;
// 4. final labels of all rows against the centres.
// Differences from sklearn are at the rounding level only (BLAS vs MLAS summation order, OpenMP
// reduction order); they can flip a label only at near-exact distance ties.
import { gemm } from './gemm.js';
import { NumpyRandomState } from './rng.js';

export interface MiniBatchKMeansOptions {
  nClusters: number;
  /** sklearn default 1024; mteb uses 512 (ClusteringFast) and 500 (legacy clustering). */
  batchSize?: number;
  maxIter?: number;
  maxNoImprovement?: number;
  reassignmentRatio?: number;
  /** Default 3·batch (at least 3·k), capped at n. */
  initSize?: number;
  /** The generator (consumed) or an integer seed. */
  randomState: NumpyRandomState | number;
}

export interface MiniBatchKMeansResult {
  labels: Int32Array;
  centers: Float32Array;
  /** Steps run (sklearn n_steps_). */
  nSteps: number;
}

const f = Math.fround;

/** Squared row norms in float32 (sklearn row_norms on float32 data). */
function rowNormsF32(x: Float32Array, rows: number, d: number): Float32Array {
  const out = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = i * d, e = j + d; j < e; j++) s += x[j]! * x[j]!;
    out[i] = s;
  }
  return out;
}

/** sklearn's _inertia_dense for unit weights: float32 sum of float32 squared distances, row order. */
function inertiaOf(xb: Float32Array, rows: number, d: number, centers: Float32Array, labels: Int32Array): number {
  let inertia = 0;
  for (let i = 0; i < rows; i++) inertia = f(inertia + sqDistF32(xb, i * d, centers, labels[i]! * d, d));
  return inertia;
}

/**
 * sklearn's update_center_dense in float32: per centre, undo the count scaling, add the member rows in
 * row order, add their count, rescale. A single float op computed in double and stored into a
 * Float32Array is rounded once, exactly as the float32 op would be.
 */
function updateCenters(xb: Float32Array, rows: number, d: number, centers: Float32Array, centersNew: Float32Array, counts: Float32Array, labels: Int32Array, k: number): void {
  const members = groupByLabel(labels, k);
  for (let c = 0; c < k; c++) {
    const co = c * d;
    const rowsOfC = members[c]!;
    if (rowsOfC.length === 0) {
      centersNew.set(centers.subarray(co, co + d), co);
      continue;
    }
    const wc = counts[c]!;
    for (let j = 0; j < d; j++) centersNew[co + j] = centers[co + j]! * wc;
    for (let r = 0; r < rowsOfC.length; r++) addRow(centersNew, co, xb, rowsOfC[r]! * d, d);
    counts[c] = counts[c]! + rowsOfC.length;
    const alpha = f(1 / counts[c]!);
    for (let j = 0; j < d; j++) centersNew[co + j] = centersNew[co + j]! * alpha;
  }
}

function addRow(dst: Float32Array, dOff: number, src: Float32Array, sOff: number, d: number): void {
  for (let j = 0; j < d; j++) dst[dOff + j] = dst[dOff + j]! + src[sOff + j]!;
}

/** Row indices per label, in row order. */
function groupByLabel(labels: Int32Array, k: number): number[][] {
  const out: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < labels.length; i++) out[labels[i]!]!.push(i);
  return out;
}

/** sklearn's _euclidean_dense_dense(squared=True) in float32, unrolled by four as in the Cython source. */
function sqDistF32(x: Float32Array, xo: number, c: Float32Array, co: number, d: number): number {
  let result = 0;
  const n4 = d >> 2;
  let a = xo;
  let b = co;
  for (let i = 0; i < n4; i++, a += 4, b += 4) {
    const d0 = f(x[a]! - c[b]!);
    const d1 = f(x[a + 1]! - c[b + 1]!);
    const d2 = f(x[a + 2]! - c[b + 2]!);
    const d3 = f(x[a + 3]! - c[b + 3]!);
    result = f(result + f(f(f(f(d0 * d0) + f(d1 * d1)) + f(d2 * d2)) + f(d3 * d3)));
  }
  for (let i = 0; i < (d & 3); i++) {
    const di = f(x[a + i]! - c[b + i]!);
    result = f(result + f(di * di));
  }
  return result;
}

/** Nearest centre per row (first minimum), from ‖c‖² − 2·x·c computed by a float32 GEMM. */
async function assign(x: Float32Array, rows: number, d: number, centers: Float32Array, k: number): Promise<Int32Array> {
  const cn = rowNormsF32(centers, k, d);
  const dist = (await gemm(x, rows, d, centers, k, { transB: true, alpha: -2, rowBias: cn, beta: 1 })) as Float32Array;
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const o = i * k;
    let best = 0;
    let min = dist[o]!;
    for (let j = 1; j < k; j++) {
      if (dist[o + j]! < min) {
        min = dist[o + j]!;
        best = j;
      }
    }
    labels[i] = best;
  }
  return labels;
}

/** Squared distances (float64 computation, float32 result, clipped at 0) from each candidate row to every row of x. */
async function upcastDistances(cand: Float64Array, t: number, x64: Float64Array, xx: Float64Array, rows: number, d: number): Promise<Float32Array[]> {
  const dots = (await gemm(cand, t, d, x64, rows, { transB: true })) as Float64Array;
  const out: Float32Array[] = [];
  for (let c = 0; c < t; c++) {
    let cc = 0;
    for (let j = c * d, e = j + d; j < e; j++) cc += cand[j]! * cand[j]!;
    const row = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      const v = f(-2 * dots[c * rows + i]! + cc + xx[i]!);
      row[i] = v > 0 ? v : 0;
    }
    out.push(row);
  }
  return out;
}

/** sklearn's _kmeans_plusplus with unit weights on rows x (rows × d). */
async function kmeansPlusPlus(x: Float32Array, rows: number, d: number, k: number, rng: NumpyRandomState): Promise<Float32Array> {
  const centers = new Float32Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  const x64 = Float64Array.from(x);
  const xx = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = i * d, e = j + d; j < e; j++) s += x64[j]! * x64[j]!;
    xx[i] = s;
  }
  const w = new Float32Array(rows).fill(f(1 / rows)); // sample_weight / sample_weight.sum()
  const first = rng.choiceWeighted(w);
  centers.set(x.subarray(first * d, first * d + d), 0);
  let closest = (await upcastDistances(x64.slice(first * d, first * d + d), 1, x64, xx, rows, d))[0]!;
  let pot = 0;
  for (let i = 0; i < rows; i++) pot += closest[i]!;
  pot = f(pot);
  for (let c = 1; c < k; c++) {
    const randVals = rng.uniform(trials);
    const cum = new Float64Array(rows);
    let acc = 0;
    for (let i = 0; i < rows; i++) cum[i] = acc += closest[i]!;
    const ids: number[] = [];
    for (let t = 0; t < trials; t++) {
      const target = randVals[t]! * pot;
      let lo = 0;
      let hi = rows;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cum[mid]! < target) lo = mid + 1;
        else hi = mid;
      }
      ids.push(Math.min(lo, rows - 1));
    }
    const cand = new Float64Array(trials * d);
    ids.forEach((id, t) => cand.set(x64.subarray(id * d, id * d + d), t * d));
    const dist = await upcastDistances(cand, trials, x64, xx, rows, d);
    let best = 0;
    let bestPot = Infinity;
    for (let t = 0; t < trials; t++) {
      const row = dist[t]!;
      let p = 0;
      for (let i = 0; i < rows; i++) {
        if (closest[i]! < row[i]!) row[i] = closest[i]!;
        p += row[i]!;
      }
      const pf = f(p);
      if (pf < bestPot) {
        bestPot = pf;
        best = t;
      }
    }
    pot = bestPot;
    closest = dist[best]!;
    const id = ids[best]!;
    centers.set(x.subarray(id * d, id * d + d), c * d);
  }
  return centers;
}

/** Fits MiniBatchKMeans on x (n × d, float32) and returns the labels of every row. */
export async function miniBatchKMeans(x: Float32Array, n: number, d: number, opts: MiniBatchKMeansOptions): Promise<MiniBatchKMeansResult> {
  const k = opts.nClusters;
  if (x.length !== n * d) throw new Error(`MiniBatchKMeans: x has ${x.length} values, expected ${n}×${d}`);
  if (!(k >= 1)) throw new Error(`MiniBatchKMeans: n_clusters must be ≥ 1, got ${k}`);
  if (n < k) throw new Error(`MiniBatchKMeans: n_samples=${n} should be >= n_clusters=${k}`);
  const rng = typeof opts.randomState === 'number' ? new NumpyRandomState(opts.randomState) : opts.randomState;
  const batch = Math.min(opts.batchSize ?? 1024, n);
  let initSize = opts.initSize ?? 3 * batch;
  if (initSize < k) initSize = 3 * k;
  initSize = Math.min(initSize, n);
  const maxIter = opts.maxIter ?? 100;
  const maxNoImprovement = opts.maxNoImprovement ?? 10;
  const ratio = opts.reassignmentRatio ?? 0.01;

  rng.randint(0, n, initSize); // validation set for choosing among inits (one init: unused, but drawn)
  let initX = x;
  let initRows = n;
  if (initSize < n) {
    const idx = rng.randint(0, n, initSize);
    initX = new Float32Array(initSize * d);
    idx.forEach((r, i) => initX.set(x.subarray(r * d, r * d + d), i * d));
    initRows = initSize;
  }
  let centers: Float32Array = await kmeansPlusPlus(initX, initRows, d, k, rng);
  let centersNew: Float32Array = new Float32Array(k * d);
  const counts = new Float32Array(k);
  let sinceReassign = 0;
  let ewa: number | undefined;
  let ewaMin: number | undefined;
  let noImprovement = 0;
  const nSteps = Math.floor((maxIter * n) / batch);
  const xb = new Float32Array(batch * d);
  let step = 0;
  for (; step < nSteps; step++) {
    const idx = rng.randint(0, n, batch);
    idx.forEach((r, i) => xb.set(x.subarray(r * d, r * d + d), i * d));
    // _random_reassign() is evaluated before the step.
    sinceReassign += batch;
    let reassign = false;
    let anyZero = false;
    for (let c = 0; c < k; c++) if (counts[c] === 0) anyZero = true;
    if (anyZero || sinceReassign >= 10 * k) {
      sinceReassign = 0;
      reassign = true;
    }
    // Labels and inertia against the current centres, then the count-weighted update.
    const labels = await assign(xb, batch, d, centers, k);
    const inertia = inertiaOf(xb, batch, d, centers, labels);
    updateCenters(xb, batch, d, centers, centersNew, counts, labels, k);
    if (reassign && ratio > 0) {
      let max = 0;
      for (let c = 0; c < k; c++) if (counts[c]! > max) max = counts[c]!;
      const threshold = f(f(ratio) * max);
      const toReassign: boolean[] = Array.from(counts, (v) => v < threshold);
      let nRe = toReassign.filter(Boolean).length;
      if (nRe > 0.5 * batch) {
        // Keep the centres with the largest counts (sklearn: argsort(counts)[int(0.5·batch):]).
        const order = Array.from({ length: k }, (_, c) => c).sort((a, b) => counts[a]! - counts[b]! || a - b);
        for (const c of order.slice(Math.floor(0.5 * batch))) toReassign[c] = false;
        nRe = toReassign.filter(Boolean).length;
      }
      if (nRe > 0) {
        const picks = rng.choiceWithoutReplacement(batch, nRe);
        let p = 0;
        for (let c = 0; c < k; c++) {
          if (!toReassign[c]) continue;
          const r = picks[p++]!;
          centersNew.set(xb.subarray(r * d, r * d + d), c * d);
        }
        let minKept = Infinity;
        for (let c = 0; c < k; c++) if (!toReassign[c] && counts[c]! < minKept) minKept = counts[c]!;
        for (let c = 0; c < k; c++) if (toReassign[c]) counts[c] = minKept;
      }
    }
    [centers, centersNew] = [centersNew, centers];

    // _mini_batch_convergence (tol = 0: only the smoothed-inertia test).
    const batchInertia = inertia / batch;
    if (step + 1 === 1) continue;
    if (ewa === undefined) ewa = batchInertia;
    else {
      const a = Math.min((batch * 2.0) / (n + 1), 1);
      ewa = ewa * (1 - a) + batchInertia * a;
    }
    if (ewaMin === undefined || ewa < ewaMin) {
      noImprovement = 0;
      ewaMin = ewa;
    } else noImprovement++;
    if (noImprovement >= maxNoImprovement) {
      step++;
      break;
    }
  }
  const labels = await assign(x, n, d, centers, k);
  return { labels, centers, nSteps: Math.min(step, nSteps) };
}
