// AdamW over f32 master weights, matching torch.optim.AdamW (decoupled weight decay applied before
// the Adam update, bias-corrected moments, eps added after the bias-corrected square root). Parameters
// whose names match a no-decay pattern (biases and norm weights by default, as Hugging Face's Trainer
// does) get no weight decay. Per-element arithmetic is float64; moments and weights are stored as f32.
// State (step, moments, options) saves to `<dir>/optimizer.bin` + `optimizer.json` and restores exactly.
import { join } from 'node:path';
import { validateParameters, type GradientBuffers, type Parameter } from './parameters.js';
import { readTensorFile, readTensorManifest, writeTensorFile } from './tensor-file.js';

export interface AdamWOptions {
  /** (β1, β2). Default (0.9, 0.999) as torch. */
  betas?: readonly [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay coefficient. Default 0.01 (torch's default; recipe.md §5, second-hand). */
  weightDecay?: number;
  /**
   * Glob patterns (`*` = any run of characters, case-insensitive) of parameter names that get no
   * weight decay. Default: biases and normalisation weights.
   */
  noDecay?: readonly string[];
}

export const DEFAULT_NO_DECAY: readonly string[] = ['*bias', '*norm*'];

export interface ResolvedAdamWOptions {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  noDecay: string[];
}

const STATE_FILE = 'optimizer';

export class AdamW {
  readonly params: readonly Parameter[];
  readonly options: ResolvedAdamWOptions;
  /** Number of updates applied so far (torch's `step`). */
  stepCount = 0;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private readonly decay: boolean[];

  constructor(params: readonly Parameter[], options: AdamWOptions = {}) {
    validateParameters(params);
    this.params = params;
    this.options = resolveOptions(options);
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
    const matchers = this.options.noDecay.map(globToRegExp);
    this.decay = params.map((p) => !matchers.some((re) => re.test(p.name)));
  }

  /** Whether weight decay applies to the named parameter. */
  decays(name: string): boolean {
    const i = this.params.findIndex((p) => p.name === name);
    if (i < 0) throw new Error(`AdamW: no parameter named "${name}"`);
    return this.decay[i]!;
  }

  /**
   * One update with learning rate `lr` from the gradients (already clipped if wanted, or clipped here:
   * `gradScale` multiplies each gradient exactly as clipGradNorm's in-place scaling would, without the
   * extra pass over memory). Parameters without a gradient buffer are an error, so a frozen/trainable
   * mix-up does not go unnoticed.
   */
  step(grads: GradientBuffers, lr: number, gradScale = 1): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`AdamW: learning rate must be a finite number ≥ 0, got ${lr}`);
    if (!(gradScale > 0) || !Number.isFinite(gradScale)) throw new Error(`AdamW: gradScale must be a finite number > 0, got ${gradScale}`);
    const [b1, b2] = this.options.betas;
    const { eps, weightDecay } = this.options;
    const t = ++this.stepCount;
    const bc1 = 1 - Math.pow(b1, t);
    const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
    const stepSize = lr / bc1;
    for (let pi = 0; pi < this.params.length; pi++) {
      const p = this.params[pi]!;
      const g = grads.get(p.name);
      const w = p.data;
      const m = this.m[pi]!;
      const v = this.v[pi]!;
      const keep = this.decay[pi] ? 1 - lr * weightDecay : 1;
      adamwUpdate(w, m, v, g, gradScale, keep, stepSize, b1, b2, bc2Sqrt, eps);
    }
  }

  /** First and second moments of a parameter (views into the live state). */
  moments(name: string): { m: Float32Array; v: Float32Array } {
    const i = this.params.findIndex((p) => p.name === name);
    if (i < 0) throw new Error(`AdamW: no parameter named "${name}"`);
    return { m: this.m[i]!, v: this.v[i]! };
  }

  /** Writes `<dir>/optimizer.bin` and `<dir>/optimizer.json` atomically. */
  async save(dir: string): Promise<void> {
    const tensors = this.params.flatMap((p, i) => [
      { name: `exp_avg/${p.name}`, shape: p.shape, data: this.m[i]! },
      { name: `exp_avg_sq/${p.name}`, shape: p.shape, data: this.v[i]! },
    ]);
    await writeTensorFile(join(dir, STATE_FILE), tensors, {
      optimizer: 'adamw',
      step: this.stepCount,
      betas: this.options.betas,
      eps: this.options.eps,
      weightDecay: this.options.weightDecay,
      noDecay: this.options.noDecay,
    });
  }

