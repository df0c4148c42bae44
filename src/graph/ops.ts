// Output dtype/shape inference for the ONNX ops the builder emits (opset 17 semantics).
// A rule throws GraphError with the problem; the builder adds the node name and input shapes.
import { type DType, dtypeFromOnnx, isFloat } from './dtype.js';
import { type AttrValue, type Dim, type Graph, type OutputSpec, type Shape, type Value, GraphError, formatShape, isWildcard } from './ir.js';

type Inputs = readonly (Value | null)[];
type Attrs = Readonly<Record<string, AttrValue>>;
type Rule = (inputs: Inputs, attrs: Attrs, numOutputs: number, g: Graph) => OutputSpec[];

function int(attrs: Attrs, name: string, fallback: number): number {
  const a = attrs[name];
  if (!a) return fallback;
  if (a.kind !== 'int') throw new GraphError(`attribute ${name} must be an int`);
  return a.value;
}
function ints(attrs: Attrs, name: string): number[] | undefined {
  const a = attrs[name];
  if (!a) return undefined;
  if (a.kind !== 'ints') throw new GraphError(`attribute ${name} must be a list of ints`);
  return a.value;
}

/** The integer values of a constant input, or undefined when it is computed at run time. */
export function constInts(v: Value | null | undefined): number[] | undefined {
  if (!v || v.origin.kind !== 'const') return undefined;
  const d = v.origin.tensor.data;
  return Array.from(d as ArrayLike<number | bigint>, (x) => Number(x));
}

function req(inputs: Inputs, i: number, what: string): Value {
  const v = inputs[i];
  if (!v) throw new GraphError(`missing input ${i} (${what})`);
  return v;
}

/** A non-negative axis (ONNX: negative axes count from the end); out of range is an error. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Merges two dims that must be equal (or one broadcastable when `broadcast`). */
function mergeDim(a: Dim, b: Dim, broadcast: boolean, what: string, sa: Shape, sb: Shape): Dim {
  if (a === b) return a;
  if (broadcast && a === 1) return b;
  if (broadcast && b === 1) return a;
  if (isWildcard(a)) return b;
  if (isWildcard(b)) return a;
  // A symbol against a number: the symbol's run-time value must be that number; accept it.
  if (typeof a === 'string' && typeof b === 'number') return b;
  if (typeof b === 'string' && typeof a === 'number') return a;
  throw new GraphError(`${what}: ${formatShape(sa)} vs ${formatShape(sb)} (dims ${a} and ${b} differ)`);
}

export function broadcastShapes(a: Shape, b: Shape, what = 'shapes do not broadcast'): Dim[] {
  const r = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    out.push(mergeDim(da, db, true, what, a, b));
  }
  return out;
}

function sameDtype(vals: Value[], what: string): DType {
  const d = vals[0]!.dtype;
  for (const v of vals) if (v.dtype !== d) throw new GraphError(`${what}: dtypes differ (${vals.map((x) => x.dtype).join(' vs ')})`);
  return d;
}

function unary(floatOnly: boolean): Rule {
  return (inputs) => {
    const x = req(inputs, 0, 'X');
    if (floatOnly && !isFloat(x.dtype)) throw new GraphError(`needs a float input, got ${x.dtype}`);
    return [{ dtype: x.dtype, shape: x.shape }];
  };
}

function binary(outBool: boolean): Rule {
  return (inputs) => {
    const a = req(inputs, 0, 'A');
    const b = req(inputs, 1, 'B');
    const dtype = sameDtype([a, b], 'operands');
    return [{ dtype: outBool ? 'bool' : dtype, shape: broadcastShapes(a.shape, b.shape) }];
  };
}

function variadic(inputs: Inputs): OutputSpec[] {
  const vs = inputs.filter((x): x is Value => !!x);
  if (!vs.length) throw new GraphError('needs at least one input');
  const dtype = sameDtype(vs, 'operands');
  let s: Shape = vs[0]!.shape;
  for (const v of vs.slice(1)) s = broadcastShapes(s, v.shape);
  return [{ dtype, shape: s }];
}

function product(dims: Shape): { num: number; syms: string[] } {
  let num = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') num *= d;
    else syms.push(d);
  }
  return { num, syms };
}

