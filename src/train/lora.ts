// LoRA (Hu et al. 2021) as PEFT implements it: for each targeted linear layer y = x Wᵀ + b, a trainable
// pair A [r, in] and B [out, r] adds (alpha / r) · (dropout(x) Aᵀ) Bᵀ. A starts kaiming-uniform (a = √5,
// i.e. U(−1/√in, 1/√in)) and B at zero, so the wrapped model starts equal to the base; the base weights
// stay frozen (initializers or file ranges in the graph: no gradient, not fed per step). On save the
// adapters are merged into the checkpoint's [out, in] weights, W += (alpha / r) · B·A, and also written
// in PEFT's layout (adapter_model.safetensors + adapter_config.json) for resuming and for PEFT users.
import { join } from 'node:path';
import type { Graph, Value } from '../graph/index.js';
import type { LinearAdapter } from '../model/layers.js';
import type { WeightRequest } from '../model/weights.js';
import { SafetensorsCheckpoint, floatTensor, writeSafetensors } from '../model/safetensors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { fnv1a32 } from '../util/hash.js';
import type { LoraConfig } from './config.js';
import { globToRegExp } from './optimizer.js';
import type { Parameter } from './parameters.js';
import { Rng, deriveSeed } from './random.js';

export interface LoraModule {
  /** Module name, e.g. "layers.0.self_attn.q_proj" (its weight is `<module>.weight`). */
  module: string;
  inFeatures: number;
  outFeatures: number;
  /** [rank, in] */
  A: Parameter;
  /** [out, rank] */
  B: Parameter;
}

/** Prefix PEFT puts in front of module names in adapter_model.safetensors. */
export const PEFT_PREFIX = 'base_model.model.';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';

/**
 * The linear modules a target list selects. A target matches a module when it equals the module's
 * name or a dotted suffix of it (PEFT's rule: "q_proj" matches "layers.0.self_attn.q_proj", "dense"
 * matches every BERT "…dense"); `*` is a wildcard within that match ("*_proj", "layers.1.*"). Every
 * target must match something, so a typo is an error rather than a silent no-op.
 */
export function matchLoraTargets(modules: readonly string[], targets: readonly string[]): string[] {
  if (targets.length === 0) throw new Error('lora.targets: empty list');
  const res = targets.map((t) => globToRegExp(t));
  const hits = new Set<string>();
  targets.forEach((t, i) => {
    let any = false;
    for (const m of modules) {
      const parts = m.split('.');
      for (let k = 0; k < parts.length; k++) {
        if (res[i]!.test(parts.slice(k).join('.'))) {
          hits.add(m);
          any = true;
          break;
        }
      }
    }
    if (!any) {
      const leaves = [...new Set(modules.map((m) => m.split('.').pop()!))].sort();
      throw new Error(`lora.targets: "${t}" matches no linear layer of this model (layer names end in: ${leaves.join(', ')})`);
    }
  });
  return modules.filter((m) => hits.has(m));
}

export class LoraAdapters {
  readonly modules: ReadonlyMap<string, LoraModule>;
  readonly rank: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly targets: readonly string[];
  /** alpha / rank. */
  readonly scale: number;

  private constructor(modules: Map<string, LoraModule>, spec: LoraConfig) {
    this.modules = modules;
    this.rank = spec.rank;
    this.alpha = spec.alpha;
    this.dropout = spec.dropout;
    this.targets = [...spec.targets];
    this.scale = spec.alpha / spec.rank;
  }

  /**
   * Adapters for the linear layers of `requests` that `spec.targets` select, initialised from `seed`
   * (each module's A from its own stream, so adding a target leaves the others unchanged).
   */
  static create(requests: readonly WeightRequest[], spec: LoraConfig, seed: number): LoraAdapters {
    if (!Number.isInteger(spec.rank) || spec.rank < 1) throw new Error(`lora.rank must be a positive integer, got ${spec.rank}`);
    if (!(spec.alpha > 0)) throw new Error(`lora.alpha must be positive, got ${spec.alpha}`);
    if (!(spec.dropout >= 0 && spec.dropout < 1)) throw new Error(`lora.dropout must be in [0, 1), got ${spec.dropout}`);
    const linears = requests.filter((r) => r.role === 'linear' && r.name.endsWith('.weight'));
    const names = linears.map((r) => r.name.slice(0, -'.weight'.length));
    const chosen = matchLoraTargets(names, spec.targets);
    const modules = new Map<string, LoraModule>();
    for (const m of chosen) {
      const [out, inp] = linears[names.indexOf(m)]!.shape as [number, number];
      const A: Parameter = { name: `${m}.lora_A.weight`, shape: [spec.rank, inp], data: new Float32Array(spec.rank * inp) };
      const B: Parameter = { name: `${m}.lora_B.weight`, shape: [out, spec.rank], data: new Float32Array(out * spec.rank) };
      // kaiming_uniform_(a=√5): bound = √(6 / ((1 + a²)·fan_in)) = 1/√fan_in
      const bound = 1 / Math.sqrt(inp);
      const rng = new Rng(deriveSeed(seed, fnv1a32(m)));
      for (let i = 0; i < A.data.length; i++) A.data[i] = (2 * rng.next() - 1) * bound;
      modules.set(m, { module: m, inFeatures: inp, outFeatures: out, A, B });
    }
    return new LoraAdapters(modules, spec);
  }

