// The grouped batch sampler the trainer calls every step. Every batch comes from one dataset, so
// in-batch negatives and the loss match the task. Each step draws a dataset with p_i ∝ n_i^α (with an
// optional fixed share of steps for retrieval datasets, as in stage 2), then takes the next batch of
// that dataset's own shuffled order; a dataset reshuffles when fewer than a batch of its examples
// are left (the few left over are not used in that pass). Everything follows from the seed, and
// state() is a small JSON value from which fromState() continues exactly, mid-epoch included.
import type { Family } from './records.js';
import { Rng, deriveSeed, type RngState } from './rng.js';

export interface SamplerDataset {
  name: string;
  family: Family;
  /** Number of examples (records). */
  size: number;
}

/** Default examples per batch: InfoNCE 256 (retrieval, cls), CoSENT 768 (pairs) — recipe §5. */
export const DEFAULT_BATCH_SIZES: Readonly<Record<Family, number>> = { retrieval: 256, pair: 768, cls: 256 };

export interface GroupedBatchSamplerOptions {
  datasets: SamplerDataset[];
  /** Examples per batch by family (defaults DEFAULT_BATCH_SIZES); a smaller dataset gives whole-dataset batches. */
  batchSize?: Partial<Record<Family, number>>;
  /** Dataset weights p_i ∝ n_i^α (default 1: proportional to size; 0: uniform over datasets). */
  alpha?: number;
  /** Fraction of steps that draw a retrieval dataset (stage 2, e.g. 0.72); default: no fixed share. */
  retrievalShare?: number;
  seed: number | string;
}

export interface SampledBatch {
  /** 0-based step number. */
  step: number;
  dataset: string;
  family: Family;
  /** Indices of the batch's records within its dataset. */
  indices: number[];
  /** How many full passes over this dataset came before this batch. */
  epoch: number;
}

export interface SamplerState {
  version: 1;
  options: {
    datasets: SamplerDataset[];
    batchSize: Record<Family, number>;
    alpha: number;
    retrievalShare: number | null;
    seed: number | string;
  };
  step: number;
  rng: RngState;
  /** Per dataset: epoch and position within that epoch's order. */
  cursors: Record<string, { epoch: number; cursor: number }>;
}

export class GroupedBatchSampler {
  readonly datasets: readonly SamplerDataset[];
  readonly batchSize: Readonly<Record<Family, number>>;
  readonly alpha: number;
  readonly retrievalShare: number | null;
  readonly seed: number | string;
  /** Probability that a step draws each dataset (same order as `datasets`). */
  readonly probabilities: readonly number[];
  private readonly cumulative: Float64Array;
  private rng: Rng;
  private stepNo = 0;
  private cursors = new Map<string, { epoch: number; cursor: number }>();
  private perms = new Map<string, { epoch: number; perm: Uint32Array }>();

  constructor(options: GroupedBatchSamplerOptions) {
    const { datasets } = options;
    if (!datasets.length) throw new Error('GroupedBatchSampler: no datasets');
    const names = new Set<string>();
    for (const d of datasets) {
      if (names.has(d.name)) throw new Error(`GroupedBatchSampler: dataset "${d.name}" listed twice`);
      names.add(d.name);
      if (!Number.isInteger(d.size) || d.size <= 0) throw new Error(`GroupedBatchSampler: dataset "${d.name}" has size ${d.size}; it needs at least one example`);
      if (!['retrieval', 'pair', 'cls'].includes(d.family)) throw new Error(`GroupedBatchSampler: dataset "${d.name}" has unknown family "${d.family}"`);
    }
    this.datasets = datasets.map((d) => ({ ...d }));
    this.batchSize = { ...DEFAULT_BATCH_SIZES, ...options.batchSize };
    for (const [f, b] of Object.entries(this.batchSize)) {
      if (!Number.isInteger(b) || b < 1) throw new Error(`GroupedBatchSampler: batch size for ${f} must be a whole number ≥ 1, got ${b}`);
    }
    this.alpha = options.alpha ?? 1;
    if (!Number.isFinite(this.alpha) || this.alpha < 0) throw new Error(`GroupedBatchSampler: alpha must be ≥ 0, got ${options.alpha}`);
    this.retrievalShare = options.retrievalShare ?? null;
    if (this.retrievalShare !== null && !(this.retrievalShare >= 0 && this.retrievalShare <= 1)) {
      throw new Error(`GroupedBatchSampler: retrievalShare must be in [0, 1], got ${options.retrievalShare}`);
    }
    this.seed = options.seed;
    this.probabilities = computeProbabilities(this.datasets, this.alpha, this.retrievalShare);
    this.cumulative = new Float64Array(this.datasets.length);
    let acc = 0;
    this.probabilities.forEach((p, i) => (this.cumulative[i] = acc += p));
    this.rng = new Rng(deriveSeed(this.seed, 'datasets'));
    for (const d of this.datasets) this.cursors.set(d.name, { epoch: 0, cursor: 0 });
  }

