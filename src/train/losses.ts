// The QZhou-Embedding losses (recipe.md §3) with analytic gradients w.r.t. the embeddings:
//   - retrievalInfoNCE: InfoNCE over the positive, every other in-batch document (other queries'
//     positives and all hard negatives) and the other queries (q–q terms), τ = 0.02;
//   - cosentLoss: CoSENT = logsumexp({0} ∪ {(s_kl − s_ij)·scale : y_ij > y_kl});
//   - classificationInfoNCE: InfoNCE whose denominator drops every candidate of the anchor's class
//     except the anchor's own positive;
//   - multipleNegativesRankingLoss: sentence-transformers' MNRL, the retrieval loss without q–q terms.
// Similarity is the cosine: rows are L2-normalised here like torch.nn.functional.normalize (eps 1e-12)
// and gradients flow back through that step, so inputs may be raw vectors. All arithmetic is float64;
// masked candidates are −∞ logits (they contribute nothing to the denominator or the gradients).

/** A row-major matrix of `rows` embeddings of width `dim`. */
export interface Embeddings {
  readonly data: Float32Array | Float64Array;
  readonly rows: number;
  readonly dim: number;
}

/** A class label for classification batches; compared with ===. */
export type Label = string | number;

/** Wraps a flat row-major array as `Embeddings`. */
export function embeddings(data: Float32Array | Float64Array, dim: number): Embeddings {
  if (!Number.isInteger(dim) || dim <= 0) throw new Error(`embeddings: dim must be a positive integer, got ${dim}`);
  if (data.length % dim !== 0) throw new Error(`embeddings: ${data.length} values is not a multiple of dim ${dim}`);
  return { data, rows: data.length / dim, dim };
}

/** Stacks equal-length vectors into one `Embeddings` (float64). */
export function stackRows(rows: readonly ArrayLike<number>[], dim?: number): Embeddings {
  const d = dim ?? rows[0]?.length;
  if (d === undefined || d <= 0) throw new Error('stackRows: no rows and no dim given');
  const out = new Float64Array(rows.length * d);
  rows.forEach((r, i) => {
    if (r.length !== d) throw new Error(`stackRows: row ${i} has ${r.length} values, expected ${d}`);
    for (let k = 0; k < d; k++) out[i * d + k] = r[k]!;
  });
  return { data: out, rows: rows.length, dim: d };
}

export interface RetrievalLossOptions {
  /** Query embeddings, one row per query (n rows). */
  queries: Embeddings;
  /** Positive documents: row i is the positive of query i (n rows). */
  positives: Embeddings;
  /**
   * Hard negatives of all queries, any number of rows. Every in-batch document is a negative for every
   * other query, so which query a negative came with does not change the loss.
   */
  negatives?: Embeddings;
  /** Softmax temperature τ (logits are cos/τ). Default 0.02 (QZhou). */
  temperature?: number;
  /** Include the q–q terms Σ_{j≠i} exp(s(q_i,q_j)/τ) in the denominator. Default true (QZhou). */
  queryQuery?: boolean;
  /** L2-normalise rows first (default true). With false, rows are used as given (dot products). */
  normalize?: boolean;
}

export interface ContrastiveResult<G> {
  /** Mean over anchors of −log softmax(positive). */
  loss: number;
  /** Fraction of anchors whose positive has the highest logit among their candidates. */
  accuracy: number;
  /** dLoss/d(input rows), same layout as the inputs. */
  grads: G;
}

export type RetrievalGrads = { queries: Float64Array; positives: Float64Array; negatives: Float64Array };

/**
 * QZhou retrieval loss (recipe.md §3.1):
 * L = −(1/n) Σ_i log( e^{s(q_i,d_i⁺)/τ} / Z_i ),
 * Z_i = e^{s(q_i,d_i⁺)/τ} + Σ_{d ∈ D∖{d_i⁺}} e^{s(q_i,d)/τ} + Σ_{j≠i} e^{s(q_i,q_j)/τ}
 * where D is every in-batch document (all positives and all hard negatives).
 */
