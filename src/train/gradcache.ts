// The GradCache training step (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under
// Memory Limited Setup"): contrastive losses couple every row of a batch, so a batch of 256 queries
// with 1536-token passages cannot be run forward+backward at once. Instead:
//   1. embed every text of the batch in chunks, keeping only the embeddings (no activations);
//   2. compute the loss and dLoss/dEmbeddings on the full batch (src/train/losses.ts);
//   3. per chunk, recompute the forward pass and run its VJP with that chunk's rows of dE,
//      accumulating the weight gradients;
//   4. clip the global gradient norm and apply the optimizer.
// The result equals the unchunked gradient (up to f32 summation order); peak memory is one chunk's
// activations plus the batch's embeddings. The encoder is an interface: the ONNX-graph model
// implements it, and so does the small pure-TS StaticEmbeddingEncoder used by the tests.
import type { TextKind } from '../model/embedder.js';
import { classificationInfoNCE, cosentLoss, retrievalInfoNCE, type Embeddings, type Label } from './losses.js';
import type { AdamW } from './optimizer.js';
import { GradientBuffers, clipFactor, type Parameter } from './parameters.js';
import { deriveSeed } from './random.js';

/** The three record families of the unified data format (recipe.md §2), each with its own loss. */
export type Family = 'retrieval' | 'pair' | 'cls';
export const FAMILIES: readonly Family[] = ['retrieval', 'pair', 'cls'];

/** Where a chunk sits in the step; passed unchanged to `embed` and `backward` of the same chunk. */
export interface EncodeContext {
  /** Query side or document side (for role-specific max lengths or instructions, if the encoder has them). */
  kind: TextKind;
  /**
   * The side of each input, when a packed chunk (`packGroups`) spans groups of different sides; absent
   * when every input is on side `kind`.
   */
  kinds?: readonly TextKind[];
  /** The batch group the chunk belongs to (packed chunks: the group of its first input). */
  group: BatchGroupName;
  /** Index of the chunk within its group (packed chunks: within the batch). */
  chunk: number;
  /**
   * Seed for any randomness in the forward pass (dropout). `backward` must recompute the exact forward
   * that `embed` ran, so it must use the same seed.
   */
  seed: number;
}

/**
 * A model the GradCache step can train. `embed` is a forward pass that keeps no activations;
 * `backward` recomputes the forward for the same inputs and adds (∂E/∂θ)ᵀ·dE into `grads`.
 */
export interface TrainableEncoder<I> {
  /** Embedding width. */
  readonly dim: number;
  /** rows × dim, row-major, one L2-normalised row per input. */
  embed(inputs: readonly I[], ctx: EncodeContext): Promise<Float32Array>;
  /** Accumulates the weight gradients for upstream gradient `dE` (rows × dim) of this chunk's outputs. */
  backward(inputs: readonly I[], dE: Float32Array, grads: GradientBuffers, ctx: EncodeContext): Promise<void>;
  /** Tokens in one input, for tokens/s reporting. */
  tokenCount?(input: I): number;
}

export type BatchGroupName = 'queries' | 'positives' | 'negatives' | 'text1' | 'text2' | 'anchors';

/** Retrieval: query i's positive is positives[i]; negatives is the pool of all hard negatives. */
export interface RetrievalBatch<I> {
  family: 'retrieval';
  dataset?: string;
  queries: readonly I[];
  positives: readonly I[];
  negatives?: readonly I[];
}

/** Scored pairs for CoSENT. */
export interface PairBatch<I> {
  family: 'pair';
  dataset?: string;
  text1: readonly I[];
  text2: readonly I[];
  scores: readonly number[];
}

/** Classification expanded to triples: positives[i] has labels[i]; negatives carry their own labels. */
export interface ClsBatch<I> {
  family: 'cls';
  dataset?: string;
  anchors: readonly I[];
  positives: readonly I[];
  negatives?: readonly I[];
  labels: readonly Label[];
  negativeLabels?: readonly Label[];
}

export type TrainBatch<I> = RetrievalBatch<I> | PairBatch<I> | ClsBatch<I>;

export interface LossSettings {
  /** InfoNCE temperature for retrieval and classification. Default 0.02. */
  temperature?: number;
  /** Query–query terms in the retrieval denominator. Default true. */
  queryQuery?: boolean;
  /** CoSENT scale (1/τ). Default 50. */
  cosentScale?: number;
  /** Other anchors' positives in the classification denominator. Default 'omit'. */
  clsOtherPositives?: 'omit' | 'masked';
}

export interface BatchGradientOptions {
  /** Texts per forward/backward chunk (the memory knob). */
  chunkSize: number;
  loss?: LossSettings;
  /** Base seed for this batch; chunk seeds derive from it. */
  seed?: number;
  /** Progress within a step: phase, chunks done, chunks total. */
  onProgress?: (phase: 'embed' | 'backward', done: number, total: number) => void;
  /**
   * Fill chunks across group boundaries (queries, then positives, then negatives), so a batch whose
   * groups are smaller than a chunk runs in fewer, fuller forward/backward passes. The gradient is the
   * same; inputs of a chunk may then be on different sides (`EncodeContext.kinds`). Default false.
   */
  packGroups?: boolean;
}

