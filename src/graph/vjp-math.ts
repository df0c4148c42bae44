// VJP rules for arithmetic: elementwise ops (with broadcasting), reductions, MatMul/Gemm, softmax and
// layer normalisation. Notation: d is the cotangent of the output, X/Y the forward input/output.
import { type DType, bf16BitsToF32, f16BitsToF32 } from './dtype.js';
import type { Node, OutputSpec, Value } from './ir.js';
import type { VjpContext, VjpRule } from './vjp-context.js';
import { normAxis } from './ops.js';

/** The value of a one-element constant, or undefined. */
export function scalarValue(v: Value | null | undefined): number | undefined {
  if (!v || v.origin.kind !== 'const') return undefined;
  const t = v.origin.tensor;
  if (t.data.length !== 1) return undefined;
  const x = t.data[0]!;
  if (t.dtype === 'f16') return f16BitsToF32(x as number);
  if (t.dtype === 'bf16') return bf16BitsToF32(x as number);
  return Number(x);
}

/** Gradient of a unary op: d · f′, where `factor` builds f′ from the context. */
function unary(factor: (c: VjpContext) => Value): VjpRule {
  return (c) => [c.times(factor(c))];
}

const add: VjpRule = (c) => {
  const d = c.dyBroadcastable()!;
  return [c.needs(0) ? c.sumTo(d, c.fx(0)) : null, c.needs(1) ? c.sumTo(d, c.fx(1)) : null];
};

const sub: VjpRule = (c) => {
  const d = c.dyBroadcastable()!;
  return [c.needs(0) ? c.sumTo(d, c.fx(0)) : null, c.needs(1) ? c.sumTo(d, c.fx(1)).neg() : null];
};

const mul: VjpRule = (c) => {
  const d = c.dyBroadcastable()!;
  return [c.needs(0) ? c.sumTo(d.mul(c.x(1)), c.fx(0)) : null, c.needs(1) ? c.sumTo(d.mul(c.x(0)), c.fx(1)) : null];
};

// d(a/b) = d/b · da − d·y/b · db
const div: VjpRule = (c) => {
  const q = c.dyBroadcastable()!.div(c.x(1));
  return [c.needs(0) ? c.sumTo(q, c.fx(0)) : null, c.needs(1) ? c.sumTo(q.mul(c.y()), c.fx(1)).neg() : null];
};

const pow: VjpRule = (c) => {
  const d = c.dyBroadcastable()!;
  const X = c.fx(0);
  const out: (Value | null)[] = [null, null];
  if (c.needs(0)) {
    const e = scalarValue(c.fx(1));
    let f: Value | null;
    if (e === 0) f = null;
    else if (e === 1) f = d;
    else if (e === 2) f = d.mul(c.x(0).mul(c.scalar(2, X.dtype)));
    else if (e !== undefined) f = d.mul(c.x(0).pow(c.scalar(e - 1, X.dtype)).mul(c.scalar(e, X.dtype)));
    else {
      const E = c.x(1);
      const eX = E.dtype === X.dtype ? E : E.cast(X.dtype);
      f = d.mul(c.x(0).pow(E.sub(c.scalar(1, E.dtype))).mul(eX));
    }
    out[0] = f && c.sumTo(f, X);
  }
  if (c.needs(1)) {
    const f = d.mul(c.y().mul(c.x(0).log()));
    const E = c.fx(1);
    out[1] = c.sumTo(f.dtype === E.dtype ? f : f.cast(E.dtype), E);
  }
  return out;
};

/** Max/Min over n broadcast inputs: the gradient goes to the inputs equal to the result, split evenly on ties (like torch.maximum). */
const extremum: VjpRule = (c) => {
  const d = c.dyBroadcastable()!;
  const n = c.node.inputs.length;
  if (n === 1) return [d];
  const Y = c.y();
  const masks = c.node.inputs.map((_, i) => c.x(i).equal(Y).cast(Y.dtype));
  let count = masks[0]!;
  for (const m of masks.slice(1)) count = count.add(m);
  const share = d.div(count);
  return masks.map((m, i) => (c.needs(i) ? c.sumTo(share.mul(m), c.fx(i)) : null));
};

