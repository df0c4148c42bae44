// The graph IR: typed tensors with symbolic shapes, and a builder that checks shapes and dtypes as
// nodes are added, so model code fails at build time with the node's name and both shapes.
import { type DType, type TypedArray, ONNX_DTYPE, checkArrayType, f32ToBf16Bits, f32ToF16Bits } from './dtype.js';
import { inferOutputs } from './ops.js';

/** A dimension: a number, or a symbol ("batch", "seq") whose value is known only at run time. */
export type Dim = number | string;
export type Shape = readonly Dim[];

/** Symbols the IR invents for dims it cannot name (e.g. a concat of two symbolic dims). They match anything. */
export function isWildcard(d: Dim): boolean {
  return typeof d === 'string' && d.startsWith('?');
}

export function formatShape(s: Shape): string {
  return `[${s.join(',')}]`;
}

export interface ConstTensor {
  dtype: DType;
  dims: number[];
  data: TypedArray;
}

export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: ConstTensor };

/** Loose attribute input: numbers become ints unless the attribute is a known float one. */
export type AttrInput = AttrValue | number | number[] | string | ConstTensor;

const FLOAT_ATTRS = new Set(['epsilon', 'alpha', 'beta', 'gamma', 'ratio', 'momentum', 'lambd', 'bias', 'scale', 'value_float', 'mask_filter_value']);

function toAttr(name: string, v: AttrInput): AttrValue {
  if (typeof v === 'number') return FLOAT_ATTRS.has(name) || !Number.isInteger(v) ? { kind: 'float', value: v } : { kind: 'int', value: v };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (Array.isArray(v)) return FLOAT_ATTRS.has(name) || v.some((x) => !Number.isInteger(x)) ? { kind: 'floats', value: v } : { kind: 'ints', value: v };
  if ('kind' in v) return v;
  return { kind: 'tensor', value: v };
}

/** Where a parameter's values come from when the graph is written. */
export type ParamSource =
  /** Values in memory: embedded in the model (small graphs) or written to an external-data file. */
  | { kind: 'memory'; data: TypedArray }
  /** Raw little-endian bytes of the param's dtype at a byte range of a file (e.g. a .safetensors file). */
  | { kind: 'file'; path: string; offset: number; length: number }
  /** No values: the parameter is a graph input, fed at every run (training). */
  | { kind: 'input' };

export type ValueOrigin =
  | { kind: 'input' }
  | { kind: 'param'; source: ParamSource; trainable: boolean }
  | { kind: 'const'; tensor: ConstTensor }
  | { kind: 'node'; node: Node; index: number };

export interface Node {
  readonly id: number;
  readonly name: string;
  readonly op: string;
  readonly domain: string;
  /** null marks a skipped optional input. */
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

export class GraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphError';
  }
}

type Operand = Value | number;

/** Wildcard names are unique across graphs, so a graph derived from another (autodiff) never mistakes two unrelated wildcards for one dim. */
let wildcardCount = 0;

/** A tensor in a graph. Methods add nodes to the graph the tensor belongs to. */
export class Value {
  /** @internal */ _name: string;
  constructor(
    readonly graph: Graph,
    readonly id: number,
    name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    readonly origin: ValueOrigin,
  ) {
    this._name = name;
  }

  get name(): string {
    return this._name;
  }
  get rank(): number {
    return this.shape.length;
  }
  get producer(): Node | undefined {
    return this.origin.kind === 'node' ? this.origin.node : undefined;
  }
  toString(): string {
    return `${this._name}:${this.dtype}${formatShape(this.shape)}`;
  }

  private operand(b: Operand): Value {
    return typeof b === 'number' ? this.graph.scalar(b, this.dtype) : b;
  }

  add(b: Operand): Value { return this.graph.op1('Add', [this, this.operand(b)]); }
  sub(b: Operand): Value { return this.graph.op1('Sub', [this, this.operand(b)]); }
  mul(b: Operand): Value { return this.graph.op1('Mul', [this, this.operand(b)]); }
  div(b: Operand): Value { return this.graph.op1('Div', [this, this.operand(b)]); }
  pow(b: Operand): Value { return this.graph.op1('Pow', [this, this.operand(b)]); }
  max(b: Operand): Value { return this.graph.op1('Max', [this, this.operand(b)]); }
  min(b: Operand): Value { return this.graph.op1('Min', [this, this.operand(b)]); }
  matmul(b: Value): Value { return this.graph.op1('MatMul', [this, b]); }
  equal(b: Operand): Value { return this.graph.op1('Equal', [this, this.operand(b)]); }
  less(b: Operand): Value { return this.graph.op1('Less', [this, this.operand(b)]); }
  greater(b: Operand): Value { return this.graph.op1('Greater', [this, this.operand(b)]); }
  and(b: Value): Value { return this.graph.op1('And', [this, b]); }
  or(b: Value): Value { return this.graph.op1('Or', [this, b]); }
  not(): Value { return this.graph.op1('Not', [this]); }

