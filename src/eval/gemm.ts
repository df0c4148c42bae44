// Dense matrix products for the evaluators (logistic regression, k-means), run by ONNX Runtime through
// the project's graph engine so they use MLAS's blocked kernels instead of JS loops. One session per
// (dtype, transposes, bias) shape family, with symbolic dims, created on first use and reused.
import { Graph, Runtime, hostTensor, type GraphSession } from '../graph/index.js';

export type FloatArray = Float32Array | Float64Array;
type FloatDType = 'f32' | 'f64';

export interface GemmOptions {
  /** A is given as [k, m] and used transposed. */
  transA?: boolean;
  /** B is given as [n, k] and used transposed. */
  transB?: boolean;
  alpha?: number;
  /** Added after scaling: a row vector [n] broadcast over the rows (times beta). */
  rowBias?: FloatArray;
  beta?: number;
}

const sessions = new Map<string, Promise<GraphSession>>();

function session(dtype: FloatDType, transA: boolean, transB: boolean, bias: boolean, alpha: number, beta: number): Promise<GraphSession> {
  const key = `${dtype}:${+transA}:${+transB}:${+bias}:${alpha}:${beta}`;
  let s = sessions.get(key);
  if (!s) {
    const g = new Graph(`eval-gemm-${dtype}`);
    const a = g.input('a', dtype, transA ? ['k', 'm'] : ['m', 'k']);
    const b = g.input('b', dtype, transB ? ['n', 'k'] : ['k', 'n']);
    const inputs = [a, b];
    if (bias) inputs.push(g.input('c', dtype, [1, 'n']));
    const attrs: Record<string, number> = { transA: transA ? 1 : 0, transB: transB ? 1 : 0 };
    if (alpha !== 1) attrs.alpha = alpha;
    if (bias && beta !== 1) attrs.beta = beta;
    g.output(g.op1('Gemm', inputs, attrs), 'y');
    s = Runtime.get('cpu').session(g);
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
  }
  return s;
}

/** Below this many multiply-adds a JS loop beats a session call. */
const SMALL = 1 << 16;

/**
 * Y = alpha·op(A)·op(B) (+ beta·bias broadcast over rows), row-major. A is [m, k] (or [k, m] with
 * transA), B is [k, n] (or [n, k] with transB). The result has A's element type.
 */
export async function gemm(a: FloatArray, m: number, k: number, b: FloatArray, n: number, opts: GemmOptions = {}): Promise<FloatArray> {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const alpha = opts.alpha ?? 1;
  const beta = opts.beta ?? 1;
  const dtype: FloatDType = a instanceof Float64Array ? 'f64' : 'f32';
  if ((b instanceof Float64Array ? 'f64' : 'f32') !== dtype) throw new Error('gemm: A and B must have the same element type');
  if (a.length !== m * k) throw new Error(`gemm: A has ${a.length} elements, expected ${m}×${k}`);
  if (b.length !== k * n) throw new Error(`gemm: B has ${b.length} elements, expected ${k}×${n}`);
  if (opts.rowBias && opts.rowBias.length !== n) throw new Error(`gemm: bias has ${opts.rowBias.length} elements, expected ${n}`);
  if (m === 0 || n === 0) return dtype === 'f64' ? new Float64Array(m * n) : new Float32Array(m * n);
  if (m * n * k <= SMALL || k === 0) return gemmJs(a, m, k, b, n, transA, transB, alpha, opts.rowBias, beta, dtype);
  const s = await session(dtype, transA, transB, !!opts.rowBias, alpha, beta);
  const feeds: Record<string, ReturnType<typeof hostTensor>> = {
    a: hostTensor(dtype, a, transA ? [k, m] : [m, k]),
    b: hostTensor(dtype, b, transB ? [n, k] : [k, n]),
  };
  if (opts.rowBias) feeds.c = hostTensor(dtype, opts.rowBias, [1, n]);
  const out = await s.run(feeds);
  return out.y!.data as FloatArray;
}

function gemmJs(a: FloatArray, m: number, k: number, b: FloatArray, n: number, transA: boolean, transB: boolean, alpha: number, bias: FloatArray | undefined, beta: number, dtype: FloatDType): FloatArray {
  const out = dtype === 'f64' ? new Float64Array(m * n) : new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += (transA ? a[t * m + i]! : a[i * k + t]!) * (transB ? b[j * k + t]! : b[t * n + j]!);
      out[i * n + j] = alpha * s + (bias ? beta * bias[j]! : 0);
    }
  }
  return out;
}
