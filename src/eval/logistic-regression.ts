// scikit-learn's LogisticRegression(solver="lbfgs") with its defaults (L2, C = 1, tol 1e-4, intercept
// fitted and not penalised), as mteb's classification evaluator uses it with max_iter = 100:
// - X is used in float64; more than two classes → multinomial softmax with the symmetric K-class
//   parametrisation; two classes → one binary model for the second sorted class;
// - objective = mean log-loss + ‖W‖² / (2·C·n), started from zero;
// - minimised by L-BFGS with scipy's settings (maxcor 10, maxls 50, gtol = tol, ftol = 64·eps);
// - predict = argmax of X·Wᵀ + b over the sorted classes (first maximum wins); binary: score > 0.
// The two matrix products per evaluation run on ONNX Runtime (gemm.ts).
import { gemm } from './gemm.js';
import { lbfgsb, type LbfgsStatus } from './lbfgs.js';
import { pairwiseSum } from './numeric.js';
import { sortedLabels, type Label } from './sklearn-metrics.js';

export interface LogisticRegressionOptions {
  /** Inverse regularisation strength (default 1). */
  C?: number;
  /** L-BFGS iterations (default 100, sklearn's and mteb's). */
  maxIter?: number;
  /** Gradient tolerance (default 1e-4). */
  tol?: number;
}

function toF64(x: Float32Array | Float64Array): Float64Array {
  return x instanceof Float64Array ? x : Float64Array.from(x);
}

/** Per-sample half binomial loss and gradient, as sklearn's Cython kernel computes them. */
function binomial(raw: number, y: number): [number, number] {
  if (raw <= 0) {
    const e = Math.exp(raw);
    const loss = raw <= -37 ? e - y * raw : Math.log1p(e) - y * raw;
    return [loss, ((1 - y) * e - y) / (1 + e)];
  }
  const e = Math.exp(-raw);
  const loss = raw <= 18 ? Math.log1p(e) + (1 - y) * raw : e + (1 - y) * raw;
  return [loss, (1 - y - y * e) / (1 + e)];
}

export class LogisticRegression {
  private constructor(
    /** Sorted class labels. */
    readonly classes: Label[],
    /** Rows of weights: K rows for K > 2 classes, one row (for classes[1]) when binary. */
    readonly coef: Float64Array,
    readonly intercept: Float64Array,
    readonly nFeatures: number,
    readonly nIter: number,
    readonly status: LbfgsStatus,
  ) {}

  /** Fits on n rows of X (row-major, n × d). */
  static async fit(X: Float32Array | Float64Array, n: number, d: number, y: readonly Label[], opts: LogisticRegressionOptions = {}): Promise<LogisticRegression> {
    const obj = logisticObjective(X, n, d, y, opts.C ?? 1);
    const res = await lbfgsb(obj.fg, new Float64Array(obj.size), { m: 10, maxIter: opts.maxIter ?? 100, maxLs: 50, pgtol: opts.tol ?? 1e-4, ftol: 64 * Number.EPSILON });
    const rows = obj.classes.length === 2 ? 1 : obj.classes.length;
    return new LogisticRegression(obj.classes, res.x.slice(0, rows * d), res.x.slice(rows * d), d, res.nit, res.status);
  }

  /** Decision values: n × K (multiclass) or n (binary), computed in float64. */
  async decisionFunction(X: Float32Array | Float64Array, n: number): Promise<Float64Array> {
    const d = this.nFeatures;
    if (X.length !== n * d) throw new Error(`LogisticRegression: X has ${X.length} values, expected ${n}×${d}`);
    const rows = this.intercept.length;
    const raw = (await gemm(toF64(X), n, d, this.coef, rows, { transB: true })) as Float64Array;
    for (let i = 0; i < n; i++) for (let k = 0; k < rows; k++) raw[i * rows + k] = raw[i * rows + k]! + this.intercept[k]!;
    return raw;
  }