export function retrievalInfoNCE(opts: RetrievalLossOptions): ContrastiveResult<RetrievalGrads> {
  const temperature = opts.temperature ?? 0.02;
  checkTemperature(temperature, 'retrievalInfoNCE');
  const normalize = opts.normalize ?? true;
  const q = unitRows(opts.queries, 'queries', undefined, normalize);
  const n = q.rows;
  if (n === 0) throw new Error('retrievalInfoNCE: no queries');
  const p = unitRows(opts.positives, 'positives', q.dim, normalize);
  if (p.rows !== n) throw new Error(`retrievalInfoNCE: ${n} queries but ${p.rows} positives (one positive per query)`);
  const neg = unitRows(opts.negatives, 'negatives', q.dim, normalize);
  const blocks: CandidateBlock[] = [{ rows: p }, { rows: neg }];
  if (opts.queryQuery ?? true) blocks.push({ rows: q, include: (i, j) => i !== j });
  const { loss, accuracy } = maskedInfoNCE(q, blocks, 1 / temperature);
  return {
    loss,
    accuracy,
    grads: { queries: backprop(q, normalize), positives: backprop(p, normalize), negatives: backprop(neg, normalize) },
  };
}

export interface MnrlOptions {
  anchors: Embeddings;
  positives: Embeddings;
  negatives?: Embeddings;
  /** sentence-transformers' scale (= 1/τ). Default 20. */
  scale?: number;
}

/**
 * sentence-transformers' MultipleNegativesRankingLoss with cosine similarity: cross-entropy of each
 * anchor over [all positives, all negatives]·scale. Equal to retrievalInfoNCE without q–q terms and
 * τ = 1/scale.
 */
export function multipleNegativesRankingLoss(opts: MnrlOptions): ContrastiveResult<{ anchors: Float64Array; positives: Float64Array; negatives: Float64Array }> {
  const scale = opts.scale ?? 20;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`multipleNegativesRankingLoss: scale must be a positive number, got ${scale}`);
  const r = retrievalInfoNCE({ queries: opts.anchors, positives: opts.positives, negatives: opts.negatives, temperature: 1 / scale, queryQuery: false });
  return { loss: r.loss, accuracy: r.accuracy, grads: { anchors: r.grads.queries, positives: r.grads.positives, negatives: r.grads.negatives } };
}

export interface ClassificationLossOptions {
  /** Anchor texts t_i (n rows). */
  anchors: Embeddings;
  /** Row i: a text of the anchor's class, t_i⁺ (n rows). */
  positives: Embeddings;
  /** Negatives of all anchors (any number of rows), with their labels in `negativeLabels`. */
  negatives?: Embeddings;
  /** Class of each anchor (and of its positive). */
  labels: readonly Label[];
  /** Class of each negative row. */
  negativeLabels?: readonly Label[];
  /** Default 0.02. */
  temperature?: number;
  /**
   * Other anchors' positives t_j⁺ are not in Z_i in the paper's formula ('omit', default); 'masked'
   * includes those of a different class, like the other candidates.
   */
  otherPositives?: 'omit' | 'masked';
  normalize?: boolean;
}

export type ClassificationGrads = { anchors: Float64Array; positives: Float64Array; negatives: Float64Array };

/**
 * QZhou classification loss (recipe.md §3.3):
 * Z_i = e^{s(t_i,t_i⁺)/τ} + Σ_m M e^{s(t_i,t_{i,m}⁻)/τ} + Σ_{j≠i} M e^{s(t_i,t_j)/τ} + Σ_{j≠i} Σ_m M e^{s(t_i,t_{j,m}⁻)/τ}
 * with M(a,b) = 0 when a and b have the same class. Own and other anchors' negatives are treated the
 * same, so `negatives` is one pool with per-row labels.
 */
export function classificationInfoNCE(opts: ClassificationLossOptions): ContrastiveResult<ClassificationGrads> {
  const temperature = opts.temperature ?? 0.02;
  checkTemperature(temperature, 'classificationInfoNCE');
  const normalize = opts.normalize ?? true;
  const a = unitRows(opts.anchors, 'anchors', undefined, normalize);
  const n = a.rows;
  if (n === 0) throw new Error('classificationInfoNCE: no anchors');
  const p = unitRows(opts.positives, 'positives', a.dim, normalize);
  if (p.rows !== n) throw new Error(`classificationInfoNCE: ${n} anchors but ${p.rows} positives (one positive per anchor)`);
  const neg = unitRows(opts.negatives, 'negatives', a.dim, normalize);
  if (opts.labels.length !== n) throw new Error(`classificationInfoNCE: ${n} anchors but ${opts.labels.length} labels`);
  const negLabels = opts.negativeLabels ?? [];
  if (negLabels.length !== neg.rows) throw new Error(`classificationInfoNCE: ${neg.rows} negatives but ${negLabels.length} negative labels`);
  // Labels → small integers so the mask is an integer comparison.
  const ids = new Map<Label, number>();
  const idOf = (l: Label, where: string): number => {
    if (typeof l !== 'string' && !(typeof l === 'number' && Number.isFinite(l))) throw new Error(`classificationInfoNCE: ${where}: label must be a string or a finite number, got ${String(l)}`);
    let id = ids.get(l);
    if (id === undefined) ids.set(l, (id = ids.size));
    return id;
  };
  const cls = Int32Array.from(opts.labels, (l, i) => idOf(l, `labels[${i}]`));
  const negCls = Int32Array.from(negLabels, (l, i) => idOf(l, `negativeLabels[${i}]`));
  const otherPositives = opts.otherPositives ?? 'omit';
  if (otherPositives !== 'omit' && otherPositives !== 'masked') throw new Error(`classificationInfoNCE: otherPositives must be "omit" or "masked", got ${String(otherPositives)}`);
  const blocks: CandidateBlock[] = [
    {
      rows: p,
      include: otherPositives === 'omit' ? (i, j) => i === j : (i, j) => i === j || cls[j] !== cls[i],
    },
    { rows: neg, include: (i, j) => negCls[j] !== cls[i] },
    { rows: a, include: (i, j) => i !== j && cls[j] !== cls[i] },
  ];
  const { loss, accuracy } = maskedInfoNCE(a, blocks, 1 / temperature);
  return {
    loss,
    accuracy,
    grads: { anchors: backprop(a, normalize), positives: backprop(p, normalize), negatives: backprop(neg, normalize) },
  };
}