const sum: VjpRule = (c) => {
  const d = c.dyBroadcastable()!;
  return c.node.inputs.map((_, i) => (c.needs(i) ? c.sumTo(d, c.fx(i)) : null));
};

const mean: VjpRule = (c) => {
  const d = c.dyBroadcastable()!.div(c.scalar(c.node.inputs.length));
  return c.node.inputs.map((_, i) => (c.needs(i) ? c.sumTo(d, c.fx(i)) : null));
};

const where: VjpRule = (c) => {
  const d = c.dyBroadcastable()!;
  const cond = c.x(0);
  const zero = c.scalar(0);
  return [null, c.needs(1) ? c.sumTo(c.g.where(cond, d, zero), c.fx(1)) : null, c.needs(2) ? c.sumTo(c.g.where(cond, zero, d), c.fx(2)) : null];
};

/** Clip passes the gradient where min ≤ x ≤ max (like torch.clamp); bounds get it where they clip. */
const clip: VjpRule = (c) => {
  const d = c.dyBroadcastable()!;
  const g = c.g;
  const X = c.x(0);
  const lo = c.has(1) ? c.x(1) : null;
  const hi = c.has(2) ? c.x(2) : null;
  let inside: Value | null = null;
  if (lo) inside = g.op1('GreaterOrEqual', [X, lo]);
  if (hi) {
    const h = g.op1('LessOrEqual', [X, hi]);
    inside = inside ? inside.and(h) : h;
  }
  const zero = c.scalar(0);
  return [
    c.needs(0) ? (inside ? g.where(inside, d, zero) : d) : null,
    c.needs(1) ? c.sumTo(g.where(X.less(lo!), d, zero), c.fx(1)) : null,
    c.needs(2) ? c.sumTo(g.where(X.greater(hi!), d, zero), c.fx(2)) : null,
  ];
};

const cast: VjpRule = (c) => {
  const d = c.dyBroadcastable()!;
  return [d.cast(c.fx(0).dtype)];
};

// --- reductions ---

/** Reduced axes (sorted, non-negative) of a Reduce* node, or null when it reduces nothing. */
function reduceAxes(c: VjpContext): number[] | null {
  const X = c.fx(0);
  let axes: number[] | undefined;
  if (c.op === 'ReduceSum' && c.node.inputs.length > 1 && c.has(1)) axes = c.constInput(1, 'axes');
  else axes = c.attrInts('axes');
  if (!axes || axes.length === 0) {
    if (c.attrInt('noop_with_empty_axes', 0)) return null;
    return [...X.shape.keys()];
  }
  return [...new Set(axes.map((a) => normAxis(a, X.rank)))].sort((a, b) => a - b);
}

/** v (shaped like the output) with the reduced axes present as 1s, so it broadcasts against the input. */
function keepDims(c: VjpContext, v: Value, axes: number[]): Value {
  return c.attrInt('keepdims', 1) ? v : v.unsqueeze(axes);
}

/** Number of elements averaged by a reduction, as a scalar of the input's dtype. */
function countOf(c: VjpContext, X: Value, axes: number[]): Value {
  const dims = axes.map((a) => X.shape[a]!);
  if (dims.every((d) => typeof d === 'number')) return c.scalar((dims as number[]).reduce((p, q) => p * q, 1), X.dtype);
  const sizes = c.g.op1('Gather', [c.shapeOf(X), c.i64(axes)], { axis: 0 }).cast(X.dtype);
  return c.g.op1('ReduceProd', [sizes], { keepdims: 0 });
}

const reduceSum: VjpRule = (c) => {
  const axes = reduceAxes(c);
  const d = c.dyBroadcastable()!;
  return [axes ? keepDims(c, d, axes) : d, null];
};

const reduceMean: VjpRule = (c) => {
  const axes = reduceAxes(c);
  const d = c.dyBroadcastable()!;
  if (!axes) return [d];
  return [keepDims(c, d, axes).div(countOf(c, c.fx(0), axes))];
};

/** ReduceMax/ReduceMin: the gradient is split evenly among the elements equal to the extremum. */
const reduceExtremum: VjpRule = (c) => {
  const axes = reduceAxes(c);
  const d = c.dyBroadcastable()!;
  if (!axes) return [d];
  const X = c.x(0);
  const mask = X.equal(keepDims(c, c.y(), axes)).cast(X.dtype);
  const count = mask.reduceSum(axes, true);
  return [mask.mul(keepDims(c, d, axes).div(count)), null];
};

