// Reverse-mode autodiff over the graph IR. buildVjp turns a forward graph into a vector–Jacobian graph:
// fed the forward inputs, the params and the cotangent of one output, it returns the gradients of the
// trainable params (and of chosen inputs). Forward nodes are copied on demand, so the VJP graph holds only
// what the backward pass and the kept outputs need; frozen params get no gradient nodes.
import { isFloat } from './dtype.js';
import { type Node, type OutputSpec, type Value, Graph, GraphError } from './ir.js';
import { type VjpHost, type VjpRule, VjpContext, checkGradient, isPartial, oneValue } from './vjp-context.js';
import { CONTRIB_RULES } from './vjp-contrib.js';
import { MATH_RULES, SAVED_OUTPUTS } from './vjp-math.js';
import { SHAPE_RULES } from './vjp-shape.js';

export type { VjpRule, VjpHost } from './vjp-context.js';
export { VjpContext } from './vjp-context.js';

/** Name of the VJP graph's cotangent input for output `y`, and of the gradient output for a param or input. */
export function gradName(name: string): string {
  return `grad:${name}`;
}

export interface VjpOptions {
  /** The forward output to differentiate. Its cotangent is the input `grad:<output>`. */
  output: string;
  /** Params to differentiate (default: every trainable param). Frozen params are refused. */
  wrt?: readonly string[];
  /** Float forward inputs whose gradients are wanted too (outputs `grad:<input>`). */
  inputGrads?: readonly string[];
  /** Forward outputs to return alongside the gradients, under their own names (e.g. the loss, the embeddings). */
  keepOutputs?: readonly string[];
  /**
   * A requested gradient that the output does not depend on: 'omit' leaves its output out (default; like
   * PyTorch's None, optimisers skip it), 'zeros' outputs zeros, 'error' throws.
   */
  unreached?: 'omit' | 'zeros' | 'error';
  /** Extra or replacement rules by op type (`com.microsoft.Op` for contrib ops): custom ops, tests. */
  rules?: Readonly<Record<string, VjpRule>>;
  /** Name of the VJP graph (default `<forward>_vjp`). */
  name?: string;
}

/** Built-in rules by op type; contrib ops are keyed `com.microsoft.<Op>`. */
export const VJP_RULES: Readonly<Record<string, VjpRule>> = Object.freeze({ ...MATH_RULES, ...SHAPE_RULES, ...CONTRIB_RULES });

/**
 * Ops whose float outputs carry no gradient: piecewise-constant functions (their derivative is zero
 * almost everywhere). Ops with integer or bool outputs (Shape, Equal, ArgMax, …) need no entry: gradients
 * only flow through float tensors.
 */
const ZERO_GRADIENT = new Set(['Floor', 'Ceil', 'Round', 'Sign', 'ConstantOfShape', 'Range', 'RandomNormalLike', 'RandomUniformLike', 'EyeLike']);

