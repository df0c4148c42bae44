// Trainable parameters as named float32 master tensors, and the gradient buffers the backward passes
// accumulate into. A model (full fine-tuning) or its LoRA adapters expose their trainable tensors as
// `Parameter`s; the optimizer updates `data` in place.

export interface Parameter {
  /** Unique name, e.g. "layers.0.self_attn.q_proj.weight" (used for decay rules and saved state). */
  readonly name: string;
  readonly shape: readonly number[];
  /** f32 master weights, updated in place by the optimizer. */
  readonly data: Float32Array;
}

/** Checks names are unique and shapes match data lengths. */
export function validateParameters(params: readonly Parameter[]): void {
  const seen = new Set<string>();
  for (const p of params) {
    if (seen.has(p.name)) throw new Error(`parameters: duplicate name "${p.name}"`);
    seen.add(p.name);
    const numel = p.shape.reduce((a, b) => a * b, 1);
    if (numel !== p.data.length) throw new Error(`parameters: "${p.name}" has shape [${p.shape.join(', ')}] (${numel} values) but ${p.data.length} values`);
  }
}

/** Total number of scalar values. */
export function countParameters(params: readonly Parameter[]): number {
  let n = 0;
  for (const p of params) n += p.data.length;
  return n;
}

/** One float32 gradient buffer per parameter, same shape. Backward passes add into these. */
export class GradientBuffers {
  private readonly byName = new Map<string, Float32Array>();
  readonly params: readonly Parameter[];

  constructor(params: readonly Parameter[]) {
    validateParameters(params);
    this.params = params;
    for (const p of params) this.byName.set(p.name, new Float32Array(p.data.length));
  }

  /** The buffer for a parameter; throws on an unknown name (a backward pass writing to the wrong place). */
  get(name: string): Float32Array {
    const g = this.byName.get(name);
    if (!g) throw new Error(`gradients: no parameter named "${name}"`);
    return g;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Adds `values` into the buffer of `name` (same length required). */
  add(name: string, values: ArrayLike<number>): void {
    const g = this.get(name);
    if (values.length !== g.length) throw new Error(`gradients: "${name}" expects ${g.length} values, got ${values.length}`);
    for (let i = 0; i < g.length; i++) g[i] += values[i]!;
  }

  zero(): void {
    for (const g of this.byName.values()) g.fill(0);
  }

  entries(): IterableIterator<[string, Float32Array]> {
    return this.byName.entries();
  }

  /** L2 norm over all buffers, accumulated in float64. */
  globalNorm(): number {
    let s = 0;
    for (const g of this.byName.values()) s += sumSquares(g);
    return Math.sqrt(s);
  }

  scale(factor: number): void {
    for (const g of this.byName.values()) for (let i = 0; i < g.length; i++) g[i] *= factor;
  }

  /** Name of the first buffer holding a NaN or ±Infinity, if any. */
  firstNonFinite(): string | undefined {
    for (const [name, g] of this.byName) {
      for (let i = 0; i < g.length; i++) if (!Number.isFinite(g[i]!)) return name;
    }
    return undefined;
  }
}

/** Σ g² in float64 with four independent accumulators (latency-bound otherwise). */
function sumSquares(g: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n4 = g.length & ~3;
  for (let i = 0; i < n4; i += 4) {
    const a = g[i]!;
    const b = g[i + 1]!;
    const c = g[i + 2]!;
    const d = g[i + 3]!;
    s0 += a * a;
    s1 += b * b;
    s2 += c * c;
    s3 += d * d;
  }
  for (let i = n4; i < g.length; i++) s0 += g[i]! * g[i]!;
  return s0 + s1 + s2 + s3;
}

export interface ClipResult {
  /** Global L2 norm before clipping. */
  norm: number;
  /** Factor the gradients were multiplied by (1 when not clipped). */
  factor: number;
}

/**
 * Global-norm gradient clipping with torch.nn.utils.clip_grad_norm_ semantics:
 * factor = maxNorm / (norm + 1e-6), applied only when it is below 1.
 * A non-finite norm throws, naming the first offending parameter (an f32 run producing NaN is a bug).
 */
export function clipGradNorm(grads: GradientBuffers, maxNorm: number | null | undefined): ClipResult {
  const r = clipFactor(grads, maxNorm);
  if (r.factor !== 1) grads.scale(r.factor);
  return r;
}

/** clipGradNorm without scaling: the norm and the factor to apply (e.g. inside the optimizer step). */
export function clipFactor(grads: GradientBuffers, maxNorm: number | null | undefined): ClipResult {
  const norm = grads.globalNorm();
  if (!Number.isFinite(norm)) {
    throw new Error(`gradients: non-finite global norm (${norm}); first non-finite parameter gradient: "${grads.firstNonFinite() ?? '?'}"`);
  }
  if (maxNorm === null || maxNorm === undefined || !(maxNorm > 0)) return { norm, factor: 1 };
  const factor = maxNorm / (norm + 1e-6);
  return { norm, factor: factor < 1 ? factor : 1 };
}