function reduced(shape: Shape, axes: number[] | undefined, keepdims: boolean): Dim[] {
  const r = shape.length;
  const set = new Set((axes && axes.length ? axes : [...shape.keys()]).map((a) => normAxis(a, r)));
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (set.has(i)) {
      if (keepdims) out.push(1);
    } else out.push(d);
  });
  return out;
}

function reduceRule(axesFromInput: boolean): Rule {
  return (inputs, attrs) => {
    const x = req(inputs, 0, 'data');
    const keep = int(attrs, 'keepdims', 1) === 1;
    let axes: number[] | undefined;
    if (axesFromInput) {
      const ax = inputs[1];
      if (ax) {
        axes = constInts(ax);
        if (!axes) {
          if (keep) return [{ dtype: x.dtype, shape: x.shape.map(() => x.graph.wildcard()) }];
          throw new GraphError('axes computed at run time with keepdims=0 give an unknown rank; use keepdims=1 or pass the output explicitly');
        }
      }
    } else axes = ints(attrs, 'axes');
    // noop_with_empty_axes: empty (or absent) axes leave the input as it is instead of reducing every axis.
    if ((!axes || axes.length === 0) && int(attrs, 'noop_with_empty_axes', 0) === 1) return [{ dtype: x.dtype, shape: x.shape }];
    return [{ dtype: x.dtype, shape: reduced(x.shape, axes, keep) }];
  };
}

function reshapeTo(g: Graph, input: Shape, target: number[]): Dim[] {
  const out: Dim[] = [];
  let inferAt = -1;
  target.forEach((t, i) => {
    if (t === 0) {
      if (i >= input.length) throw new GraphError(`reshape: 0 at position ${i} but the input has rank ${input.length}`);
      out.push(input[i]!);
    } else if (t === -1) {
      if (inferAt >= 0) throw new GraphError('reshape: more than one -1');
      inferAt = i;
      out.push(-1);
    } else if (t < -1) throw new GraphError(`reshape: invalid target dim ${t}`);
    else out.push(t);
  });
  const inP = product(input);
  const outP = product(out.filter((_, i) => i !== inferAt));
  if (inferAt < 0) {
    const bad = !inP.syms.length && !outP.syms.length ? inP.num !== outP.num : !outP.syms.length && inP.num !== 0 && outP.num % inP.num !== 0;
    if (bad) throw new GraphError(`reshape: ${formatShape(input)} cannot hold the ${outP.num} elements of ${formatShape(target)}`);
    return out;
  }
  // The -1 dim: input product divided by the other target dims, symbols cancelled where possible.
  const left = [...inP.syms];
  let exact = true;
  for (const s of outP.syms) {
    const k = left.indexOf(s);
    if (k >= 0) left.splice(k, 1);
    else exact = false;
  }
  if (!exact || outP.num === 0 || inP.num % outP.num !== 0 || left.some(isWildcard)) {
    out[inferAt] = g.wildcard();
  } else {
    const n = inP.num / outP.num;
    if (left.length === 0) out[inferAt] = n;
    else if (left.length === 1 && n === 1) out[inferAt] = left[0]!;
    else out[inferAt] = g.wildcard();
  }
  return out;
}

function sliceDim(d: Dim, start: number, end: number, step: number, g: Graph): Dim {
  if (typeof d === 'number') {
    const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);
    let s = start < 0 ? start + d : start;
    let e = end < 0 ? end + d : end;
    if (step > 0) {
      s = clamp(s, 0, d);
      e = clamp(e, 0, d);
      return Math.max(0, Math.ceil((e - s) / step));
    }
    s = clamp(s, 0, d - 1);
    e = clamp(e, -1, d - 1);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  // Symbolic dim: assume it is long enough for fixed windows (e.g. the first or the last token).
  const open = end >= 2 ** 31 - 1;
  if (step === 1 && start === 0 && open) return d;
  if (step === 1 && start >= 0 && end >= start && !open) return end - start;
  if (step === 1 && start < 0 && open) return -start;
  if (step === 1 && start < 0 && end < 0 && end >= start) return end - start;
  return g.wildcard();
}