export interface CosentLossOptions {
  /** First texts of the pairs (n rows). */
  a: Embeddings;
  /** Second texts (n rows). */
  b: Embeddings;
  /** Gold score of each pair; only their order matters. */
  scores: ArrayLike<number>;
  /**
   * Multiplier on cosine differences (= 1/τ). Default 50 = 1/0.02, the only temperature the paper
   * publishes; sentence-transformers' CoSENTLoss uses 20 (τ = 0.05).
   */
  scale?: number;
  normalize?: boolean;
}

export interface CosentResult {
  loss: number;
  grads: { a: Float64Array; b: Float64Array };
}

/**
 * CoSENT (recipe.md §3.2): log(1 + Σ_{y_i > y_k} exp((s_k − s_i)·scale)) with s_i = cos(a_i, b_i),
 * computed as a logsumexp over {0} and every ordered pair of pairs with a strictly higher gold score.
 * Pairs with equal gold scores add nothing. Not averaged (as sentence-transformers).
 */
export function cosentLoss(opts: CosentLossOptions): CosentResult {
  const scale = opts.scale ?? 50;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`cosentLoss: scale must be a positive number, got ${scale}`);
  const normalize = opts.normalize ?? true;
  const a = unitRows(opts.a, 'a', undefined, normalize);
  const b = unitRows(opts.b, 'b', a.dim, normalize);
  const n = a.rows;
  if (b.rows !== n) throw new Error(`cosentLoss: ${n} rows in a but ${b.rows} in b`);
  if (opts.scores.length !== n) throw new Error(`cosentLoss: ${n} pairs but ${opts.scores.length} scores`);
  const y = Float64Array.from({ length: n }, (_, i) => {
    const v = opts.scores[i]!;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`cosentLoss: scores[${i}] must be a finite number, got ${String(v)}`);
    return v;
  });
  const d = a.dim;
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) s[i] = dot(a.hat, i * d, b.hat, i * d, d);
  // Max over {0} ∪ entries, then the sum of exponentials.
  let m = 0;
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) if (y[i]! > y[k]!) m = Math.max(m, (s[k]! - s[i]!) * scale);
  let sum = Math.exp(-m);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) if (y[i]! > y[k]!) sum += Math.exp((s[k]! - s[i]!) * scale - m);
  const lse = m + Math.log(sum);
  const ds = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      if (!(y[i]! > y[k]!)) continue;
      const w = Math.exp((s[k]! - s[i]!) * scale - lse) * scale;
      ds[k] += w;
      ds[i] -= w;
    }
  }
  for (let i = 0; i < n; i++) {
    const g = ds[i]!;
    if (g === 0) continue;
    axpy(g, b.hat, i * d, a.grad, i * d, d);
    axpy(g, a.hat, i * d, b.grad, i * d, d);
  }
  return { loss: lse, grads: { a: backprop(a, normalize), b: backprop(b, normalize) } };
}

// ---------------------------------------------------------------------------------------------
// Shared machinery.

const NORM_EPS = 1e-12;

/** Rows after normalisation, plus what backprop needs and an accumulator for dLoss/d(hat). */
interface UnitRows {
  readonly rows: number;
  readonly dim: number;
  readonly hat: Float64Array;
  /** max(‖x‖, eps) per row (1 when not normalising). */
  readonly norm: Float64Array;
  readonly grad: Float64Array;
}