  async predict(X: Float32Array | Float64Array, n: number): Promise<Label[]> {
    const scores = await this.decisionFunction(X, n);
    const rows = this.intercept.length;
    const out: Label[] = new Array(n);
    if (rows === 1) {
      for (let i = 0; i < n; i++) out[i] = this.classes[scores[i]! > 0 ? 1 : 0]!;
      return out;
    }
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < rows; k++) if (scores[i * rows + k]! > scores[i * rows + best]!) best = k;
      out[i] = this.classes[best]!;
    }
    return out;
  }
}

export interface LogisticObjective {
  classes: Label[];
  /** Parameters: weights (rows × d, row-major) then one intercept per row; rows = 1 when binary, else K. */
  size: number;
  fg: (w: Float64Array) => Promise<[number, Float64Array]>;
}

/** sklearn's LinearModelLoss for logistic regression: mean log-loss + ‖W‖²/(2Cn), and its gradient. */
export function logisticObjective(X: Float32Array | Float64Array, n: number, d: number, y: readonly Label[], C = 1): LogisticObjective {
  if (X.length !== n * d) throw new Error(`LogisticRegression: X has ${X.length} values, expected ${n}×${d}`);
  if (y.length !== n) throw new Error(`LogisticRegression: ${y.length} labels for ${n} rows`);
  const classes = sortedLabels(y);
  if (classes.length < 2) throw new Error(`LogisticRegression needs samples of at least 2 classes; the data has only ${JSON.stringify(classes[0])}`);
  const lambda = 1 / (C * n);
  const Xd = toF64(X);
  if (classes.length === 2) {
    const target = new Float64Array(n);
    for (let i = 0; i < n; i++) target[i] = y[i] === classes[1] ? 1 : 0;
    const fg = async (w: Float64Array): Promise<[number, Float64Array]> => {
      const weights = w.subarray(0, d);
      const b = w[d]!;
      const raw = (await gemm(Xd, n, d, weights, 1)) as Float64Array;
      const losses = new Float64Array(n);
      const gp = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const [l, gr] = binomial(raw[i]! + b, target[i]!);
        losses[i] = l;
        gp[i] = gr / n;
      }
      let norm2 = 0;
      for (let j = 0; j < d; j++) norm2 += weights[j]! * weights[j]!;
      const loss = pairwiseSum(losses) / n + 0.5 * lambda * norm2;
      const grad = new Float64Array(d + 1);
      const gw = (await gemm(gp, 1, n, Xd, d, { transA: true })) as Float64Array;
      for (let j = 0; j < d; j++) grad[j] = gw[j]! + lambda * weights[j]!;
      grad[d] = pairwiseSum(gp);
      return [loss, grad];
    };
    return { classes, size: d + 1, fg };
  }
  const K = classes.length;
  const index = new Map(classes.map((c, i) => [c, i]));
  const target = Int32Array.from(y, (l) => index.get(l)!);
  const fg = async (w: Float64Array): Promise<[number, Float64Array]> => {
    const W = w.subarray(0, K * d);
    const b = w.subarray(K * d);
    const raw = (await gemm(Xd, n, d, W, K, { transB: true })) as Float64Array;
    const losses = new Float64Array(n);
    const gp = new Float64Array(n * K);
    for (let i = 0; i < n; i++) {
      const row = i * K;
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        const v = (raw[row + k] = raw[row + k]! + b[k]!);
        if (v > max) max = v;
      }
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const e = Math.exp(raw[row + k]! - max);
        gp[row + k] = e;
        sum += e;
      }
      losses[i] = Math.log(sum) + max - raw[row + target[i]!]!;
      for (let k = 0; k < K; k++) gp[row + k] = (gp[row + k]! / sum - (k === target[i] ? 1 : 0)) / n;
    }
    let norm2 = 0;
    for (let j = 0; j < K * d; j++) norm2 += W[j]! * W[j]!;
    const loss = pairwiseSum(losses) / n + 0.5 * lambda * norm2;
    const grad = new Float64Array(K * (d + 1));
    const gw = (await gemm(gp, K, n, Xd, d, { transA: true })) as Float64Array;
    for (let j = 0; j < K * d; j++) grad[j] = gw[j]! + lambda * W[j]!;
    for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) grad[K * d + k] = grad[K * d + k]! + gp[i * K + k]!;
    return [loss, grad];
  };
  return { classes, size: K * (d + 1), fg };
}