const RULES: Record<string, Rule> = {
  Identity: unary(false),
  Neg: unary(false),
  Abs: unary(false),
  Sign: unary(false),
  Relu: unary(true),
  Sqrt: unary(true),
  Reciprocal: unary(true),
  Exp: unary(true),
  Log: unary(true),
  Tanh: unary(true),
  Erf: unary(true),
  Sigmoid: unary(true),
  Sin: unary(true),
  Cos: unary(true),
  Floor: unary(true),
  Ceil: unary(true),
  Round: unary(true),
  Softmax: unary(true),
  LogSoftmax: unary(true),
  Trilu: unary(false),
  CumSum: unary(false),
  Not: (inputs) => {
    const x = req(inputs, 0, 'X');
    if (x.dtype !== 'bool') throw new GraphError(`needs a bool input, got ${x.dtype}`);
    return [{ dtype: 'bool', shape: x.shape }];
  },
  Clip: (inputs) => [{ dtype: req(inputs, 0, 'input').dtype, shape: req(inputs, 0, 'input').shape }],
  Add: binary(false),
  Sub: binary(false),
  Mul: binary(false),
  Div: binary(false),
  Mod: binary(false),
  Equal: binary(true),
  Less: binary(true),
  LessOrEqual: binary(true),
  Greater: binary(true),
  GreaterOrEqual: binary(true),
  And: binary(true),
  Or: binary(true),
  Xor: binary(true),
  Pow: (inputs) => {
    const a = req(inputs, 0, 'X');
    const b = req(inputs, 1, 'Y');
    return [{ dtype: a.dtype, shape: broadcastShapes(a.shape, b.shape) }];
  },
  Max: variadic,
  Min: variadic,
  Sum: variadic,
  Mean: variadic,
  Where: (inputs) => {
    const c = req(inputs, 0, 'condition');
    const x = req(inputs, 1, 'X');
    const y = req(inputs, 2, 'Y');
    if (c.dtype !== 'bool') throw new GraphError(`condition must be bool, got ${c.dtype}`);
    const dtype = sameDtype([x, y], 'X and Y');
    return [{ dtype, shape: broadcastShapes(broadcastShapes(c.shape, x.shape), y.shape) }];
  },
  MatMul: (inputs) => {
    const a = req(inputs, 0, 'A');
    const b = req(inputs, 1, 'B');
    const dtype = sameDtype([a, b], 'operands');
    if (a.rank === 0 || b.rank === 0) throw new GraphError('MatMul needs operands of rank ≥ 1');
    const as = a.rank === 1 ? [1, a.shape[0]!] : [...a.shape];
    const bs = b.rank === 1 ? [b.shape[0]!, 1] : [...b.shape];
    mergeDim(as[as.length - 1]!, bs[bs.length - 2]!, false, 'inner dimensions differ', a.shape, b.shape);
    const batch = broadcastShapes(as.slice(0, -2), bs.slice(0, -2), 'batch dimensions do not broadcast');
    const out: Dim[] = [...batch];
    if (a.rank !== 1) out.push(as[as.length - 2]!);
    if (b.rank !== 1) out.push(bs[bs.length - 1]!);
    return [{ dtype, shape: out }];
  },
  Gemm: (inputs, attrs) => {
    const a = req(inputs, 0, 'A');
    const b = req(inputs, 1, 'B');
    if (a.rank !== 2 || b.rank !== 2) throw new GraphError('Gemm needs 2-D A and B');
    const dtype = sameDtype([a, b], 'operands');
    const [m, ka] = int(attrs, 'transA', 0) ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [kb, n] = int(attrs, 'transB', 0) ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    mergeDim(ka, kb, false, 'inner dimensions differ', a.shape, b.shape);
    const c = inputs[2];
    if (c) broadcastShapes([m, n], c.shape, 'C does not broadcast to [M,N]');
    return [{ dtype, shape: [m, n] }];
  },
  ReduceSum: reduceRule(true),
  ReduceMean: reduceRule(false),
  ReduceMax: reduceRule(false),
  ReduceMin: reduceRule(false),
  ReduceProd: reduceRule(false),
  ReduceSumSquare: reduceRule(false),
  ReduceL2: reduceRule(false),
  ReduceLogSumExp: reduceRule(false),
  ArgMax: (inputs, attrs) => {
    const x = req(inputs, 0, 'data');
    return [{ dtype: 'i64', shape: reduced(x.shape, [int(attrs, 'axis', 0)], int(attrs, 'keepdims', 1) === 1) }];
  },
  Transpose: (inputs, attrs) => {
    const x = req(inputs, 0, 'data');
    const perm = ints(attrs, 'perm') ?? [...x.shape.keys()].reverse();
    if (perm.length !== x.rank || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
      throw new GraphError(`perm ${formatShape(perm)} is not a permutation of rank ${x.rank}`);
    }
    return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }];
  },
  Reshape: (inputs, _attrs, _n, g) => {
    const x = req(inputs, 0, 'data');
    const s = req(inputs, 1, 'shape');
    const target = constInts(s);
    if (!target) {
      const r = s.shape[0];
      if (typeof r !== 'number') throw new GraphError('reshape: the shape input must have a static length');
      return [{ dtype: x.dtype, shape: Array.from({ length: r }, () => g.wildcard()) }];
    }
    return [{ dtype: x.dtype, shape: reshapeTo(g, x.shape, target) }];
  },
  Flatten: (inputs, attrs, _n, g) => {
    const x = req(inputs, 0, 'input');
    const axis = int(attrs, 'axis', 1);
    const a = axis < 0 ? axis + x.rank : axis;
    const outer = product(x.shape.slice(0, a));
    const inner = product(x.shape.slice(a));
    const dim = (p: { num: number; syms: string[] }): Dim => (p.syms.length === 0 ? p.num : p.syms.length === 1 && p.num === 1 ? p.syms[0]! : g.wildcard());
    return [{ dtype: x.dtype, shape: [dim(outer), dim(inner)] }];
  },
  Unsqueeze: (inputs) => {
    const x = req(inputs, 0, 'data');
    const axes = constInts(req(inputs, 1, 'axes'));
    if (!axes) throw new GraphError('Unsqueeze axes must be constant');
    const r = x.rank + axes.length;
    const set = new Set(axes.map((a) => normAxis(a, r)));
    if (set.size !== axes.length) throw new GraphError(`repeated axes ${formatShape(axes)}`);
    const out: Dim[] = [];
    let j = 0;
    for (let i = 0; i < r; i++) out.push(set.has(i) ? 1 : x.shape[j++]!);
    return [{ dtype: x.dtype, shape: out }];
  },
  Squeeze: (inputs) => {
    const x = req(inputs, 0, 'data');
    const axesV = inputs[1];
    const axes = axesV ? constInts(axesV) : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    if (!axes) throw new GraphError('Squeeze axes must be constant');
    const set = new Set(axes.map((a) => normAxis(a, x.rank)));
    for (const a of set) {
      const d = x.shape[a]!;
      if (typeof d === 'number' && d !== 1) throw new GraphError(`cannot squeeze axis ${a} of size ${d}`);
    }
    return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !set.has(i)) }];
  },
  Cast: (inputs, attrs) => {
    const x = req(inputs, 0, 'input');
    return [{ dtype: dtypeFromOnnx(int(attrs, 'to', 1)), shape: x.shape }];
  },
  Concat: (inputs, attrs, _n, g) => {
    const vs = inputs.filter((x): x is Value => !!x);
    if (!vs.length) throw new GraphError('Concat needs inputs');
    const dtype = sameDtype(vs, 'inputs');
    const r = vs[0]!.rank;
    for (const v of vs) if (v.rank !== r) throw new GraphError(`ranks differ (${vs.map((x) => formatShape(x.shape)).join(' vs ')})`);
    const axis = normAxis(int(attrs, 'axis', 0), r);
    const out: Dim[] = [...vs[0]!.shape];
    for (let i = 0; i < r; i++) {
      if (i === axis) continue;
      for (const v of vs.slice(1)) out[i] = mergeDim(out[i]!, v.shape[i]!, false, `dim ${i} differs`, vs[0]!.shape, v.shape);
    }
    const ax = vs.map((v) => v.shape[axis]!);
    out[axis] = ax.every((d) => typeof d === 'number') ? (ax as number[]).reduce((a, b) => a + b, 0) : ax.length === 1 ? ax[0]! : g.wildcard();
    return [{ dtype, shape: out }];
  },
  Slice: (inputs, _attrs, _n, g) => {
    const x = req(inputs, 0, 'data');
    const starts = constInts(req(inputs, 1, 'starts'));
    const ends = constInts(req(inputs, 2, 'ends'));
    const axes = inputs[3] ? constInts(inputs[3]) : starts?.map((_, i) => i);
    const steps = inputs[4] ? constInts(inputs[4]) : starts?.map(() => 1);
    if (!starts || !ends || !axes || !steps) return [{ dtype: x.dtype, shape: x.shape.map(() => g.wildcard()) }];
    if (starts.length !== ends.length || axes.length !== starts.length || steps.length !== starts.length) {
      throw new GraphError('starts, ends, axes and steps must have equal lengths');
    }
    const out: Dim[] = [...x.shape];
    axes.forEach((a, i) => {
      const ax = normAxis(a, x.rank);
      if (steps[i] === 0) throw new GraphError('slice step 0');
      out[ax] = sliceDim(x.shape[ax]!, starts[i]!, ends[i]!, steps[i]!, g);
    });
    return [{ dtype: x.dtype, shape: out }];
  },
  Split: (inputs, attrs, n, g) => {
    const x = req(inputs, 0, 'input');
    const axis = normAxis(int(attrs, 'axis', 0), x.rank);
    const sizes = inputs[1] ? constInts(inputs[1]) : undefined;
    const d = x.shape[axis]!;
    let parts: Dim[];
    if (inputs[1] && !sizes) parts = Array.from({ length: n }, () => g.wildcard()); // sizes known only at run time
    else if (sizes) {
      if (sizes.length !== n) throw new GraphError(`${sizes.length} split sizes for ${n} outputs`);
      if (typeof d === 'number' && sizes.reduce((a, b) => a + b, 0) !== d) throw new GraphError(`split sizes ${formatShape(sizes)} do not sum to ${d}`);
      parts = sizes;
    } else if (typeof d === 'number') {
      if (d % n) throw new GraphError(`dim ${d} does not split evenly into ${n}`);
      parts = Array(n).fill(d / n);
    } else parts = Array.from({ length: n }, () => g.wildcard());
    return parts.map((p) => ({ dtype: x.dtype, shape: x.shape.map((s, i) => (i === axis ? p : s)) }));
  },
  Pad: (inputs, attrs, _n, g) => {
    const x = req(inputs, 0, 'data');
    if (inputs[3]) throw new GraphError('Pad with an axes input needs opset 18');
    const mode = attrs.mode?.kind === 'string' ? attrs.mode.value : 'constant';
    if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') throw new GraphError(`unknown pad mode "${mode}"`);
    const pads = constInts(req(inputs, 1, 'pads'));
    if (!pads) return [{ dtype: x.dtype, shape: x.shape.map(() => g.wildcard()) }];
    if (pads.length !== 2 * x.rank) throw new GraphError(`pads has ${pads.length} values for rank ${x.rank} (needs ${2 * x.rank})`);
    const shape = x.shape.map((d, i) => {
      const extra = pads[i]! + pads[i + x.rank]!;
      if (extra === 0) return d;
      if (typeof d !== 'number') return g.wildcard();
      if (d + extra < 0) throw new GraphError(`pads ${formatShape(pads)} remove more than dim ${i} (${d}) holds`);
      return d + extra;
    });
    return [{ dtype: x.dtype, shape }];
  },
  Compress: (inputs, attrs, _n, g) => {
    const x = req(inputs, 0, 'input');
    const c = req(inputs, 1, 'condition');
    if (c.dtype !== 'bool' || c.rank !== 1) throw new GraphError(`condition must be a 1-D bool tensor, got ${c.dtype}${formatShape(c.shape)}`);
    if (!attrs.axis) return [{ dtype: x.dtype, shape: [g.wildcard()] }];
    const axis = normAxis(int(attrs, 'axis', 0), x.rank);
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? g.wildcard() : d)) }];
  },
  Gather: (inputs, attrs) => {
    const x = req(inputs, 0, 'data');
    const idx = req(inputs, 1, 'indices');
    if (idx.dtype !== 'i64' && idx.dtype !== 'i32') throw new GraphError(`indices must be i64 or i32, got ${idx.dtype}`);
    const axis = normAxis(int(attrs, 'axis', 0), x.rank);
    return [{ dtype: x.dtype, shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)] }];
  },
  GatherElements: (inputs) => {
    const x = req(inputs, 0, 'data');
    const idx = req(inputs, 1, 'indices');
    if (idx.rank !== x.rank) throw new GraphError('indices must have the rank of data');
    return [{ dtype: x.dtype, shape: idx.shape }];
  },
  ScatterElements: (inputs) => {
    const x = req(inputs, 0, 'data');
    const u = req(inputs, 2, 'updates');
    sameDtype([x, u], 'data and updates');
    return [{ dtype: x.dtype, shape: x.shape }];
  },
  ScatterND: (inputs) => {
    const x = req(inputs, 0, 'data');
    const u = req(inputs, 2, 'updates');
    sameDtype([x, u], 'data and updates');
    return [{ dtype: x.dtype, shape: x.shape }];
  },
  Expand: (inputs, _a, _n, g) => {
    const x = req(inputs, 0, 'input');
    const s = req(inputs, 1, 'shape');
    const target = constInts(s);
    if (!target) {
      const r = s.shape[0];
      if (typeof r !== 'number') throw new GraphError('the shape input must have a static length');
      return [{ dtype: x.dtype, shape: broadcastShapes(x.shape, Array.from({ length: r }, () => g.wildcard())) }];
    }
    return [{ dtype: x.dtype, shape: broadcastShapes(x.shape, target) }];
  },
  Shape: (inputs, attrs) => {
    const x = req(inputs, 0, 'data');
    const r = x.rank;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const start = clamp(int(attrs, 'start', 0));
    const end = attrs.end ? clamp(int(attrs, 'end', r)) : r;
    return [{ dtype: 'i64', shape: [Math.max(0, end - start)] }];
  },
  Size: () => [{ dtype: 'i64', shape: [] }],
  ConstantOfShape: (inputs, attrs, _n, g) => {
    const s = req(inputs, 0, 'input');
    const v = attrs.value;
    const dtype: DType = v && v.kind === 'tensor' ? v.value.dtype : 'f32';
    const dims = constInts(s);
    if (dims) return [{ dtype, shape: dims }];
    const r = s.shape[0];
    if (typeof r !== 'number') throw new GraphError('the shape input must have a static length');
    return [{ dtype, shape: Array.from({ length: r }, () => g.wildcard()) }];
  },
  Range: (inputs, _a, _n, g) => [{ dtype: req(inputs, 0, 'start').dtype, shape: [g.wildcard()] }],
  TopK: (inputs, attrs, _n, g) => {
    const x = req(inputs, 0, 'X');
    const k = constInts(req(inputs, 1, 'K'));
    const axis = normAxis(int(attrs, 'axis', -1), x.rank);
    const shape = x.shape.map((d, i) => (i === axis ? (k ? k[0]! : g.wildcard()) : d));
    return [{ dtype: x.dtype, shape }, { dtype: 'i64', shape }];
  },
  LayerNormalization: (inputs, attrs, n) => {
    const x = req(inputs, 0, 'X');
    const scale = req(inputs, 1, 'Scale');
    sameDtype([x, scale], 'X and Scale');
    const axis = normAxis(int(attrs, 'axis', -1), x.rank);
    const stat = x.shape.map((d, i) => (i < axis ? d : 1));
    const out: OutputSpec[] = [{ dtype: x.dtype, shape: x.shape }];
    if (n > 1) out.push({ dtype: 'f32', shape: stat });
    if (n > 2) out.push({ dtype: 'f32', shape: stat });
    return out;
  },
};