function unitRows(e: Embeddings | undefined, name: string, dim: number | undefined, normalize: boolean): UnitRows {
  if (e === undefined) {
    const d = dim ?? 0;
    return { rows: 0, dim: d, hat: new Float64Array(0), norm: new Float64Array(0), grad: new Float64Array(0) };
  }
  const { rows, dim: d, data } = e;
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(d) || d <= 0) throw new Error(`${name}: invalid shape ${rows}×${d}`);
  if (data.length !== rows * d) throw new Error(`${name}: ${data.length} values for ${rows}×${d}`);
  if (dim !== undefined && d !== dim) throw new Error(`${name}: dim ${d} differs from ${dim}`);
  const hat = new Float64Array(rows * d);
  const norm = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let ss = 0;
    for (let k = 0; k < d; k++) {
      const v = data[o + k]!;
      if (!Number.isFinite(v)) throw new Error(`${name}: row ${r} has a non-finite value (${v}) at column ${k}`);
      ss += v * v;
    }
    const nr = normalize ? Math.max(Math.sqrt(ss), NORM_EPS) : 1;
    norm[r] = nr;
    const inv = 1 / nr;
    for (let k = 0; k < d; k++) hat[o + k] = data[o + k]! * inv;
  }
  return { rows, dim: d, hat, norm, grad: new Float64Array(rows * d) };
}

/** dLoss/dx from dLoss/dx̂ for x̂ = x / max(‖x‖, eps): (g − x̂(x̂·g)) / ‖x‖, or g / eps when clamped. */
function backprop(u: UnitRows, normalize: boolean): Float64Array {
  if (!normalize) return u.grad;
  const { rows, dim: d, hat, norm, grad } = u;
  const out = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    const nr = norm[r]!;
    const inv = 1 / nr;
    if (nr === NORM_EPS) {
      for (let k = 0; k < d; k++) out[o + k] = grad[o + k]! * inv;
      continue;
    }
    const proj = dot(hat, o, grad, o, d);
    for (let k = 0; k < d; k++) out[o + k] = (grad[o + k]! - hat[o + k]! * proj) * inv;
  }
  return out;
}

interface CandidateBlock {
  rows: UnitRows;
  /** Whether candidate j of this block is in anchor i's denominator; absent = always. */
  include?: (anchor: number, j: number) => boolean;
}

/**
 * (A·Cᵀ)·scale for the `n` rows of width `d` in `A` against the rows of every candidate matrix in turn:
 * an n × Σrows float64 matrix whose columns run through the candidates in order. Four anchors at a time,
 * so each candidate row is read once per four anchors. The losses' logits pass; exported so
 * bench/train-losses.ts times the same kernel as its "one similarity product" baseline.
 */
export function scaledProducts(A: Float64Array, n: number, d: number, candidates: readonly { readonly rows: number; readonly hat: Float64Array }[], scale: number): Float64Array {
  let total = 0;
  for (const b of candidates) total += b.rows;
  const L = new Float64Array(n * total);
  for (let i0 = 0; i0 < n; i0 += 4) {
    const m = Math.min(4, n - i0);
    const o0 = i0 * d;
    const o1 = o0 + (m > 1 ? d : 0);
    const o2 = o0 + (m > 2 ? 2 * d : 0);
    const o3 = o0 + (m > 3 ? 3 * d : 0);
    let c = 0;
    for (const b of candidates) {
      const C = b.hat;
      for (let j = 0; j < b.rows; j++, c++) {
        const jo = j * d;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let k = 0; k < d; k++) {
          const cv = C[jo + k]!;
          s0 += A[o0 + k]! * cv;
          s1 += A[o1 + k]! * cv;
          s2 += A[o2 + k]! * cv;
          s3 += A[o3 + k]! * cv;
        }
        L[i0 * total + c] = s0 * scale;
        if (m > 1) L[(i0 + 1) * total + c] = s1 * scale;
        if (m > 2) L[(i0 + 2) * total + c] = s2 * scale;
        if (m > 3) L[(i0 + 3) * total + c] = s3 * scale;
      }
    }
  }
  return L;
}

/**
 * Mean cross-entropy of each anchor i over the logits [blocks…]·invTemp, target = row i of block 0.
 * Excluded candidates are −∞ logits. Adds dLoss/dx̂ into the `grad` of the anchor rows and of every
 * block (a block may be the anchors themselves: q–q terms).
 * Work is done as three matrix passes (logits = A·Cᵀ; G = softmax − onehot; dA += G·C, dC += Gᵀ·A),
 * four anchors at a time so each candidate row is read once per four anchors.
 */