export interface BatchGradientResult {
  family: Family;
  loss: number;
  /** In-batch top-1 accuracy of the positive (InfoNCE families); undefined for pairs. */
  accuracy?: number;
  texts: number;
  /** Tokens embedded (forward once; backward recomputes them), when the encoder counts tokens. */
  tokens: number;
  /** Backward chunks skipped because their dE was all zero. */
  skippedChunks: number;
}

interface Group<I> {
  name: BatchGroupName;
  kind: TextKind;
  inputs: readonly I[];
}

function groupsOf<I>(batch: TrainBatch<I>): Group<I>[] {
  switch (batch.family) {
    case 'retrieval':
      return [
        { name: 'queries', kind: 'query', inputs: batch.queries },
        { name: 'positives', kind: 'document', inputs: batch.positives },
        { name: 'negatives', kind: 'document', inputs: batch.negatives ?? [] },
      ];
    case 'pair':
      return [
        { name: 'text1', kind: 'query', inputs: batch.text1 },
        { name: 'text2', kind: 'query', inputs: batch.text2 },
      ];
    case 'cls':
      return [
        { name: 'anchors', kind: 'query', inputs: batch.anchors },
        { name: 'positives', kind: 'query', inputs: batch.positives },
        { name: 'negatives', kind: 'query', inputs: batch.negatives ?? [] },
      ];
    default:
      throw new Error(`GradCache: unknown batch family ${JSON.stringify((batch as { family: unknown }).family)}`);
  }
}

interface Chunk {
  /** (group index, row in the group) of each input. */
  rows: [number, number][];
  ctx: EncodeContext;
}

/** Chunks of at most `size` inputs, per group or (packed) across groups; each with its context and seed. */
function planChunks<I>(groups: readonly Group<I>[], size: number, seed: number, pack: boolean): Chunk[] {
  const chunks: Chunk[] = [];
  if (!pack) {
    groups.forEach((g, gi) => {
      for (let start = 0, ci = 0; start < g.inputs.length; start += size, ci++) {
        const rows: [number, number][] = [];
        for (let r = start; r < Math.min(g.inputs.length, start + size); r++) rows.push([gi, r]);
        chunks.push({ rows, ctx: { kind: g.kind, group: g.name, chunk: ci, seed: deriveSeed(seed, gi, ci) } });
      }
    });
    return chunks;
  }
  const all: [number, number][] = groups.flatMap((g, gi) => g.inputs.map((_, r): [number, number] => [gi, r]));
  for (let start = 0, ci = 0; start < all.length; start += size, ci++) {
    const rows = all.slice(start, start + size);
    const kinds = rows.map(([gi]) => groups[gi]!.kind);
    const first = groups[rows[0]![0]]!;
    const ctx: EncodeContext = { kind: first.kind, group: first.name, chunk: ci, seed: deriveSeed(seed, 0x7061636b, ci) };
    if (kinds.some((k) => k !== first.kind)) ctx.kinds = kinds;
    chunks.push({ rows, ctx });
  }
  return chunks;
}

/**
 * Steps 1–3 of GradCache: adds dLoss/dθ of `batch` into `grads` (not zeroed here) and returns the loss.
 */