const reduceSumSquare: VjpRule = (c) => {
  const axes = reduceAxes(c);
  const d = c.dyBroadcastable()!;
  const X = c.x(0);
  return [X.mul((axes ? keepDims(c, d, axes) : d).mul(c.scalar(2)))];
};

/** ReduceL2: x/‖x‖ · d, with 0 where the norm is 0 (the subgradient torch uses). */
const reduceL2: VjpRule = (c) => {
  const axes = reduceAxes(c);
  const d = c.dyBroadcastable()!;
  const X = c.x(0);
  const norm = axes ? keepDims(c, c.y(), axes) : c.y();
  const dk = axes ? keepDims(c, d, axes) : d;
  const zero = c.scalar(0);
  return [X.mul(c.g.where(norm.equal(zero), zero, dk.div(norm)))];
};

const reduceLogSumExp: VjpRule = (c) => {
  const axes = reduceAxes(c);
  const d = c.dyBroadcastable()!;
  const X = c.x(0);
  if (!axes) return [d];
  return [keepDims(c, d, axes).mul(X.sub(keepDims(c, c.y(), axes)).exp())];
};

// --- softmax ---

const softmax: VjpRule = (c) => {
  const Y = c.y();
  const axis = c.attrInt('axis', -1);
  const t = c.dyBroadcastable()!.mul(Y);
  return [t.sub(Y.mul(t.reduceSum([axis], true)))];
};

const logSoftmax: VjpRule = (c) => {
  const d = c.dy()!;
  const axis = c.attrInt('axis', -1);
  return [d.sub(c.y().exp().mul(d.reduceSum([axis], true)))];
};

// --- matrix products ---

/** op(a)·op(b)·alpha for 2-D operands: Gemm where ORT has it (f32/f64), else MatMul with transposes. */
function gemm(c: VjpContext, a: Value, b: Value, transA: boolean, transB: boolean, alpha = 1): Value {
  if (a.dtype === 'f32' || a.dtype === 'f64') {
    const attrs: Record<string, number> = {};
    if (transA) attrs.transA = 1;
    if (transB) attrs.transB = 1;
    if (alpha !== 1) attrs.alpha = alpha;
    return c.g.op1('Gemm', [a, b], attrs);
  }
  const r = (transA ? a.transpose([1, 0]) : a).matmul(transB ? b.transpose([1, 0]) : b);
  return alpha === 1 ? r : r.mul(c.scalar(alpha, a.dtype));
}

function swapLast(v: Value): Value {
  const perm = [...v.shape.keys()];
  perm.splice(-2, 2, v.rank - 1, v.rank - 2);
  return v.transpose(perm);
}

const matmul: VjpRule = (c) => {
  const A = c.fx(0);
  const B = c.fx(1);
  const d = c.dy()!;
  const k = A.shape[A.rank - 1]!;
  const n = B.shape[B.rank - 1]!;
  // Activations times a weight matrix: dW is one GEMM over all rows, not a batch of products summed.
  if (A.rank >= 2 && B.rank === 2) {
    let dB: Value | null = null;
    if (c.needs(1)) {
      if (A.rank === 2) dB = gemm(c, c.x(0), d, true, false);
      else if (typeof k === 'number' && typeof n === 'number') dB = gemm(c, c.x(0).reshape([-1, k]), d.reshape([-1, n]), true, false);
      else dB = c.sumTo(swapLast(c.x(0)).matmul(d), B);
    }
    return [c.needs(0) ? d.matmul(c.x(1).transpose([1, 0])) : null, dB];
  }
  // General (batched, broadcast, rank-1) case: promote vectors to matrices, reduce broadcast batch dims.
  const a1 = A.rank === 1;
  const b1 = B.rank === 1;
  const Ap = a1 ? c.x(0).unsqueeze([0]) : c.x(0);
  const Bp = b1 ? c.x(1).unsqueeze([1]) : c.x(1);
  let dp = d;
  if (a1 && b1) dp = d.reshape([1, 1]);
  else if (a1) dp = d.unsqueeze([d.rank - 1]);
  else if (b1) dp = d.unsqueeze([d.rank]);
  const out: (Value | null)[] = [null, null];
  if (c.needs(0)) {
    const full = dp.matmul(swapLast(Bp));
    out[0] = a1
      ? c.sumToShape(full, [1, A.shape[0]!], () => c.g.concat([c.i64([1]), c.shapeOf(A)], 0)).reshape([-1])
      : c.sumTo(full, A);
  }
  if (c.needs(1)) {
    const full = swapLast(Ap).matmul(dp);
    out[1] = b1
      ? c.sumToShape(full, [B.shape[0]!, 1], () => c.g.concat([c.shapeOf(B), c.i64([1])], 0)).reshape([-1])
      : c.sumTo(full, B);
  }
  return out;
};

