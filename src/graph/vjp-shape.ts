// VJP rules for ops that move data: transposes and reshapes, concat/split/slice, expand, and the indexing
// ops, whose gradients scatter (with accumulation, so repeated indices add up) into zeros.
import type { Dim, Value } from './ir.js';
import { constInts, normAxis } from './ops.js';
import type { VjpContext, VjpRule } from './vjp-context.js';

function inversePerm(perm: number[]): number[] {
  const inv: number[] = [];
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

const transpose: VjpRule = (c) => {
  const perm = c.attrInts('perm') ?? [...c.fx(0).shape.keys()].reverse();
  return [c.dy()!.transpose(inversePerm(perm))];
};

/** Reshape-like ops: the gradient takes the input's shape back. */
const reshapeBack: VjpRule = (c) => {
  const X = c.fx(0);
  const out = c.g.op1('Reshape', [c.dy()!, c.shapeOf(X)], {}, { output: { dtype: X.dtype, shape: X.shape } });
  return [out, null];
};

const unsqueeze: VjpRule = (c) => [c.g.op1('Squeeze', [c.dy()!, c.x(1)]), null];

const squeeze: VjpRule = (c) => (c.has(1) ? [c.g.op1('Unsqueeze', [c.dy()!, c.x(1)]), null] : reshapeBack(c));

const expand: VjpRule = (c) => [c.sumTo(c.dyBroadcastable()!, c.fx(0)), null];

/** Sizes of `axis` across values: a constant when all are static, else assembled from run-time dims. */
function sizesAlong(c: VjpContext, vs: readonly Value[], axis: number): Value {
  const dims = vs.map((v) => v.shape[axis]!);
  if (dims.every((d) => typeof d === 'number')) return c.i64(dims as number[]);
  return c.g.concat(vs.map((v, i) => (typeof dims[i] === 'number' ? c.i64([dims[i] as number]) : c.dimOf(v, axis))), 0);
}

const concat: VjpRule = (c) => {
  const xs = c.node.inputs as Value[];
  if (xs.length === 1) return [c.dy()];
  const axis = normAxis(c.attrInt('axis', 0), xs[0]!.rank);
  const parts = c.g.op('Split', [c.dy()!, sizesAlong(c, xs, axis)], { axis }, xs.length, { outputs: xs.map((x) => ({ dtype: x.dtype, shape: x.shape })) });
  return parts.map((p, i) => (c.needs(i) ? p : null));
};

const split: VjpRule = (c) => {
  const X = c.fx(0);
  const axis = normAxis(c.attrInt('axis', 0), X.rank);
  const parts = c.node.outputs.map((o, i) => c.dy(i) ?? c.zeros(o));
  const dx = parts.length === 1 ? parts[0]! : c.g.op1('Concat', parts, { axis }, { output: { dtype: X.dtype, shape: X.shape } });
  return [dx, null];
};

/** Start (clamped into [0, dim]) of a unit-step slice, as a number or a run-time int64 [1]. */
function sliceStart(c: VjpContext, X: Value, axis: number, start: number): number | Value {
  const dim = X.shape[axis]!;
  if (typeof dim === 'number') return Math.min(Math.max(start < 0 ? start + dim : start, 0), dim);
  if (start === 0) return 0;
  const D = c.dimOf(X, axis);
  return start > 0 ? D.min(c.i64([start])) : D.add(c.i64([start])).max(c.i64([0]));
}

/** Indices a slice with a non-unit step takes along an axis of static size. */
function steppedIndices(dim: number, start: number, end: number, step: number): number[] {
  const out: number[] = [];
  if (step > 0) {
    const s = Math.min(Math.max(start < 0 ? start + dim : start, 0), dim);
    const e = Math.min(Math.max(end < 0 ? end + dim : end, 0), dim);
    for (let i = s; i < e; i += step) out.push(i);
  } else {
    const s = Math.min(Math.max(start < 0 ? start + dim : start, -1), dim - 1);
    const e = Math.min(Math.max(end < 0 ? end + dim : end, -1), dim - 1);
    for (let i = s; i > e; i += step) out.push(i);
  }
  return out;
}

/**
 * Slice: unit-step axes are restored with one Pad (zeros around the slice); other steps scatter the
 * gradient back to the indices the slice took (ScatterElements along the axis).
 */
const slice: VjpRule = (c) => {
  const g = c.g;
  const X = c.fx(0);
  const starts = c.constInput(1, 'starts');
  const ends = c.constInput(2, 'ends');
  const axes = (c.has(3) ? c.constInput(3, 'axes') : starts.map((_, i) => i)).map((a) => normAxis(a, X.rank));
  const steps = c.has(4) ? c.constInput(4, 'steps') : starts.map(() => 1);
  let d = c.dy()!;
  const shape: Dim[] = [...d.shape];
  axes.forEach((axis, i) => {
    const step = steps[i]!;
    if (step === 1) return;
    const dim = X.shape[axis]!;
    if (typeof dim !== 'number') throw c.error(`a slice with step ${step} along a dim of run-time size (${dim}) is not supported`);
    const idx = steppedIndices(dim, starts[i]!, ends[i]!, step);
    const bshape = d.shape.map((_, j) => (j === axis ? idx.length : 1));
    const index = c.i64(idx).reshape(bshape).expand(g.shapeOf(d));
    shape[axis] = dim;
    const zshape = g.concat([...(axis > 0 ? [g.shapeOf(d, 0, axis)] : []), c.i64([dim]), ...(axis + 1 < d.rank ? [g.shapeOf(d, axis + 1)] : [])], 0);
    d = g.op1('ScatterElements', [c.zerosOf(d.dtype, zshape, shape), index, d], { axis }, { output: { dtype: d.dtype, shape: [...shape] } });
  });
  const begin: (number | Value)[] = X.shape.map(() => 0);
  const after: (number | Value)[] = X.shape.map(() => 0);
  let padded = false;
  axes.forEach((axis, i) => {
    if (steps[i] !== 1) return;
    const s = sliceStart(c, X, axis, starts[i]!);
    const n = d.shape[axis]!;
    const dim = X.shape[axis]!;
    begin[axis] = s;
    if (typeof dim === 'number' && typeof s === 'number' && typeof n === 'number') after[axis] = dim - s - n;
    else {
      const sv = typeof s === 'number' ? c.i64([s]) : s;
      const nv = typeof n === 'number' ? c.i64([n]) : g.shapeOf(d, axis, axis + 1);
      after[axis] = c.dimOf(X, axis).sub(sv).sub(nv);
    }
    padded = true;
  });
  if (padded) {
    const all = [...begin, ...after];
    const pads = all.every((p) => typeof p === 'number') ? c.i64(all as number[]) : g.concat(all.map((p) => (typeof p === 'number' ? c.i64([p]) : p)), 0);
    d = g.op1('Pad', [d, pads], {}, { output: { dtype: X.dtype, shape: X.shape } });
  }
  return [d, null, null, null, null];
};

/** Indices with negatives wrapped (the scatter ops reject or ignore negative indices, Gather accepts them), as int64. */
function wrappedIndices(c: VjpContext, data: Value, axis: number, indices: Value): Value {
  const known = constInts(indices);
  const dim = data.shape[axis]!;
  let idx = c.x(1);
  if (known && known.every((k) => k >= 0)) return idx.dtype === 'i64' ? idx : idx.cast('i64');
  if (known && typeof dim === 'number') {
    const dims = indices.shape as number[];
    return c.g.constant({ dtype: 'i64', dims, data: BigInt64Array.from(known, (k) => BigInt(k < 0 ? k + dim : k)) });
  }
  return wrapNegative(c, idx, data, axis);
}

/** idx < 0 ? idx + dim : idx, at run time, as int64 (the dim as a scalar keeps the indices' rank). */
function wrapNegative(c: VjpContext, indices: Value, data: Value, axis: number): Value {
  const idx = indices.dtype === 'i64' ? indices : indices.cast('i64');
  return c.g.where(idx.less(c.scalar(0, 'i64')), idx.add(c.dimOf(data, axis).squeeze([0])), idx);
}

/**
 * Adds the rows of `upd` ([...Q, ...rest]) into `zeros` ([V, ...rest]) at `idx` ([...Q], int64, in range),
 * repeated indices accumulating. Built on ScatterElements rather than ScatterND: ONNX Runtime 1.30's
 * multi-threaded ScatterND(reduction='add') loses updates when indices repeat (ScatterElements is exact).
 */
function scatterAddRows(c: VjpContext, zeros: Value, idx: Value, upd: Value): Value {
  const g = c.g;
  const rows = g.op1('Flatten', [zeros], { axis: 1 }); // [V, R]
  const flatIdx = idx.reshape([-1]); // [n]
  // Shapes of values of the VJP graph itself (not forward values): plain Shape ops.
  const shapeOf = (v: Value) => (v.shape.every((s) => typeof s === 'number') ? c.i64(v.shape as number[]) : g.shapeOf(v));
  const updRows = g.op1('Flatten', [upd.reshape(g.concat([c.i64([-1]), g.op1('Slice', [shapeOf(zeros), c.i64([1]), c.i64([zeros.rank])])], 0))], { axis: 1 }); // [n, R]
  const idxRows = flatIdx.unsqueeze([1]).expand(g.shapeOf(updRows)); // [n, R]
  const added = g.op1('ScatterElements', [rows, idxRows, updRows], { axis: 0, reduction: 'add' });
  return added.reshape(shapeOf(zeros));
}

/** Gather: scatter-add the gradient rows into zeros shaped like the data (repeated indices accumulate). */
const gather: VjpRule = (c) => {
  if (!c.needs(0)) return [null, null];
  const g = c.g;
  const data = c.fx(0);
  const axis = normAxis(c.attrInt('axis', 0), data.rank);
  const q = c.fx(1).rank;
  const idx = wrappedIndices(c, data, axis, c.fx(1));
  const d = c.dy()!;
  if (axis === 0) return [scatterAddRows(c, c.zeros(data), idx, d), null];
  // Move the gathered axis to the front, scatter there, and move it back.
  const order = [axis, ...[...Array(data.rank).keys()].filter((a) => a !== axis)];
  const perm = [...Array(q).keys()].map((j) => axis + j);
  for (let j = 0; j < axis; j++) perm.push(j);
  for (let j = axis + q; j < d.rank; j++) perm.push(j);
  const tshape = order.map((a) => data.shape[a]!);
  const zshape = tshape.every((s) => typeof s === 'number') ? c.i64(tshape as number[]) : g.op1('Gather', [c.shapeOf(data), c.i64(order)], { axis: 0 });
  const zeros = c.zerosOf(data.dtype, zshape, tshape);
  const scattered = scatterAddRows(c, zeros, idx, d.transpose(perm));
  return [scattered.transpose(inversePerm(order)), null];
};

const gatherElements: VjpRule = (c) => {
  if (!c.needs(0)) return [null, null];
  const data = c.fx(0);
  const axis = normAxis(c.attrInt('axis', 0), data.rank);
  const known = constInts(c.fx(1));
  let idx = c.x(1);
  if (!(known && known.every((k) => k >= 0))) idx = wrapNegative(c, idx, data, axis);
  return [c.g.op1('ScatterElements', [c.zeros(data), idx, c.dy()!], { axis, reduction: 'add' }), null];
};

/** TopK: the values' gradient goes back to the positions they came from (output 1). */
const topK: VjpRule = (c) => {
  const X = c.fx(0);
  const d = c.dy(0);
  if (!d) return [null, null];
  const axis = normAxis(c.attrInt('axis', -1), X.rank);
  return [c.g.op1('ScatterElements', [c.zeros(X), c.y(1), d], { axis, reduction: 'add' }), null];
};

export const SHAPE_RULES: Record<string, VjpRule> = {
  Transpose: transpose,
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Expand: expand,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  GatherElements: gatherElements,
  TopK: topK,
};
