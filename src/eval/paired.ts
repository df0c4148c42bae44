// Row-wise similarities of two equally long lists of float32 vectors, with float32 results and the
// float32 element operations of sklearn.metrics.pairwise's paired_* functions (and np.dot): mteb's STS and
// pair-classification scores, whose values decide ranks, ties and thresholds. Sums run in float64 and are
// rounded once; NumPy sums in float32 in its SIMD kernels' order, so the last bit of a score can differ.

const f = Math.fround;

function sumSquares(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return f(s);
}

/** sklearn normalize(): v / ‖v‖ in float32; a zero vector stays zero. */
function normalize(v: Float32Array): Float32Array {
  let norm = f(Math.sqrt(sumSquares(v)));
  if (norm === 0) norm = 1;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! / norm;
  return out;
}

function check(a: readonly Float32Array[], b: readonly Float32Array[]): void {
  if (a.length !== b.length) throw new Error(`paired scores: ${a.length} vs ${b.length} vectors`);
  for (let i = 0; i < a.length; i++) if (a[i]!.length !== b[i]!.length) throw new Error(`paired scores: pair ${i} has dimensions ${a[i]!.length} and ${b[i]!.length}`);
}

/** Scores row i of `a` against row i of `b` with `score`, after checking the shapes; float32 results. */
function paired(a: readonly Float32Array[], b: readonly Float32Array[], score: (x: Float32Array, y: Float32Array) => number): Float32Array {
  check(a, b);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = score(a[i]!, b[i]!);
  return out;
}

/** Σ x·y over x's length, summed in float64 (not rounded). */
function dot(x: Float32Array, y: Float32Array): number {
  let s = 0;
  for (let j = 0; j < x.length; j++) s += x[j]! * y[j]!;
  return s;
}

/** Σ (x − y)² with float32 differences, summed in float64 (not rounded). */
function squaredDistance(x: Float32Array, y: Float32Array): number {
  let s = 0;
  for (let j = 0; j < x.length; j++) {
    const d = f(x[j]! - y[j]!);
    s += d * d;
  }
  return s;
}

/** 1 − paired_cosine_distances = 1 − ½‖â − b̂‖², float32. */
export function pairedCosine(a: readonly Float32Array[], b: readonly Float32Array[]): Float32Array {
  return paired(a, b, (x, y) => 1 - f(0.5 * f(squaredDistance(normalize(x), normalize(y)))));
}

/** paired_manhattan_distances: Σ|a − b|, float32. */
export function pairedManhattan(a: readonly Float32Array[], b: readonly Float32Array[]): Float32Array {
  return paired(a, b, (x, y) => {
    let s = 0;
    for (let j = 0; j < x.length; j++) s += Math.abs(f(x[j]! - y[j]!));
    return s;
  });
}

/** paired_euclidean_distances: ‖a − b‖, float32. */
export function pairedEuclidean(a: readonly Float32Array[], b: readonly Float32Array[]): Float32Array {
  return paired(a, b, (x, y) => Math.sqrt(f(squaredDistance(x, y))));
}

/** np.dot(a_i, b_i) for float32 rows: a float32 result. */
export function pairedDot(a: readonly Float32Array[], b: readonly Float32Array[]): Float32Array {
  return paired(a, b, dot);
}

/** mteb's cos_sim between one vector and a list (torch: normalise both in float32, then dot). */
export function cosineToEach(q: Float32Array, docs: readonly Float32Array[]): Float32Array {
  const qn = normalizeTorch(q);
  const out = new Float32Array(docs.length);
  for (let i = 0; i < docs.length; i++) out[i] = dot(normalizeTorch(docs[i]!), qn);
  return out;
}

/** torch.nn.functional.normalize(p=2, eps=1e-12) in float32. */
export function normalizeTorch(v: Float32Array): Float32Array {
  return normalizeTorchInto(v, new Float32Array(v.length));
}

/** normalizeTorch written into `out` (e.g. a row of a packed matrix), without a new array. */
export function normalizeTorchInto(v: Float32Array, out: Float32Array): Float32Array {
  const norm = Math.max(f(Math.sqrt(sumSquares(v))), 1e-12);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! / norm;
  return out;
}

/** mteb's dot_score between one vector and a list, float32. */
export function dotToEach(q: Float32Array, docs: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(docs.length);
  for (let i = 0; i < docs.length; i++) out[i] = dot(docs[i]!, q);
  return out;
}