/** Y = alpha·op(A)·op(B) + beta·C. */
const gemmRule: VjpRule = (c) => {
  const d = c.dy()!;
  const alpha = c.attrFloat('alpha', 1);
  const beta = c.attrFloat('beta', 1);
  const tA = c.attrInt('transA', 0) === 1;
  const tB = c.attrInt('transB', 0) === 1;
  let dA: Value | null = null;
  let dB: Value | null = null;
  if (c.needs(0)) dA = tA ? gemm(c, c.x(1), d, tB, true, alpha) : gemm(c, d, c.x(1), false, !tB, alpha);
  if (c.needs(1)) dB = tB ? gemm(c, d, c.x(0), true, tA, alpha) : gemm(c, c.x(0), d, !tA, false, alpha);
  let dC: Value | null = null;
  if (c.needs(2)) dC = c.sumTo(beta === 1 ? d : d.mul(c.scalar(beta)), c.fx(2));
  return [dA, dB, dC];
};

// --- normalisation ---

/** Statistic outputs a LayerNormalization copy computes for its VJP (f32 only: ORT stashes statistics in f32). */
function layerNormSaved(n: Node): OutputSpec[] | undefined {
  const X = n.inputs[0]!;
  if (X.dtype !== 'f32' || n.outputs.length >= 3) return undefined;
  const a = n.attrs.axis?.kind === 'int' ? normAxis(n.attrs.axis.value, X.rank) : X.rank - 1;
  const stat: OutputSpec = { dtype: 'f32', shape: X.shape.map((d, i) => (i < a ? d : 1)) };
  return [{ dtype: X.dtype, shape: X.shape }, stat, stat];
}

/**
 * Shared backward of the layer norms, in the working dtype wt (f64 for f64, else f32):
 * xhat = (x − mean)·inv; dScale = Σ d·xhat; dBias = Σ d; dx = inv·(g − mean(g) − xhat·mean(g·xhat)) with
 * g = d·scale (RMSNorm: no mean terms).
 */
export function normBackward(
  c: VjpContext,
  o: { x: Value; d: Value; scale: Value; axes: number[]; eps: number; rms: boolean; mean?: Value; inv?: Value },
): { dx: Value; dScale: Value; dBias: Value } {
  const wt: DType = o.x.dtype === 'f64' ? 'f64' : 'f32';
  const x = o.x.cast(wt);
  const d = o.d.cast(wt);
  let inv = o.inv;
  let centred = x;
  if (!o.rms) centred = x.sub(o.mean ?? x.reduceMean(o.axes, true));
  if (!inv) inv = centred.mul(centred).reduceMean(o.axes, true).add(c.scalar(o.eps, wt)).sqrt().reciprocal();
  const xhat = centred.mul(inv);
  const gx = d.mul(o.scale.cast(wt));
  let inner = o.rms ? gx : gx.sub(gx.reduceMean(o.axes, true));
  inner = inner.sub(xhat.mul(gx.mul(xhat).reduceMean(o.axes, true)));
  return { dx: inner.mul(inv), dScale: d.mul(xhat), dBias: d };
}

