// What a vector–Jacobian rule sees: the forward node, its inputs and outputs copied into the VJP graph,
// the cotangents of its outputs, and helpers for shapes, broadcasting and constants.
import { type DType, type TypedArray, allocate, isFloat } from './dtype.js';
import { type AttrValue, type Dim, type Graph, type Node, type Shape, type Value, GraphError, formatShape, isWildcard } from './ir.js';
import { constInts } from './ops.js';

/**
 * A VJP rule: returns, per forward input, its gradient (a value in the VJP graph), `null` for a gradient
 * that is zero or does not exist (indices, masks), or `undefined` when it cannot give one (an error if
 * that input needs a gradient). Rules build gradients only for inputs where `ctx.needs(i)` is true.
 * A gradient may be *broadcastable* to its input (lower rank, or 1 where the input has a larger dim);
 * the engine expands it only where a full-shaped tensor is needed.
 */
export type VjpRule = (ctx: VjpContext) => readonly (Value | null | undefined)[];

/** What the autodiff driver provides to every rule application. */
export interface VjpHost {
  readonly g: Graph;
  /** The copy of a forward value in the VJP graph (copying its producers on first use). */
  fwd(v: Value): Value;
  /** Outputs the copy of `node` has beyond the forward node's (saved statistics), if any. */
  saved(node: Node): readonly Value[];
  /** Whether forward value v needs a gradient. */
  needsGrad(v: Value): boolean;
  /** Run-time shape of forward value v (int64 [rank]), from constants and input dims where possible. */
  shapeOf(v: Value): Value;
  /** Run-time size of dim `axis` of forward value v (int64 [1]). */
  dimOf(v: Value, axis: number): Value;
}

/** True when `grad` (broadcastable to `shape`) may be smaller than `shape` and must be expanded to be used whole. */
export function isPartial(grad: Shape, shape: Shape): boolean {
  if (grad.length < shape.length) return true;
  const off = shape.length - grad.length;
  return grad.some((d, j) => d === 1 && shape[j + off] !== 1);
}

/** A one-element tensor of a dtype, for ConstantOfShape and scalar constants. */
export function oneValue(dtype: DType, x: number): TypedArray {
  const a = allocate(dtype, 1);
  if (dtype === 'i64') (a as BigInt64Array)[0] = BigInt(x);
  else if (dtype === 'f16' || dtype === 'bf16') {
    if (x !== 0) throw new GraphError(`no ${dtype} constant ${x} here`);
  } else (a as Float32Array)[0] = x;
  return a;
}

export class VjpContext {
  constructor(
    private readonly host: VjpHost,
    /** The forward node being differentiated. */
    readonly node: Node,
    private readonly cotangents: readonly (Value | null)[],
  ) {}

  get g(): Graph {
    return this.host.g;
  }
  get op(): string {
    return this.node.op;
  }
  /** Forward input i (for its static dtype and shape). */
  fx(i: number): Value {
    const v = this.node.inputs[i];
    if (!v) throw new GraphError(`node "${this.node.name}" (${this.node.op}): input ${i} is missing`);
    return v;
  }
  /** Forward output i. */
  fy(i = 0): Value {
    return this.node.outputs[i]!;
  }
  has(i: number): boolean {
    return !!this.node.inputs[i];
  }
  /** Input i in the VJP graph. */
  x(i: number): Value {
    return this.host.fwd(this.fx(i));
  }
  /** Output i in the VJP graph (the forward value, recomputed there). */
  y(i = 0): Value {
    return this.host.fwd(this.fy(i));
  }
  /** Extra outputs the copied node computes for the backward pass (see VJP_SAVED_OUTPUTS). */
  saved(i: number): Value {
    this.host.fwd(this.fy(0));
    const s = this.host.saved(this.node)[i];
    if (!s) throw new GraphError(`node "${this.node.name}" (${this.node.op}): no saved output ${i}`);
    return s;
  }
  /** Whether input i needs a gradient. */
  needs(i: number): boolean {
    const v = this.node.inputs[i];
    return !!v && this.host.needsGrad(v);
  }
  /** Cotangent of output i, full-shaped; null when no gradient flows into that output. */
  dy(i = 0): Value | null {
    const c = this.cotangents[i] ?? null;
    return c && this.expandTo(c, this.fy(i));
  }
  /** Cotangent of output i, possibly only broadcastable to it (for rules that broadcast it anyway). */
  dyBroadcastable(i = 0): Value | null {
    return this.cotangents[i] ?? null;
  }

  attr(name: string): AttrValue | undefined {
    return this.node.attrs[name];
  }
  attrInt(name: string, fallback: number): number {
    const a = this.node.attrs[name];
    if (!a) return fallback;
    if (a.kind !== 'int') throw this.error(`attribute ${name} must be an int`);
    return a.value;
  }
  /** A float attribute as ONNX stores it (float32), so backward constants match what the forward kernel used. */
  attrFloat(name: string, fallback: number): number {
    const a = this.node.attrs[name];
    if (!a) return Math.fround(fallback);
    if (a.kind !== 'float' && a.kind !== 'int') throw this.error(`attribute ${name} must be a float`);
    return Math.fround(a.value);
  }
  attrInts(name: string): number[] | undefined {
    const a = this.node.attrs[name];
    if (!a) return undefined;
    if (a.kind !== 'ints') throw this.error(`attribute ${name} must be a list of ints`);
    return a.value;
  }
  /** The integer values of constant input i; throws (naming `what`) when they are computed at run time. */
  constInput(i: number, what: string): number[] {
    const v = constInts(this.node.inputs[i]);
    if (!v) throw this.error(`the gradient needs ${what} (input ${i}) to be a constant`);
    return v;
  }
  error(message: string): GraphError {
    return new GraphError(`VJP of node "${this.node.name}" (${this.node.op}): ${message}`);
  }