export async function accumulateBatchGradients<I>(
  encoder: TrainableEncoder<I>,
  batch: TrainBatch<I>,
  grads: GradientBuffers,
  opts: BatchGradientOptions,
): Promise<BatchGradientResult> {
  const chunkSize = opts.chunkSize;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`GradCache: chunkSize must be a positive integer, got ${chunkSize}`);
  const dim = encoder.dim;
  const groups = groupsOf(batch);
  const seed = opts.seed ?? 0;
  const chunks = planChunks(groups, chunkSize, seed, opts.packGroups ?? false);
  const chunkCount = chunks.length;

  // 1. Embed without activations.
  let done = 0;
  const embedded: Embeddings[] = groups.map((g) => ({ data: new Float32Array(g.inputs.length * dim), rows: g.inputs.length, dim }));
  let tokens = 0;
  for (const c of chunks) {
    const inputs = c.rows.map(([gi, r]) => groups[gi]!.inputs[r]!);
    const out = await encoder.embed(inputs, c.ctx);
    if (out.length !== inputs.length * dim) {
      throw new Error(`GradCache: encoder.embed returned ${out.length} values for ${inputs.length} ${c.ctx.group} × dim ${dim}`);
    }
    c.rows.forEach(([gi, r], k) => embedded[gi]!.data.set(out.subarray(k * dim, (k + 1) * dim), r * dim));
    opts.onProgress?.('embed', ++done, chunkCount);
  }
  if (encoder.tokenCount) for (const g of groups) for (const x of g.inputs) tokens += encoder.tokenCount(x);

  // 2. Loss and dLoss/dE on the whole batch.
  const settings = opts.loss ?? {};
  let loss: number;
  let accuracy: number | undefined;
  let dE: Float64Array[];
  switch (batch.family) {
    case 'retrieval': {
      const r = retrievalInfoNCE({ queries: embedded[0]!, positives: embedded[1]!, negatives: embedded[2], temperature: settings.temperature, queryQuery: settings.queryQuery });
      ({ loss, accuracy } = r);
      dE = [r.grads.queries, r.grads.positives, r.grads.negatives];
      break;
    }
    case 'pair': {
      const r = cosentLoss({ a: embedded[0]!, b: embedded[1]!, scores: batch.scores, scale: settings.cosentScale });
      loss = r.loss;
      dE = [r.grads.a, r.grads.b];
      break;
    }
    case 'cls': {
      const r = classificationInfoNCE({
        anchors: embedded[0]!,
        positives: embedded[1]!,
        negatives: embedded[2],
        labels: batch.labels,
        negativeLabels: batch.negativeLabels ?? [],
        temperature: settings.temperature,
        otherPositives: settings.clsOtherPositives,
      });
      ({ loss, accuracy } = r);
      dE = [r.grads.anchors, r.grads.positives, r.grads.negatives];
      break;
    }
  }

  // 3. Recompute + VJP per chunk, accumulating weight gradients.
  done = 0;
  let skippedChunks = 0;
  for (const c of chunks) {
    const upstream = new Float32Array(c.rows.length * dim);
    c.rows.forEach(([gi, r], k) => {
      const d = dE[gi]!;
      for (let j = 0; j < dim; j++) upstream[k * dim + j] = d[r * dim + j]!;
    });
    if (upstream.every((v) => v === 0)) {
      skippedChunks++; // Jᵀ·0 = 0: nothing to add
    } else {
      await encoder.backward(c.rows.map(([gi, r]) => groups[gi]!.inputs[r]!), upstream, grads, c.ctx);
    }
    opts.onProgress?.('backward', ++done, chunkCount);
  }
  const texts = groups.reduce((s, g) => s + g.inputs.length, 0);
  return { family: batch.family, loss, accuracy, texts, tokens, skippedChunks };
}

export interface GradCacheTrainerOptions<I> {
  encoder: TrainableEncoder<I>;
  /** The trainable parameters (what the encoder's backward writes gradients for). */
  params: readonly Parameter[];
  optimizer: AdamW;
  /** Learning rate for update number `step` (0-based count of updates already done). */
  schedule: (step: number) => number;
  chunkSize: number;
  loss?: LossSettings;
  /** Global-norm clipping threshold; null/undefined disables clipping. */
  maxGradNorm?: number | null;
  /** Seed of the run; each step's chunk seeds derive from (seed, step). */
  seed?: number;
  onProgress?: BatchGradientOptions['onProgress'];
  /** See BatchGradientOptions.packGroups. */
  packGroups?: boolean;
}

export interface StepResult extends BatchGradientResult {
  /** Updates done after this step (1 for the first step). */
  step: number;
  dataset?: string;
  /** Learning rate this update used. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Factor the gradients were scaled by (1 when not clipped). */
  clipFactor: number;
  /** Wall-clock seconds of the step. */
  seconds: number;
}

/** One GradCache update per batch: gradients, clipping, AdamW at the scheduled learning rate. */
export class GradCacheTrainer<I> {
  readonly grads: GradientBuffers;
  private readonly o: GradCacheTrainerOptions<I>;

  constructor(options: GradCacheTrainerOptions<I>) {
    this.o = options;
    this.grads = new GradientBuffers(options.params);
    const optNames = options.optimizer.params.map((p) => p.name).join('\n');
    if (optNames !== options.params.map((p) => p.name).join('\n')) {
      throw new Error('GradCacheTrainer: the optimizer must own exactly the trainable parameters, in the same order');
    }
  }

  /** Updates done so far (the optimizer's step count, so it survives a state restore). */
  get stepCount(): number {
    return this.o.optimizer.stepCount;
  }

  /** Runs one update on `batch`. */
  async step(batch: TrainBatch<I>): Promise<StepResult> {
    const t0 = performance.now();
    const step = this.o.optimizer.stepCount;
    this.grads.zero();
    const r = await accumulateBatchGradients(this.o.encoder, batch, this.grads, {
      chunkSize: this.o.chunkSize,
      loss: this.o.loss,
      seed: deriveSeed(this.o.seed ?? 0, step),
      onProgress: this.o.onProgress,
      packGroups: this.o.packGroups,
    });
    if (!Number.isFinite(r.loss)) throw new Error(`step ${step + 1}: loss is ${r.loss} (${batch.family} batch${batch.dataset ? ` from ${batch.dataset}` : ''})`);
    const clip = clipFactor(this.grads, this.o.maxGradNorm);
    const lr = this.o.schedule(step);
    this.o.optimizer.step(this.grads, lr, clip.factor);
    return { ...r, step: step + 1, dataset: batch.dataset, lr, gradNorm: clip.norm, clipFactor: clip.factor, seconds: (performance.now() - t0) / 1000 };
  }
}