  /** The trainable tensors: A then B per module, in model order. */
  get parameters(): Parameter[] {
    return [...this.modules.values()].flatMap((m) => [m.A, m.B]);
  }

  /** Names of the per-module dropout-mask inputs the graph takes when dropout > 0. */
  dropoutInputs(): { name: string; module: LoraModule }[] {
    if (this.dropout === 0) return [];
    return [...this.modules.values()].map((m) => ({ name: `${m.module}.lora_dropout`, module: m }));
  }

  /**
   * The graph hook: y + scale·(x·mask)·Aᵀ·Bᵀ for targeted layers. With dropout, the keep-mask (0 or
   * 1/(1−p) per element of x) is a graph input, drawn in TypeScript from the chunk's seed, so the
   * recomputation in the backward pass applies exactly the mask the forward pass used.
   */
  adapter(): LinearAdapter {
    return (g: Graph, x: Value, prefix: string, y: Value): Value => {
      const m = this.modules.get(prefix);
      if (!m) return y;
      const A = g.param(m.A.name, 'f32', m.A.shape);
      const B = g.param(m.B.name, 'f32', m.B.shape);
      const xin = this.dropout > 0 ? x.mul(g.input(`${prefix}.lora_dropout`, 'f32', ['lora_tokens', m.inFeatures])) : x;
      const xa = g.op1('Gemm', [xin, A], { transB: 1 });
      return y.add(g.op1('Gemm', [xa, B], { transB: 1, alpha: this.scale }));
    };
  }

  /** Keep-masks for one run: `tokens` rows per module, seeded by (seed, module). */
  dropoutMasks(tokens: number, seed: number): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    const keep = 1 - this.dropout;
    for (const { name, module } of this.dropoutInputs()) {
      const rng = new Rng(deriveSeed(seed, fnv1a32(module.module)));
      const mask = new Float32Array(tokens * module.inFeatures);
      for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < keep ? 1 / keep : 0;
      out.set(name, mask);
    }
    return out;
  }

  /** W + scale·B·A for a module's [out, in] base weight (a new array; float64 sums, as one f32 rounding). */
  merge(module: string, base: Float32Array): Float32Array {
    const m = this.modules.get(module);
    if (!m) return base;
    const { inFeatures: n, outFeatures: o } = m;
    if (base.length !== o * n) throw new Error(`LoRA merge: ${module}.weight has ${base.length} values, expected ${o}×${n}`);
    const r = this.rank;
    const A = m.A.data;
    const B = m.B.data;
    const out = new Float32Array(base.length);
    const row = new Float64Array(n);
    for (let i = 0; i < o; i++) {
      row.fill(0);
      for (let k = 0; k < r; k++) {
        const b = B[i * r + k]!;
        if (b === 0) continue;
        const ak = k * n;
        for (let j = 0; j < n; j++) row[j] += b * A[ak + j]!;
      }
      for (let j = 0; j < n; j++) out[i * n + j] = base[i * n + j]! + this.scale * row[j]!;
    }
    return out;
  }

  /** Writes PEFT's adapter files into `dir` (adapter_model.safetensors, adapter_config.json). */
  async save(dir: string, baseModel?: string): Promise<void> {
    const tensors = [...this.modules.values()].flatMap((m) => [
      floatTensor(`${PEFT_PREFIX}${m.A.name}`, m.A.shape, m.A.data),
      floatTensor(`${PEFT_PREFIX}${m.B.name}`, m.B.shape, m.B.data),
    ]);
    await writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
    const config = {
      peft_type: 'LORA', task_type: 'FEATURE_EXTRACTION', r: this.rank, lora_alpha: this.alpha, lora_dropout: this.dropout,
      target_modules: [...this.modules.keys()], bias: 'none', fan_in_fan_out: false, init_lora_weights: true,
      inference_mode: false, base_model_name_or_path: baseModel ?? null, modules_to_save: null, use_rslora: false, use_dora: false,
    };
    await writeFileAtomic(join(dir, ADAPTER_CONFIG), `${JSON.stringify(config, null, 2)}\n`);
  }

  /** Restores A and B from `dir`'s adapter_model.safetensors (same modules and shapes required). */
  async load(dir: string): Promise<void> {
    const file = join(dir, ADAPTER_WEIGHTS);
    const ck = await SafetensorsCheckpoint.open(dir, ADAPTER_WEIGHTS).catch((e: Error) => {
      throw new Error(`${file}: cannot read the LoRA adapters (${e.message})`);
    });
    try {
      for (const p of this.parameters) {
        const name = `${PEFT_PREFIX}${p.name}`;
        const e = ck.get(name);
        if (!e) throw new Error(`${file}: tensor "${name}": missing (the saved adapters target other layers)`);
        if (e.shape.join(',') !== p.shape.join(',')) throw new Error(`${file}: tensor "${name}".shape: is [${e.shape.join(', ')}], this run's adapter is [${p.shape.join(', ')}]`);
        p.data.set(await ck.readFloat32(name));
      }
    } finally {
      await ck.close();
    }
  }
}