  /** Steps taken so far (the step number of the next batch). */
  get step(): number {
    return this.stepNo;
  }

  /** Examples in one batch of this dataset. */
  batchSizeOf(d: SamplerDataset): number {
    return Math.min(this.batchSize[d.family], d.size);
  }

  next(): SampledBatch {
    const u = this.rng.next() * this.cumulative[this.cumulative.length - 1]!;
    let i = 0;
    while (i < this.cumulative.length - 1 && u >= this.cumulative[i]!) i++;
    const d = this.datasets[i]!;
    const b = this.batchSizeOf(d);
    const cur = this.cursors.get(d.name)!;
    if (cur.cursor + b > d.size) {
      cur.epoch++;
      cur.cursor = 0;
    }
    const perm = this.permutation(d, cur.epoch);
    const indices = Array.from(perm.subarray(cur.cursor, cur.cursor + b));
    cur.cursor += b;
    return { step: this.stepNo++, dataset: d.name, family: d.family, indices, epoch: cur.epoch };
  }

  /** A JSON-serialisable snapshot; GroupedBatchSampler.fromState(state) continues from here. */
  state(): SamplerState {
    const cursors: SamplerState['cursors'] = {};
    for (const [name, c] of this.cursors) cursors[name] = { ...c };
    return {
      version: 1,
      options: {
        datasets: this.datasets.map((d) => ({ ...d })),
        batchSize: { ...this.batchSize },
        alpha: this.alpha,
        retrievalShare: this.retrievalShare,
        seed: this.seed,
      },
      step: this.stepNo,
      rng: this.rng.state(),
      cursors,
    };
  }

  /**
   * Rebuilds a sampler from state(). When `datasets` is given (what the data holds now), it must
   * match the saved list, so a resumed run cannot silently sample different data.
   */
  static fromState(state: SamplerState, datasets?: readonly SamplerDataset[]): GroupedBatchSampler {
    if (state?.version !== 1) throw new Error('GroupedBatchSampler.fromState: not a sampler state (version 1)');
    if (datasets) {
      const saved = state.options.datasets.map((d) => `${d.name}/${d.family}/${d.size}`).sort().join(', ');
      const now = datasets.map((d) => `${d.name}/${d.family}/${d.size}`).sort().join(', ');
      if (saved !== now) throw new Error(`GroupedBatchSampler.fromState: the datasets changed since the state was saved (saved: ${saved}; now: ${now})`);
    }
    const s = new GroupedBatchSampler({
      datasets: state.options.datasets,
      batchSize: state.options.batchSize,
      alpha: state.options.alpha,
      retrievalShare: state.options.retrievalShare ?? undefined,
      seed: state.options.seed,
    });
    s.stepNo = state.step;
    s.rng = new Rng(state.rng);
    for (const d of s.datasets) {
      const c = state.cursors[d.name];
      if (!c) throw new Error(`GroupedBatchSampler.fromState: no cursor for dataset "${d.name}"`);
      s.cursors.set(d.name, { epoch: c.epoch, cursor: c.cursor });
    }
    return s;
  }

  private permutation(d: SamplerDataset, epoch: number): Uint32Array {
    const cached = this.perms.get(d.name);
    if (cached && cached.epoch === epoch) return cached.perm;
    const perm = new Uint32Array(d.size);
    for (let i = 0; i < d.size; i++) perm[i] = i;
    new Rng(deriveSeed(this.seed, 'order', d.name, epoch)).shuffle(perm);
    this.perms.set(d.name, { epoch, perm });
    return perm;
  }
}

/** p_i ∝ n_i^α; with a retrieval share η, retrieval datasets split η and the others 1 − η. */
export function computeProbabilities(datasets: readonly SamplerDataset[], alpha: number, retrievalShare: number | null): number[] {
  const w = datasets.map((d) => Math.pow(d.size, alpha));
  const isRet = datasets.map((d) => d.family === 'retrieval');
  const hasRet = isRet.some(Boolean);
  const hasOther = isRet.some((r) => !r);
  if (retrievalShare === null || !hasRet || !hasOther) {
    if (retrievalShare !== null && !hasRet && retrievalShare > 0) {
      throw new Error(`retrievalShare ${retrievalShare} needs at least one retrieval dataset`);
    }
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / total);
  }
  const totRet = w.reduce((a, x, i) => a + (isRet[i] ? x : 0), 0);
  const totOther = w.reduce((a, x, i) => a + (isRet[i] ? 0 : x), 0);
  return w.map((x, i) => (isRet[i] ? (retrievalShare * x) / totRet : ((1 - retrievalShare) * x) / totOther));
}