function maskedInfoNCE(anchors: UnitRows, blocks: readonly CandidateBlock[], invTemp: number): { loss: number; accuracy: number } {
  const n = anchors.rows;
  const d = anchors.dim;
  let total = 0;
  for (const b of blocks) total += b.rows.rows;
  const A = anchors.hat;

  // 1. Logits (unmasked).
  const L = scaledProducts(anchors.hat, n, d, blocks.map((b) => b.rows), invTemp);

  // 2. Mask, log-sum-exp, loss; turn each row into dLoss/dlogit (masked entries → 0).
  let lossSum = 0;
  let correct = 0;
  const gScale = invTemp / n;
  for (let i = 0; i < n; i++) {
    const ro = i * total;
    let c = 0;
    let max = -Infinity;
    for (const b of blocks) {
      for (let j = 0; j < b.rows.rows; j++, c++) {
        if (b.include && !b.include(i, j)) L[ro + c] = -Infinity;
        else if (L[ro + c]! > max) max = L[ro + c]!;
      }
    }
    // Block 0 row i is the target; the mask must keep it.
    const target = L[ro + i]!;
    if (target === -Infinity) throw new Error(`internal: anchor ${i}'s positive is masked`);
    let sum = 0;
    for (let k = 0; k < total; k++) sum += Math.exp(L[ro + k]! - max); // exp(−∞) = 0
    const lse = max + Math.log(sum);
    lossSum += lse - target;
    if (target >= max) correct++;
    for (let k = 0; k < total; k++) L[ro + k] = Math.exp(L[ro + k]! - lse) * gScale;
    L[ro + i] -= gScale;
  }

  // 3. dA += G·C and dC += Gᵀ·A. A candidate block may alias the anchors (q–q), so every update
  //    reads and writes memory directly (no values held across statements).
  const dA = anchors.grad;
  for (let i0 = 0; i0 < n; i0 += 4) {
    const m = Math.min(4, n - i0);
    const o = [i0 * d, (i0 + 1) * d, (i0 + 2) * d, (i0 + 3) * d];
    let c = 0;
    for (const b of blocks) {
      const C = b.rows.hat;
      const dC = b.rows.grad;
      for (let j = 0; j < b.rows.rows; j++, c++) {
        const g0 = L[i0 * total + c]!;
        const g1 = m > 1 ? L[(i0 + 1) * total + c]! : 0;
        const g2 = m > 2 ? L[(i0 + 2) * total + c]! : 0;
        const g3 = m > 3 ? L[(i0 + 3) * total + c]! : 0;
        if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) continue;
        const jo = j * d;
        if (m === 4) {
          const [a0, a1, a2, a3] = o as [number, number, number, number];
          for (let k = 0; k < d; k++) {
            const cv = C[jo + k]!;
            dA[a0 + k] += g0 * cv;
            dA[a1 + k] += g1 * cv;
            dA[a2 + k] += g2 * cv;
            dA[a3 + k] += g3 * cv;
            dC[jo + k] += g0 * A[a0 + k]! + g1 * A[a1 + k]! + g2 * A[a2 + k]! + g3 * A[a3 + k]!;
          }
        } else {
          const gs = [g0, g1, g2];
          for (let r = 0; r < m; r++) {
            const g = gs[r]!;
            if (g === 0) continue;
            axpy(g, C, jo, dA, o[r]!, d);
            axpy(g, A, o[r]!, dC, jo, d);
          }
        }
      }
    }
  }
  return { loss: lossSum / n, accuracy: correct / n };
}

function checkTemperature(t: number, who: string): void {
  if (!(t > 0) || !Number.isFinite(t)) throw new Error(`${who}: temperature must be a positive number, got ${t}`);
}

function dot(x: Float64Array, xo: number, y: Float64Array, yo: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < d; k += 4) {
    s0 += x[xo + k]! * y[yo + k]!;
    s1 += x[xo + k + 1]! * y[yo + k + 1]!;
    s2 += x[xo + k + 2]! * y[yo + k + 2]!;
    s3 += x[xo + k + 3]! * y[yo + k + 3]!;
  }
  for (; k < d; k++) s0 += x[xo + k]! * y[yo + k]!;
  return s0 + s1 + s2 + s3;
}

/** y[yo..] += a · x[xo..] over d values. */
function axpy(a: number, x: Float64Array, xo: number, y: Float64Array, yo: number, d: number): void {
  for (let k = 0; k < d; k++) y[yo + k] += a * x[xo + k]!;
}