const layerNorm: VjpRule = (c) => {
  const X = c.fx(0);
  const axis = normAxis(c.attrInt('axis', -1), X.rank);
  const axes = [...Array(X.rank - axis).keys()].map((i) => axis + i);
  const stash = X.dtype === 'f32' ? (c.node.outputs.length >= 3 ? [c.y(1), c.y(2)] : [c.saved(0), c.saved(1)]) : undefined;
  const r = normBackward(c, { x: c.x(0), d: c.dy()!, scale: c.x(1), axes, eps: c.attrFloat('epsilon', 1e-5), rms: false, mean: stash?.[0], inv: stash?.[1] });
  return [
    c.needs(0) ? r.dx.cast(X.dtype) : null,
    c.needs(1) ? c.sumTo(r.dScale, c.fx(1)).cast(c.fx(1).dtype) : null,
    c.needs(2) ? c.sumTo(r.dBias, c.fx(2)).cast(c.fx(2).dtype) : null,
  ];
};

/** SimplifiedLayerNormalization (RMSNorm; an ONNX-domain op in ONNX Runtime): y = x/√(mean(x²)+ε)·scale. */
const simplifiedLayerNorm: VjpRule = (c) => {
  const X = c.fx(0);
  const axis = normAxis(c.attrInt('axis', -1), X.rank);
  const axes = [...Array(X.rank - axis).keys()].map((i) => axis + i);
  const r = normBackward(c, { x: c.x(0), d: c.dy()!, scale: c.x(1), axes, eps: c.attrFloat('epsilon', 1e-5), rms: true });
  return [c.needs(0) ? r.dx.cast(X.dtype) : null, c.needs(1) ? c.sumTo(r.dScale, c.fx(1)).cast(c.fx(1).dtype) : null];
};

const cumSum: VjpRule = (c) => {
  const d = c.dy()!;
  const rev = c.attrInt('reverse', 0) ? 0 : 1;
  return [c.g.op1('CumSum', [d, c.x(1)], { exclusive: c.attrInt('exclusive', 0), reverse: rev }), null];
};

const trilu: VjpRule = (c) => {
  const d = c.dy()!;
  return [c.g.op1('Trilu', c.has(1) ? [d, c.x(1)] : [d], { upper: c.attrInt('upper', 1) }), null];
};

const INV_SQRT_PI_2 = 2 / Math.sqrt(Math.PI);

export const MATH_RULES: Record<string, VjpRule> = {
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Pow: pow,
  Max: extremum,
  Min: extremum,
  Sum: sum,
  Mean: mean,
  Where: where,
  Clip: clip,
  Cast: cast,
  Identity: (c) => [c.dyBroadcastable()],
  Neg: (c) => [c.dyBroadcastable()!.neg()],
  Abs: unary((c) => c.g.op1('Sign', [c.x(0)])),
  Sqrt: (c) => [c.dyBroadcastable()!.div(c.y()).mul(c.scalar(0.5))],
  Reciprocal: (c) => [c.dyBroadcastable()!.mul(c.y().mul(c.y())).neg()],
  Exp: unary((c) => c.y()),
  Log: (c) => [c.dyBroadcastable()!.div(c.x(0))],
  Tanh: unary((c) => c.scalar(1).sub(c.y().mul(c.y()))),
  // erf′(x) = (2/√π)·exp(−x²) = exp(ln(2/√π) − x²): three passes over x instead of five.
  Erf: unary((c) => c.scalar(Math.log(INV_SQRT_PI_2)).sub(c.x(0).mul(c.x(0))).exp()),
  Sigmoid: unary((c) => c.y().mul(c.scalar(1).sub(c.y()))),
  Relu: (c) => [c.g.where(c.y().greater(c.scalar(0)), c.dyBroadcastable()!, c.scalar(0))],
  Sin: unary((c) => c.x(0).cos()),
  Cos: (c) => [c.dyBroadcastable()!.mul(c.x(0).sin()).neg()],
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  MatMul: matmul,
  Gemm: gemmRule,
  ReduceSum: reduceSum,
  ReduceMean: reduceMean,
  ReduceMax: reduceExtremum,
  ReduceMin: reduceExtremum,
  ReduceSumSquare: reduceSumSquare,
  ReduceL2: reduceL2,
  ReduceLogSumExp: reduceLogSumExp,
  LayerNormalization: layerNorm,
  SimplifiedLayerNormalization: simplifiedLayerNorm,
  CumSum: cumSum,
  Trilu: trilu,
};

/** Ops whose copy in the VJP graph computes extra outputs that their rule uses (statistics). */
export const SAVED_OUTPUTS: Record<string, (n: Node) => OutputSpec[] | undefined> = {
  LayerNormalization: layerNormSaved,
};