  neg(): Value { return this.graph.op1('Neg', [this]); }
  abs(): Value { return this.graph.op1('Abs', [this]); }
  sqrt(): Value { return this.graph.op1('Sqrt', [this]); }
  reciprocal(): Value { return this.graph.op1('Reciprocal', [this]); }
  exp(): Value { return this.graph.op1('Exp', [this]); }
  log(): Value { return this.graph.op1('Log', [this]); }
  tanh(): Value { return this.graph.op1('Tanh', [this]); }
  erf(): Value { return this.graph.op1('Erf', [this]); }
  sigmoid(): Value { return this.graph.op1('Sigmoid', [this]); }
  relu(): Value { return this.graph.op1('Relu', [this]); }
  sin(): Value { return this.graph.op1('Sin', [this]); }
  cos(): Value { return this.graph.op1('Cos', [this]); }
  identity(): Value { return this.graph.op1('Identity', [this]); }
  softmax(axis = -1): Value { return this.graph.op1('Softmax', [this], { axis }); }
  logSoftmax(axis = -1): Value { return this.graph.op1('LogSoftmax', [this], { axis }); }

  /** Sum over axes (all axes when omitted). */
  reduceSum(axes?: number[], keepdims = true): Value {
    const inputs: (Value | null)[] = [this];
    if (axes) inputs.push(this.graph.constI64(axes));
    return this.graph.op1('ReduceSum', inputs, { keepdims: keepdims ? 1 : 0 });
  }
  /** Mean over axes (all axes when omitted). Opset 17: axes is an attribute. */
  reduceMean(axes?: number[], keepdims = true): Value {
    return this.graph.op1('ReduceMean', [this], axes ? { axes, keepdims: keepdims ? 1 : 0 } : { keepdims: keepdims ? 1 : 0 });
  }
  reduceMax(axes?: number[], keepdims = true): Value {
    return this.graph.op1('ReduceMax', [this], axes ? { axes, keepdims: keepdims ? 1 : 0 } : { keepdims: keepdims ? 1 : 0 });
  }
  transpose(perm?: number[]): Value {
    const p = perm ?? [...this.shape.keys()].reverse();
    return this.graph.op1('Transpose', [this], { perm: p });
  }
  /** ONNX Reshape semantics: 0 copies the input dim at that position, -1 is inferred. A Value gives a runtime shape. */
  reshape(shape: readonly number[] | Value): Value {
    const s = shape instanceof Value ? shape : this.graph.constI64(shape);
    return this.graph.op1('Reshape', [this, s]);
  }
  unsqueeze(axes: number[]): Value { return this.graph.op1('Unsqueeze', [this, this.graph.constI64(axes)]); }
  squeeze(axes: number[]): Value { return this.graph.op1('Squeeze', [this, this.graph.constI64(axes)]); }
  cast(to: DType): Value {
    if (to === this.dtype) return this;
    return this.graph.op1('Cast', [this], { to: { kind: 'int', value: ONNX_DTYPE[to] } });
  }
  /** Slice with ONNX semantics (negative indices count from the end; ends are clamped). */
  slice(starts: number[], ends: number[], axes?: number[], steps?: number[]): Value {
    const g = this.graph;
    const inputs: (Value | null)[] = [this, g.constI64(starts), g.constI64(ends)];
    if (axes || steps) inputs.push(g.constI64(axes ?? starts.map((_, i) => i)));
    if (steps) inputs.push(g.constI64(steps));
    return g.op1('Slice', inputs);
  }
  gather(indices: Value, axis = 0): Value { return this.graph.op1('Gather', [this, indices], { axis }); }
  expand(shape: readonly number[] | Value): Value {
    const s = shape instanceof Value ? shape : this.graph.constI64(shape);
    return this.graph.op1('Expand', [this, s]);
  }
  split(sizes: number[], axis = 0): Value[] {
    return this.graph.op('Split', [this, this.graph.constI64(sizes)], { axis }, sizes.length);
  }
}

export interface OutputSpec {
  dtype: DType;
  shape: Shape;
}

/** A computation graph under construction. */
export class Graph {
  readonly inputs: Value[] = [];
  readonly params: Value[] = [];
  readonly consts: Value[] = [];
  readonly nodes: Node[] = [];
  readonly outputs: Value[] = [];
  private nextId = 0;
  private names = new Set<string>();
  private scopes: string[] = [];
  private scalarCache = new Map<string, Value>();
  /** Node ids and names count every node ever added, so names stay unique after `prune()`. */
  private nodeCount = 0;

  constructor(readonly name = 'qzhou') {}