  /** A scalar constant in the dtype of output 0 (or `dtype`). */
  scalar(x: number, dtype: DType = this.fy(0).dtype): Value {
    return this.g.scalar(x, dtype);
  }
  i64(values: readonly number[]): Value {
    return this.g.constI64(values);
  }
  shapeOf(v: Value): Value {
    return this.host.shapeOf(v);
  }
  dimOf(v: Value, axis: number): Value {
    return this.host.dimOf(v, axis < 0 ? axis + v.rank : axis);
  }

  /** Zeros shaped like forward value v. */
  zeros(v: Value): Value {
    return this.zerosOf(v.dtype, this.shapeOf(v), v.shape);
  }
  zerosOf(dtype: DType, shape: Value, staticShape: Shape): Value {
    return this.g.op1('ConstantOfShape', [shape], { value: { dtype, dims: [1], data: oneValue(dtype, 0) } }, { output: { dtype, shape: staticShape } });
  }

  /** Expands a broadcastable gradient to the full shape of forward value v (no-op when it already is). */
  expandTo(grad: Value, v: Value): Value {
    if (!isPartial(grad.shape, v.shape)) return grad;
    return this.g.op1('Expand', [grad, this.shapeOf(v)], {}, { output: { dtype: grad.dtype, shape: v.shape } });
  }

  /** Reduces a gradient over the dims that broadcasting added to forward operand v (see sumToShape). */
  sumTo(grad: Value, v: Value): Value {
    return this.sumToShape(grad, v.shape, () => this.shapeOf(v));
  }

  /**
   * Sums `grad` (shaped like a broadcast result) down to an operand of shape `target`. Leading dims the
   * operand lacks are summed away. A dim is summed when the operand has 1 there and the gradient does not;
   * it is left alone when both have the same number, symbol or wildcard. Any other pairing (a symbol
   * or wildcard in the operand against something else) is decided at run time: the dim is summed exactly
   * when the operand's run-time size is 1 (Compress picks the axes, ReduceSum keeps dims). The result may
   * still be smaller than `target` when `grad` was (broadcastable gradients stay cheap).
   */
  sumToShape(grad: Value, target: Shape, runtimeShape: () => Value): Value {
    const g = this.g;
    let out = grad;
    const lead = out.rank - target.length;
    if (lead > 0) out = out.reduceSum([...Array(lead).keys()], false);
    const off = target.length - out.rank;
    const fixed: number[] = [];
    const unknown: number[] = [];
    out.shape.forEach((d, j) => {
      const t = target[j + off]!;
      if (d === 1) return;
      if (t === 1) fixed.push(j);
      else if (d === t) return; // the same number, symbol, or wildcard (wildcard names are unique per origin)
      else if (typeof t === 'number') return; // t > 1: the gradient's dim must equal it
      else unknown.push(j);
    });
    if (fixed.length) out = out.reduceSum(fixed, true);
    if (unknown.length) {
      const dims = g.op1('Gather', [runtimeShape(), this.i64(unknown.map((j) => j + off))], { axis: 0 });
      const isOne = dims.equal(g.scalar(1, 'i64'));
      const axes = g.op1('Compress', [this.i64(unknown), isOne], { axis: 0 });
      const shape = out.shape.map((d, j) => (unknown.includes(j) ? target[j + off]! : d));
      out = g.op1('ReduceSum', [out, axes], { keepdims: 1, noop_with_empty_axes: 1 }, { output: { dtype: out.dtype, shape } });
    }
    return out;
  }

  /** Gradient of an elementwise unary op: cotangent times a factor shaped like the input. */
  times(factor: Value): Value | null {
    const dy = this.dyBroadcastable();
    return dy && dy.mul(factor);
  }
}

/** Checks a rule's gradient against the forward operand: same dtype, broadcastable shape. */
export function checkGradient(node: Node, i: number, grad: Value, x: Value): void {
  const bad = (why: string) =>
    new GraphError(`VJP rule for ${node.op} (node "${node.name}") gives input ${i} (${x.name}:${x.dtype}${formatShape(x.shape)}) a gradient ${grad.dtype}${formatShape(grad.shape)}: ${why}`);
  if (grad.dtype !== x.dtype) throw bad('dtypes differ');
  if (!isFloat(grad.dtype)) throw bad('gradients must be float');
  if (grad.rank > x.rank) throw bad('higher rank than the input');
  const off = x.rank - grad.rank;
  grad.shape.forEach((d: Dim, j) => {
    const t = x.shape[j + off]!;
    if (d === t || d === 1 || isWildcard(d) || isWildcard(t)) return;
    if (typeof d === 'number' && typeof t === 'number') throw bad(`dim ${j + off} is ${d}, not ${t}`);
    if (typeof d === 'string' && typeof t === 'string') throw bad(`dim ${j + off} is ${d}, not ${t}`);
  });
}