/** com.microsoft contrib ops with a rule. */
const CONTRIB_RULES: Record<string, Rule> = {
  MatMulNBits: (inputs, attrs) => {
    const a = req(inputs, 0, 'A');
    const n = int(attrs, 'N', -1);
    const k = int(attrs, 'K', -1);
    if (n <= 0 || k <= 0) throw new GraphError('MatMulNBits needs attributes K and N');
    mergeDim(a.shape[a.rank - 1]!, k, false, 'A’s last dim must equal K', a.shape, [k, n]);
    return [{ dtype: a.dtype, shape: [...a.shape.slice(0, -1), n] }];
  },
};

export function inferOutputs(op: string, domain: string, inputs: Inputs, attrs: Attrs, numOutputs: number, g: Graph): OutputSpec[] {
  const rule = domain === '' || domain === 'ai.onnx' ? RULES[op] : domain === 'com.microsoft' ? CONTRIB_RULES[op] : undefined;
  if (!rule) throw new GraphError(`no shape rule for op ${domain ? `${domain}.` : ''}${op}; pass its outputs explicitly`);
  const specs = rule(inputs, attrs, numOutputs, g);
  return numOutputs < specs.length ? specs.slice(0, numOutputs) : specs;
}

export function hasRule(op: string, domain = ''): boolean {
  return domain === 'com.microsoft' ? op in CONTRIB_RULES : op in RULES;
}