  /** Runs fn with node names prefixed by `name/` (readable errors and profiles). */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** Runs fn with node names prefixed by `path/` exactly, whatever scopes are open (copies of nodes keep their names' scope). */
  inScope<T>(path: string, fn: () => T): T {
    const saved = this.scopes;
    this.scopes = path ? [path] : [];
    try {
      return fn();
    } finally {
      this.scopes = saved;
    }
  }

  /** A fresh wildcard dimension, for dims the IR cannot express. */
  wildcard(): string {
    return `?${wildcardCount++}`;
  }

  private claim(name: string, what: string): string {
    if (this.names.has(name)) throw new GraphError(`${what} name "${name}" is already used in graph "${this.name}"`);
    this.names.add(name);
    return name;
  }

  private makeValue(name: string, dtype: DType, shape: Shape, origin: ValueOrigin): Value {
    for (const d of shape) {
      if (typeof d === 'number' && (!Number.isInteger(d) || d < 0)) throw new GraphError(`${name}: invalid dimension ${d} in ${formatShape(shape)}`);
    }
    return new Value(this, this.nextId++, name, dtype, Object.freeze([...shape]), origin);
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.makeValue(this.claim(name, 'input'), dtype, shape, { kind: 'input' });
    this.inputs.push(v);
    return v;
  }

  /**
   * A named weight. `source` says where its values come from (default: a graph input fed at run time).
   * `trainable: false` marks it frozen: autodiff produces no gradient for it.
   */
  param(name: string, dtype: DType, shape: readonly number[], source: ParamSource = { kind: 'input' }, trainable = true): Value {
    if (source.kind === 'memory') {
      checkArrayType(dtype, source.data, `param "${name}"`);
      const n = shape.reduce((a, b) => a * b, 1);
      const have = dtype === 'u4' || dtype === 'i4' ? source.data.length * 2 : source.data.length;
      if (have !== n && !((dtype === 'u4' || dtype === 'i4') && have === n + 1)) {
        throw new GraphError(`param "${name}": shape ${formatShape(shape)} needs ${n} elements, data has ${source.data.length}`);
      }
    }
    const v = this.makeValue(this.claim(name, 'param'), dtype, shape, { kind: 'param', source, trainable });
    this.params.push(v);
    return v;
  }

  /** A constant tensor (embedded in the model). */
  constant(tensor: ConstTensor, name?: string): Value {
    checkArrayType(tensor.dtype, tensor.data, `constant ${name ?? ''}`);
    const v = this.makeValue(this.claim(name ?? `c${this.nextId}`, 'constant'), tensor.dtype, tensor.dims, { kind: 'const', tensor });
    this.consts.push(v);
    return v;
  }

  /** A scalar constant (shape []); deduplicated per dtype and value. */
  scalar(x: number, dtype: DType = 'f32'): Value {
    const key = `${dtype}:${Object.is(x, -0) ? '-0' : x}`;
    let v = this.scalarCache.get(key);
    if (!v) {
      v = this.constant({ dtype, dims: [], data: scalarData(x, dtype) });
      this.scalarCache.set(key, v);
    }
    return v;
  }

  /** A 1-D int64 constant (shapes, axes, indices). */
  constI64(values: readonly number[]): Value {
    return this.constant({ dtype: 'i64', dims: [values.length], data: BigInt64Array.from(values.map((x) => BigInt(x))) });
  }

  /** Marks a value as a graph output under a name. */
  output(v: Value, name?: string): Value {
    if (v.graph !== this) throw new GraphError(`output "${name ?? v.name}" belongs to another graph`);
    if (name && name !== v.name) {
      if (v.origin.kind !== 'node' || this.outputs.includes(v)) v = this.op1('Identity', [v]);
      this.names.delete(v._name);
      v._name = this.claim(name, 'output');
    }
    if (this.outputs.includes(v)) throw new GraphError(`value "${v.name}" is already an output`);
    this.outputs.push(v);
    return v;
  }

  /** Adds a node with one output. */
  op1(op: string, inputs: readonly (Value | null)[], attrs: Record<string, AttrInput> = {}, opts: { domain?: string; output?: OutputSpec } = {}): Value {
    return this.op(op, inputs, attrs, 1, opts.domain ? { domain: opts.domain, outputs: opts.output ? [opts.output] : undefined } : { outputs: opts.output ? [opts.output] : undefined })[0]!;
  }

  /**
   * Adds a node. Output dtypes/shapes come from the op's inference rule (src/graph/ops.ts); ops without
   * a rule (contrib ops, exotic ops) must pass `outputs`.
   */
  op(
    op: string,
    inputs: readonly (Value | null)[],
    attrs: Record<string, AttrInput> = {},
    numOutputs = 1,
    opts: { domain?: string; outputs?: OutputSpec[] } = {},
  ): Value[] {
    const domain = opts.domain ?? '';
    const scope = this.scopes.length ? `${this.scopes.join('/')}/` : '';
    const nodeName = `${scope}${op}_${this.nodeCount}`;
    for (const x of inputs) {
      if (x && x.graph !== this) throw new GraphError(`node "${nodeName}" (${op}): input ${x.name} belongs to another graph`);
    }
    const at: Record<string, AttrValue> = {};
    for (const [k, v] of Object.entries(attrs)) at[k] = toAttr(k, v);
    let specs: OutputSpec[];
    try {
      specs = opts.outputs ?? inferOutputs(op, domain, inputs, at, numOutputs, this);
    } catch (e) {
      if (e instanceof GraphError) {
        const args = inputs.map((x) => (x ? `${x.name}:${x.dtype}${formatShape(x.shape)}` : '∅')).join(', ');
        throw new GraphError(`node "${nodeName}" (${op}): ${e.message} [inputs: ${args}]`);
      }
      throw e;
    }
    if (specs.length !== numOutputs) throw new GraphError(`node "${nodeName}" (${op}): expected ${numOutputs} outputs, inference gave ${specs.length}`);
    const outputs: Value[] = [];
    const node: Node = { id: this.nodeCount++, name: nodeName, op, domain, inputs: [...inputs], outputs, attrs: at };
    specs.forEach((s, i) => outputs.push(this.makeValue(this.claim(`t${this.nextId}`, 'value'), s.dtype, s.shape, { kind: 'node', node, index: i })));
    this.nodes.push(node);
    return outputs;
  }

  // --- multi-input helpers ---

  concat(values: Value[], axis: number): Value {
    return this.op1('Concat', values, { axis });
  }
  where(cond: Value, x: Value | number, y: Value | number): Value {
    const ref = x instanceof Value ? x : y instanceof Value ? y : undefined;
    const dt = ref?.dtype ?? 'f32';
    const xv = typeof x === 'number' ? this.scalar(x, dt) : x;
    const yv = typeof y === 'number' ? this.scalar(y, dt) : y;
    return this.op1('Where', [cond, xv, yv]);
  }
  /** Runtime shape of a value (int64 [rank]). */
  shapeOf(v: Value, start?: number, end?: number): Value {
    const attrs: Record<string, AttrInput> = {};
    if (start !== undefined) attrs.start = start;
    if (end !== undefined) attrs.end = end;
    return this.op1('Shape', [v], attrs);
  }

  /** Values a node output is consumed by (computed on demand). */
  consumers(): Map<Value, Node[]> {
    const m = new Map<Value, Node[]>();
    for (const n of this.nodes) for (const x of n.inputs) if (x) (m.get(x) ?? m.set(x, []).get(x)!).push(n);
    return m;
  }

  /**
   * Removes nodes, constants and value-carrying params (memory/file) that no output depends on, so ONNX
   * Runtime sees no dead initializers. Inputs and params fed as inputs stay: they are the feed interface.
   * Returns how many nodes were removed.
   */
  prune(): number {
    const live = new Set<Value>(this.outputs);
    const keep = new Set<Node>();
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (!n.outputs.some((o) => live.has(o))) continue;
      keep.add(n);
      for (const x of n.inputs) if (x) live.add(x);
    }
    const removed = this.nodes.length - keep.size;
    const kept = this.nodes.filter((n) => keep.has(n));
    this.nodes.splice(0, this.nodes.length, ...kept);
    const consts = this.consts.filter((c) => live.has(c));
    this.consts.splice(0, this.consts.length, ...consts);
    for (const [k, v] of this.scalarCache) if (!live.has(v)) this.scalarCache.delete(k);
    const params = this.params.filter((p) => live.has(p) || (p.origin.kind === 'param' && p.origin.source.kind === 'input'));
    this.params.splice(0, this.params.length, ...params);
    return removed;
  }

  /** Total bytes of parameters that carry values (memory or file). */
  paramBytes(): number {
    let n = 0;
    for (const p of this.params) {
      const o = p.origin as Extract<ValueOrigin, { kind: 'param' }>;
      if (o.source.kind === 'memory') n += o.source.data.byteLength;
      else if (o.source.kind === 'file') n += o.source.length;
    }
    return n;
  }
}

function scalarData(x: number, dtype: DType): TypedArray {
  switch (dtype) {
    case 'f32': return new Float32Array([x]);
    case 'f64': return new Float64Array([x]);
    case 'i64': return new BigInt64Array([BigInt(Math.trunc(x))]);
    case 'i32': return new Int32Array([x]);
    case 'i8': return new Int8Array([x]);
    case 'u8': case 'bool': return new Uint8Array([x]);
    case 'f16': return new Uint16Array([f32ToF16Bits(x)]);
    case 'bf16': return new Uint16Array([f32ToBf16Bits(x)]);
    default: throw new GraphError(`no scalar constants of dtype ${dtype}`);
  }
}