function ruleKey(node: Node): string {
  return node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.op}` : node.op;
}

/** True when a VJP rule exists for an op (`com.microsoft.Op` for contrib ops). */
export function hasVjpRule(op: string, domain = ''): boolean {
  const key = domain && domain !== 'ai.onnx' ? `${domain}.${op}` : op;
  return key in VJP_RULES || ZERO_GRADIENT.has(key);
}

/**
 * Builds the vector–Jacobian graph of `forward` for one output.
 *
 * Inputs: the forward inputs, every param fed as an input (`source: {kind:'input'}`, frozen ones too; params
 * with values stay initializers), then `grad:<output>` shaped like the output. Outputs: the kept forward
 * outputs, then `grad:<param>` for each differentiated param reached from the output (forward order, or the
 * order of `wrt`), then `grad:<input>` for `inputGrads`. Gradients have their param's dtype and shape.
 */
export function buildVjp(forward: Graph, opts: VjpOptions): Graph {
  return new VjpBuilder(forward, opts).build();
}

class VjpBuilder implements VjpHost {
  readonly g: Graph;
  private readonly map = new Map<Value, Value>();
  private readonly extra = new Map<Node, Value[]>();
  private readonly needs = new Set<Value>();
  private readonly relevant = new Set<Node>();
  private readonly contributions = new Map<Value, Value[]>();
  private readonly summed = new Map<Value, Value | null>();
  private readonly shapes = new Map<Value, Value>();
  private readonly symbolSource = new Map<string, { input: Value; axis: number }>();
  private readonly symbolDims = new Map<string, Value>();
  private readonly rules: Readonly<Record<string, VjpRule>>;

  constructor(
    private readonly forward: Graph,
    private readonly opts: VjpOptions,
  ) {
    this.g = new Graph(opts.name ?? `${forward.name}_vjp`);
    this.rules = opts.rules ? { ...VJP_RULES, ...opts.rules } : VJP_RULES;
  }

  build(): Graph {
    const { forward, opts, g } = this;
    const y = this.findOutput(opts.output);
    if (!isFloat(y.dtype)) throw new GraphError(`buildVjp: output "${opts.output}" is ${y.dtype}; only float outputs have gradients`);
    const params = this.targetParams();
    const inputs = (opts.inputGrads ?? []).map((name) => {
      const v = forward.inputs.find((x) => x.name === name);
      if (!v) throw new GraphError(`buildVjp: "${name}" in inputGrads is not an input of graph "${forward.name}" (inputs: ${forward.inputs.map((x) => x.name).join(', ')})`);
      if (!isFloat(v.dtype)) throw new GraphError(`buildVjp: input "${name}" is ${v.dtype}; only float inputs have gradients`);
      return v;
    });
    this.analyse(y, [...params, ...inputs]);

    // The feed interface: forward inputs, params fed as inputs, the cotangent.
    for (const v of forward.inputs) this.map.set(v, g.input(v.name, v.dtype, v.shape));
    for (const p of forward.params) {
      if (p.origin.kind === 'param' && p.origin.source.kind === 'input') this.map.set(p, g.param(p.name, p.dtype, p.shape as number[], p.origin.source, p.origin.trainable));
    }
    forward.inputs.forEach((v) => v.shape.forEach((d, axis) => {
      if (typeof d === 'string' && !d.startsWith('?') && !this.symbolSource.has(d)) this.symbolSource.set(d, { input: v, axis });
    }));
    const cot = g.input(gradName(y.name), y.dtype, y.shape);
    this.contributions.set(y, [cot]);

    for (let i = forward.nodes.length - 1; i >= 0; i--) {
      const node = forward.nodes[i]!;
      if (this.relevant.has(node)) this.backward(node);
    }

    for (const name of opts.keepOutputs ?? []) g.output(this.fwd(this.findOutput(name)), name);
    for (const v of [...params, ...inputs]) {
      const grad = g.scope(`grad/${v.name}`, () => {
        const s = this.sum(v);
        return s && this.expand(s, v);
      });
      if (grad) g.output(grad, gradName(v.name));
      else if ((opts.unreached ?? 'omit') === 'zeros') g.output(this.zeros(v), gradName(v.name));
      else if (opts.unreached === 'error') throw new GraphError(`buildVjp: output "${y.name}" does not depend on "${v.name}"`);
    }
    if (g.outputs.length === 0) throw new GraphError(`buildVjp: nothing to output: output "${y.name}" depends on none of the requested params or inputs, and no outputs are kept`);
    g.prune();
    return g;
  }

  private findOutput(name: string): Value {
    const v = this.forward.outputs.find((o) => o.name === name);
    if (!v) throw new GraphError(`buildVjp: graph "${this.forward.name}" has no output "${name}" (outputs: ${this.forward.outputs.map((o) => o.name).join(', ')})`);
    return v;
  }

  private targetParams(): Value[] {
    const { forward, opts } = this;
    const trainable = (p: Value) => p.origin.kind === 'param' && p.origin.trainable;
    if (!opts.wrt) return forward.params.filter((p) => trainable(p) && isFloat(p.dtype));
    return opts.wrt.map((name) => {
      const p = forward.params.find((x) => x.name === name);
      if (!p) throw new GraphError(`buildVjp: "${name}" in wrt is not a param of graph "${forward.name}"`);
      if (!trainable(p)) throw new GraphError(`buildVjp: param "${name}" is frozen (trainable: false) and gets no gradient`);
      if (!isFloat(p.dtype)) throw new GraphError(`buildVjp: param "${name}" is ${p.dtype}; only float params have gradients`);
      return p;
    });
  }

  /** Marks values that depend on a target (need a gradient) and nodes on a path from a target to y. */
  private analyse(y: Value, targets: Value[]): void {
    for (const t of targets) this.needs.add(t);
    for (const n of this.forward.nodes) {
      if (ZERO_GRADIENT.has(ruleKey(n)) || !n.inputs.some((x) => x && this.needs.has(x))) continue;
      for (const o of n.outputs) if (isFloat(o.dtype)) this.needs.add(o);
    }
    const reaches = new Set<Value>([y]);
    for (let i = this.forward.nodes.length - 1; i >= 0; i--) {
      const n = this.forward.nodes[i]!;
      if (!n.outputs.some((o) => reaches.has(o))) continue;
      for (const x of n.inputs) if (x) reaches.add(x);
      if (n.outputs.some((o) => reaches.has(o) && this.needs.has(o))) this.relevant.add(n);
    }
  }

  private backward(node: Node): void {
    const g = this.g;
    g.scope(`grad/${node.name}`, () => {
      const cots = node.outputs.map((o) => (this.needs.has(o) ? this.sum(o) : null));
      if (cots.every((c) => !c)) return;
      const key = ruleKey(node);
      const rule = this.rules[key];
      if (!rule) {
        throw new GraphError(
          `buildVjp: no VJP rule for op ${key} (node "${node.name}"), which lies between the output and a param or input that needs a gradient. ` +
            'Freeze the params behind it, or pass a rule in options.rules.',
        );
      }
      const grads = rule(new VjpContext(this, node, cots));
      node.inputs.forEach((x, i) => {
        if (!x || !this.needs.has(x)) return;
        const grad = grads[i];
        if (grad === undefined) throw new GraphError(`VJP rule for ${key} (node "${node.name}") gives no gradient for input ${i} (${x.name}), which needs one`);
        if (grad === null) return;
        checkGradient(node, i, grad, x);
        const list = this.contributions.get(x);
        if (list) list.push(grad);
        else this.contributions.set(x, [grad]);
      });
    });
  }

  /** The total gradient of forward value v: its contributions summed (fan-out), or null if none. */
  private sum(v: Value): Value | null {
    if (this.summed.has(v)) return this.summed.get(v)!;
    const list = this.contributions.get(v) ?? [];
    let s: Value | null = null;
    if (list.length === 1) s = list[0]!;
    else if (list.length > 2 && (v.dtype === 'f32' || v.dtype === 'f64')) s = this.g.op1('Sum', list);
    else for (const c of list) s = s ? s.add(c) : c;
    if (s && s.rank > v.rank) throw new GraphError(`internal: gradient of ${v.name} has rank ${s.rank} > ${v.rank}`);
    this.summed.set(v, s);
    return s;
  }

  private expand(grad: Value, v: Value): Value {
    if (!isPartial(grad.shape, v.shape)) return grad;
    return this.g.op1('Expand', [grad, this.shapeOf(v)], {}, { output: { dtype: grad.dtype, shape: v.shape } });
  }

  private zeros(v: Value): Value {
    const value = { dtype: v.dtype, dims: [1], data: oneValue(v.dtype, 0) };
    return this.g.op1('ConstantOfShape', [this.shapeOf(v)], { value }, { output: { dtype: v.dtype, shape: v.shape } });
  }

  needsGrad(v: Value): boolean {
    return this.needs.has(v);
  }

  saved(node: Node): readonly Value[] {
    return this.extra.get(node) ?? [];
  }

  fwd(v: Value): Value {
    const m = this.map.get(v);
    if (m) return m;
    const o = v.origin;
    if (o.kind === 'input') throw new GraphError(`internal: input ${v.name} was not copied`);
    if (o.kind === 'param') {
      const p = this.g.param(v.name, v.dtype, v.shape as number[], o.source, o.trainable);
      this.map.set(v, p);
      return p;
    }
    if (o.kind === 'const') {
      const c = this.g.constant(o.tensor);
      this.map.set(v, c);
      return c;
    }
    this.copyNode(o.node);
    return this.map.get(v)!;
  }

  /** Copies a forward node and, first, every producer it needs (iteratively: deep graphs are fine). */
  private copyNode(root: Node): void {
    const stack: Node[] = [root];
    while (stack.length) {
      const n = stack[stack.length - 1]!;
      if (this.map.has(n.outputs[0]!)) {
        stack.pop();
        continue;
      }
      const pending = n.inputs.filter((x): x is Value => !!x && x.origin.kind === 'node' && !this.map.has(x));
      if (pending.length) {
        for (const x of pending) stack.push((x.origin as { node: Node }).node);
        continue;
      }
      stack.pop();
      const inputs = n.inputs.map((x) => (x ? this.fwd(x) : null));
      const specs: OutputSpec[] = n.outputs.map((o) => ({ dtype: o.dtype, shape: o.shape }));
      const more = this.relevant.has(n) ? SAVED_OUTPUTS[ruleKey(n)]?.(n) : undefined;
      if (more) specs.push(...more.slice(specs.length));
      const slash = n.name.lastIndexOf('/');
      const outs = this.g.inScope(slash > 0 ? n.name.slice(0, slash) : '', () => this.g.op(n.op, inputs, n.attrs, specs.length, { domain: n.domain, outputs: specs }));
      n.outputs.forEach((o, i) => this.map.set(o, outs[i]!));
      if (outs.length > n.outputs.length) this.extra.set(n, outs.slice(n.outputs.length));
    }
  }

  shapeOf(v: Value): Value {
    let s = this.shapes.get(v);
    if (s) return s;
    const g = this.g;
    if (v.shape.every((d) => typeof d === 'number')) s = g.constI64(v.shape as number[]);
    else if (v.shape.some((d) => typeof d === 'string' && (d.startsWith('?') || !this.symbolSource.has(d)))) s = g.shapeOf(this.fwd(v));
    else {
      // Named symbols come from the inputs' shapes, so v itself need not be computed.
      const parts: Value[] = [];
      let run: number[] = [];
      for (const d of v.shape) {
        if (typeof d === 'number') run.push(d);
        else {
          if (run.length) parts.push(g.constI64(run));
          run = [];
          parts.push(this.symbolDim(d));
        }
      }
      if (run.length) parts.push(g.constI64(run));
      s = parts.length === 1 ? parts[0]! : g.concat(parts, 0);
    }
    this.shapes.set(v, s);
    return s;
  }

  dimOf(v: Value, axis: number): Value {
    const d = v.shape[axis];
    if (d === undefined) throw new GraphError(`internal: axis ${axis} out of range for ${v}`);
    if (typeof d === 'number') return this.g.constI64([d]);
    if (!d.startsWith('?') && this.symbolSource.has(d)) return this.symbolDim(d);
    return this.g.shapeOf(this.fwd(v), axis, axis + 1);
  }

  private symbolDim(name: string): Value {
    let s = this.symbolDims.get(name);
    if (!s) {
      const src = this.symbolSource.get(name)!;
      s = this.g.shapeOf(this.fwd(src.input), src.axis, src.axis + 1);
      this.symbolDims.set(name, s);
    }
    return s;
  }
}