  /**
   * Restores the state saved by `save` into this optimizer. Saved parameter names and shapes must equal
   * this optimizer's. Saved hyper-parameters must equal this optimizer's too (a resume must not silently
   * change the run) unless `allowOptionChange` is set, in which case this optimizer's options win.
   */
  async load(dir: string, opts: { allowOptionChange?: boolean } = {}): Promise<void> {
    const base = join(dir, STATE_FILE);
    const manifest = await readTensorManifest(base);
    const where = `${base}.json`;
    const meta = manifest.meta;
    if (meta.optimizer !== 'adamw') throw new Error(`${where}: meta.optimizer: expected "adamw", got ${JSON.stringify(meta.optimizer)}`);
    if (!Number.isSafeInteger(meta.step) || (meta.step as number) < 0) throw new Error(`${where}: meta.step: expected a non-negative integer`);
    if (!opts.allowOptionChange) {
      for (const key of ['betas', 'eps', 'weightDecay', 'noDecay'] as const) {
        if (JSON.stringify(meta[key]) !== JSON.stringify(this.options[key])) {
          throw new Error(`${where}: meta.${key}: saved ${JSON.stringify(meta[key])} but this run uses ${JSON.stringify(this.options[key])} (pass allowOptionChange to override)`);
        }
      }
    }
    const expected = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    this.params.forEach((p, i) => {
      expected.set(`exp_avg/${p.name}`, { shape: p.shape, data: this.m[i]! });
      expected.set(`exp_avg_sq/${p.name}`, { shape: p.shape, data: this.v[i]! });
    });
    const saved = new Set(manifest.tensors.map((t) => t.name));
    for (const name of expected.keys()) if (!saved.has(name)) throw new Error(`${where}: no state for "${name}" (the saved optimizer has different parameters)`);
    for (const t of manifest.tensors) {
      const e = expected.get(t.name);
      if (!e) throw new Error(`${where}: state for "${t.name}", which is not a parameter of this run`);
      if (JSON.stringify(t.shape) !== JSON.stringify(e.shape)) throw new Error(`${where}: "${t.name}" has shape [${t.shape.join(', ')}], the parameter has [${e.shape.join(', ')}]`);
    }
    // Read into scratch copies first, so a corrupt file leaves the live state untouched.
    const scratch = new Map<string, Float32Array>();
    await readTensorFile(base, (entry) => {
      const buf = new Float32Array(entry.length);
      scratch.set(entry.name, buf);
      return buf;
    });
    for (const [name, e] of expected) e.data.set(scratch.get(name)!);
    this.stepCount = meta.step as number;
  }
}

/**
 * The per-element AdamW update, as a free function over typed arrays (V8 optimises it better than the
 * same loop inside the method). Clipping is folded in: gi is the same f32 product an in-place
 * `g *= gradScale` would have stored (exactly g when gradScale is 1).
 */
function adamwUpdate(
  w: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, gradScale: number,
  keep: number, stepSize: number, b1: number, b2: number, bc2Sqrt: number, eps: number,
): void {
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  for (let i = 0; i < w.length; i++) {
    const gi = Math.fround(g[i]! * gradScale);
    const mi = b1 * m[i]! + c1 * gi;
    const vi = b2 * v[i]! + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i]! * keep - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
  }
}

/** True when `<dir>/optimizer.json` exists and parses. */
export async function hasOptimizerState(dir: string): Promise<boolean> {
  try {
    await readTensorManifest(join(dir, STATE_FILE));
    return true;
  } catch {
    return false;
  }
}

function resolveOptions(o: AdamWOptions): ResolvedAdamWOptions {
  const betas: [number, number] = o.betas ? [o.betas[0], o.betas[1]] : [0.9, 0.999];
  for (const [i, b] of betas.entries()) {
    if (!(b >= 0 && b < 1)) throw new Error(`AdamW: betas[${i}] must be in [0, 1), got ${b}`);
  }
  const eps = o.eps ?? 1e-8;
  if (!(eps > 0) || !Number.isFinite(eps)) throw new Error(`AdamW: eps must be a positive number, got ${eps}`);
  const weightDecay = o.weightDecay ?? 0.01;
  if (!(weightDecay >= 0) || !Number.isFinite(weightDecay)) throw new Error(`AdamW: weightDecay must be a number ≥ 0, got ${weightDecay}`);
  const noDecay = [...(o.noDecay ?? DEFAULT_NO_DECAY)];
  for (const p of noDecay) if (typeof p !== 'string' || p === '') throw new Error(`AdamW: noDecay patterns must be non-empty strings`);
  return { betas, eps, weightDecay, noDecay };
}

/** `*` matches any run of characters; everything else is literal; whole-name, case-insensitive. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`, 'i');
}
