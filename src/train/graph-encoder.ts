// The ONNX-backed TrainableEncoder: the model runtime's own embedding graph (src/model: Qwen2/Qwen3
// decoders with bidirectional or causal attention, BERT encoders; pooling and L2 normalisation inside)
// with its weights as graph inputs fed from f32 master weights, and the VJP graph that src/graph's
// autodiff derives from it with `grad:embedding` = dE. So the training forward is the inference forward,
// op for op. GradCache calls `embed` (forward, no activations kept) for every chunk, then `backward`
// (recompute + VJP) with the chunk's rows of dLoss/dE, and the weight gradients land in GradientBuffers.
//
// Sparse embedding gradients: a dense [vocab, hidden] word-embedding gradient is the largest output of a
// step (31 MB for a 30k×256 table, ~1.3 ms/MB to copy out of ORT) although a run touches a few thousand
// token positions. So the graph takes the embedding row of each token position ([tokens, hidden],
// `embed_rows`, ids 0…T−1), returns a [tokens, hidden] gradient, and TypeScript adds each row into the
// master gradient at its token id.
//
// LoRA: base weights are frozen graph initializers (in memory, or byte ranges of the checkpoint's
// safetensors files — optionally int8/int4 MatMulNBits, i.e. QLoRA) and only the adapters are fed and
// differentiated.
//
// Both sessions are created once and reused: every run has the same graph, only the batch and (padded)
// sequence lengths vary, and lengths are rounded up to a multiple so few distinct shapes appear. Inside a
// chunk, texts run longest first in runs of similar length, so short texts are not padded to long ones.
import { availableParallelism } from 'node:os';
import { readdirSync } from 'node:fs';
import { Runtime, buildVjp, gradName, hostTensor, type Graph, type GraphSession, type HostTensor, type Value } from '../graph/index.js';
import { type ModelConfig, configForSave } from '../model/config.js';
import { buildDecoderGraph } from '../model/qwen2.js';
import { buildEncoderGraph } from '../model/bert.js';
import { attentionKernelFor } from '../model/layers.js';
import { modelWeightRequests, tokenEmbeddingName } from '../model/random-init.js';
import { floatTensor, type TensorToWrite } from '../model/safetensors.js';
import { saveCheckpoint as saveModelCheckpoint } from '../model/save.js';
import type { PoolingMode, SentenceTransformersConfig } from '../model/sentence-transformers.js';
import type { HfTokenizer } from '../model/tokenizer.js';
import { PreparedWeights, type PreparedWeight, type WeightRequest } from '../model/weights.js';
import type { TextKind } from '../model/embedder.js';
import { defaultEmptyText } from '../model/prompts.js';
import type { LoraConfig } from './config.js';
import type { EncodeContext, TrainableEncoder } from './gradcache.js';
import { LoraAdapters } from './lora.js';
import { deriveSeed } from './random.js';
import type { GradientBuffers, Parameter } from './parameters.js';

/** A run of a chunk closes once it holds this many padded tokens and the next text is much shorter. */
const MIN_RUN_TOKENS = 1024;
/** "Much shorter": below this share of the run's padded length. */
const MIN_FILL = 0.8;

/** The dropout seed of run `ri` of a chunk (the chunk's own seed when it is one run). */
function runSeed(seed: number, ri: number, runs: number): number {
  return runs === 1 ? seed : deriveSeed(seed, ri);
}

/** Name of the graph input holding the token-embedding rows a run uses (sparse embedding gradients). */
export const EMBED_ROWS_INPUT = 'embed_rows';

/** Full fine-tuning: every weight is trainable, fed from these f32 master arrays (updated in place). */
export interface FullTraining {
  kind: 'full';
  weights: Map<string, Float32Array>;
}

/** LoRA: frozen base weights in the graph, adapters trained. */
export interface LoraTraining {
  kind: 'lora';
  lora: LoraConfig;
  /** The frozen base as graph parameters (memory or file sources, trainable = false). */
  base: PreparedWeights;
  /** f32 values of a base tensor by canonical name, for merging on save. */
  readBase: (name: string) => Promise<Float32Array>;
  /** Seed of the adapters' initialisation. */
  seed: number;
}

export type TrainingMode = FullTraining | LoraTraining;

export interface GraphEncoderOptions {
  config: ModelConfig;
  tokenizer: HfTokenizer;
  /** Folder the tokenizer files are copied from when saving. */
  tokenizerDir: string;
  mode: TrainingMode;
  /** Max tokens per text (instruction and special tokens included) by side. Default 512 each (capped by the model). */
  maxLength?: { query: number; passage: number };
  /** Pooling (default mean, QZhou's). */
  pooling?: PoolingMode;
  /** Gather the used embedding rows instead of feeding the whole table (full training only; default true). */
  sparseEmbeddings?: boolean;
  /** Padded lengths are rounded up to a multiple of this (default 8), so few shapes appear. */
  lengthMultiple?: number;
  /** Replacement for "" (default "Null" for decoders as QZhou's embedder, none for BERT). */
  emptyText?: string | null;
  /** Lowercase texts (sentence-transformers do_lower_case). */
  lowercase?: boolean;
  /** The source checkpoint's sentence-transformers metadata, kept when saving. */
  sentenceTransformers?: SentenceTransformersConfig;
  /** Model files (e.g. remote code *.py) copied from `tokenizerDir` on save. */
  extraFiles?: string[];
  runtime?: Runtime;
  /** ORT intra-op threads (default: all cores). */
  threads?: number;
  cacheDir?: string;
}

interface VjpSession {
  session: GraphSession;
  /** Gradient outputs of the VJP graph: [output name, parameter name]. */
  gradOutputs: [string, string][];
}

/** Frozen base weights in memory as graph initializers (LoRA over an in-memory model). */
export function memoryWeights(requests: readonly WeightRequest[], values: ReadonlyMap<string, Float32Array>): PreparedWeights {
  const m = new Map<string, PreparedWeight>();
  for (const r of requests) {
    const data = values.get(r.name);
    if (!data) throw new Error(`missing weight "${r.name}"`);
    m.set(r.name, { kind: 'float', dtype: 'f32', shape: [...r.shape], source: { kind: 'memory', data } });
  }
  return new PreparedWeights(m, undefined, 0, false);
}

/** Every weight a trainable graph input; the token embedding optionally as the `embed_rows` input. */
class InputWeights extends PreparedWeights {
  constructor(requests: readonly WeightRequest[], private readonly rowsOf: string | undefined, private readonly hidden: number) {
    const m = new Map<string, PreparedWeight>();
    for (const r of requests) m.set(r.name, { kind: 'float', dtype: 'f32', shape: [...r.shape], source: { kind: 'input' } });
    super(m, undefined, 0, true);
  }

  override float(g: Graph, name: string, paramName = name): Value {
    if (name === this.rowsOf) return g.input(EMBED_ROWS_INPUT, 'f32', ['embed_rows', this.hidden]);
    return super.float(g, name, paramName);
  }
}

export class GraphEncoder implements TrainableEncoder<string> {
  readonly dim: number;
  readonly config: ModelConfig;
  readonly tokenizer: HfTokenizer;
  readonly maxLength: { query: number; passage: number };
  readonly pooling: PoolingMode;
  readonly requests: readonly WeightRequest[];
  /** Present in LoRA mode. */
  readonly lora: LoraAdapters | undefined;
  private readonly o: GraphEncoderOptions;
  private readonly embName: string;
  private readonly sparse: boolean;
  private readonly runtime: Runtime;
  private readonly ownRuntime: boolean;
  private forwardGraph: Graph | undefined;
  private fwd: Promise<GraphSession> | undefined;
  private vjp: Promise<VjpSession> | undefined;
  private readonly tokenCache = new Map<string, Int32Array>();
  private readonly params: Parameter[];
  private closed = false;

  constructor(options: GraphEncoderOptions) {
    this.o = options;
    const c = options.config;
    this.config = c;
    this.tokenizer = options.tokenizer;
    this.dim = c.hiddenSize;
    this.pooling = options.pooling ?? 'mean';
    this.requests = modelWeightRequests(c);
    this.embName = tokenEmbeddingName(c);
    const cap = c.maxPositionEmbeddings;
    const ml = options.maxLength ?? { query: 512, passage: 512 };
    const min = this.tokenizer.numSpecialTokens + 1;
    for (const [k, v] of Object.entries(ml)) {
      if (!Number.isSafeInteger(v) || v < min) throw new Error(`max length (${k}) must be an integer ≥ ${min}, got ${v}`);
    }
    this.maxLength = { query: Math.min(ml.query, cap), passage: Math.min(ml.passage, cap) };
    if (this.tokenizer.vocabSize > c.vocabSize) throw new Error(`${c.file}: vocab_size ${c.vocabSize} is smaller than the tokenizer's ${this.tokenizer.vocabSize} tokens`);
    const mode = options.mode;
    if (mode.kind === 'full') {
      for (const r of this.requests) {
        const w = mode.weights.get(r.name);
        const n = r.shape.reduce((a, b) => a * b, 1);
        if (!w) throw new Error(`full fine-tuning: no master weight "${r.name}"`);
        if (w.length !== n) throw new Error(`full fine-tuning: "${r.name}" has ${w.length} values, its shape [${r.shape.join(', ')}] needs ${n}`);
      }
      this.params = this.requests.map((r) => ({ name: r.name, shape: r.shape, data: mode.weights.get(r.name)! }));
      this.lora = undefined;
      this.sparse = options.sparseEmbeddings ?? true;
    } else {
      this.lora = LoraAdapters.create(this.requests, mode.lora, mode.seed);
      this.params = this.lora.parameters;
      this.sparse = false;
    }
    this.ownRuntime = !options.runtime;
    this.runtime = options.runtime ?? new Runtime({ cacheDir: options.cacheDir, threads: options.threads ?? availableParallelism() });
  }

  /** The trainable tensors (what the optimizer updates and `backward` writes gradients for). */
  get parameters(): Parameter[] {
    return this.params;
  }

  /** The forward graph (output `embedding`), as training runs it. */
  buildForwardGraph(): Graph {
    const c = this.config;
    const mode = this.o.mode;
    const weights = mode.kind === 'full' ? new InputWeights(this.requests, this.sparse ? this.embName : undefined, c.hiddenSize) : mode.base;
    const opts = {
      pooling: this.pooling,
      maxLength: Math.max(this.maxLength.query, this.maxLength.passage),
      act: 'f32' as const,
      linearAdapter: this.lora?.adapter(),
      attentionKernel: attentionKernelFor(this.runtime.device),
    };
    return c.family === 'decoder' ? buildDecoderGraph(c, weights, opts) : buildEncoderGraph(c, weights, opts);
  }

  /** The forward graph, built once (both sessions derive from it). */
  private graph(): Graph {
    return (this.forwardGraph ??= this.buildForwardGraph());
  }

  private forwardSession(): Promise<GraphSession> {
    if (this.closed) throw new Error('GraphEncoder is closed');
    return (this.fwd ??= this.runtime.session(this.graph()));
  }

  /** The VJP session and its gradient outputs ([output name, parameter name]), built on first backward. */
  private vjpSession(): Promise<VjpSession> {
    if (this.closed) throw new Error('GraphEncoder is closed');
    return (this.vjp ??= (async () => {
      const wrt = this.params.filter((p) => !(this.sparse && p.name === this.embName)).map((p) => p.name);
      const graph = buildVjp(this.graph(), { output: 'embedding', wrt, inputGrads: this.sparse ? [EMBED_ROWS_INPUT] : undefined });
      const names = new Set(graph.outputs.map((o) => o.name));
      const gradOutputs: [string, string][] = wrt.filter((n) => names.has(gradName(n))).map((n) => [gradName(n), n]);
      if (this.sparse) gradOutputs.push([gradName(EMBED_ROWS_INPUT), this.embName]);
      return { session: await this.runtime.session(graph), gradOutputs };
    })());
  }

  private prepare(text: string): string {
    if (typeof text !== 'string') throw new TypeError(`texts must be strings, got ${typeof text}`);
    const empty = this.o.emptyText !== undefined ? this.o.emptyText : defaultEmptyText(this.config.family);
    const t = text === '' && empty !== null ? empty : text;
    return this.o.lowercase ? t.toLowerCase() : t;
  }

  /** Token ids of a text as it is trained on that side (truncated to the side's max length). */
  tokenize(text: string, kind: TextKind): Int32Array {
    const key = `${kind === 'query' ? 'q' : 'd'}\u0000${text}`;
    let ids = this.tokenCache.get(key);
    if (!ids) {
      const max = kind === 'query' ? this.maxLength.query : this.maxLength.passage;
      ids = Int32Array.from(this.tokenizer.encodeTruncated(this.prepare(text), max).ids);
      if (this.tokenCache.size >= 200_000) this.tokenCache.clear();
      this.tokenCache.set(key, ids);
    }
    return ids;
  }

  tokenCount(input: string): number {
    return (this.tokenCache.get(`q\u0000${input}`) ?? this.tokenCache.get(`d\u0000${input}`) ?? this.tokenize(input, 'query')).length;
  }

  /** Token ids of a chunk's texts, each truncated for its side. */
  private encodeChunk(texts: readonly string[], ctx: Pick<EncodeContext, 'kind' | 'kinds'>): Int32Array[] {
    if (ctx.kinds && ctx.kinds.length !== texts.length) throw new Error(`GraphEncoder: ${ctx.kinds.length} kinds for ${texts.length} texts`);
    return texts.map((t, i) => this.tokenize(t, ctx.kinds?.[i] ?? ctx.kind));
  }

  /** Feeds for one run over tokenised texts; `rows` gives the token id of each fed embedding row (sparse). */
  private feeds(enc: readonly Int32Array[], seed: number | null): { feeds: Record<string, HostTensor>; rows: Int32Array | undefined } {
    if (enc.length === 0) throw new Error('GraphEncoder: empty chunk');
    let longest = 0;
    for (const e of enc) longest = Math.max(longest, e.length);
    const mult = this.o.lengthMultiple ?? 8;
    const cap = Math.max(this.maxLength.query, this.maxLength.passage);
    const len = Math.max(longest, Math.min(cap, Math.ceil(longest / mult) * mult));
    const n = enc.length;
    const left = this.tokenizer.paddingSide === 'left';
    const pad = this.tokenizer.padId;
    const ids = new BigInt64Array(n * len);
    const mask = new BigInt64Array(n * len);
    const feeds: Record<string, HostTensor> = {};
    let rows: Int32Array | undefined;
    if (this.sparse) {
      // One row per token position (pads included), ids 0…T−1; TypeScript adds the per-position gradient
      // rows into the master gradient by token id.
      const V = this.config.vocabSize;
      const H = this.config.hiddenSize;
      const table = (this.o.mode as FullTraining).weights.get(this.embName)!;
      const T = n * len;
      const tokenOf = new Int32Array(T).fill(pad);
      enc.forEach((e, r) => {
        const off = r * len + (left ? len - e.length : 0);
        for (let j = 0; j < e.length; j++) {
          const id = e[j]!;
          if (id < 0 || id >= V) throw new RangeError(`token id ${id} is outside the vocabulary [0, ${V})`);
          tokenOf[off + j] = id;
          mask[off + j] = 1n;
        }
      });
      const data = new Float32Array(T * H);
      for (let t = 0; t < T; t++) {
        const id = tokenOf[t]!;
        data.set(table.subarray(id * H, (id + 1) * H), t * H);
        ids[t] = BigInt(t);
      }
      feeds[EMBED_ROWS_INPUT] = hostTensor('f32', data, [T, H]);
      rows = tokenOf;
    } else {
      ids.fill(BigInt(pad));
      enc.forEach((e, r) => {
        const off = r * len + (left ? len - e.length : 0);
        for (let j = 0; j < e.length; j++) {
          ids[off + j] = BigInt(e[j]!);
          mask[off + j] = 1n;
        }
      });
    }
    feeds.input_ids = hostTensor('i64', ids, [n, len]);
    feeds.attention_mask = hostTensor('i64', mask, [n, len]);
    for (const p of this.params) if (!(this.sparse && p.name === this.embName)) feeds[p.name] = hostTensor('f32', p.data, p.shape);
    if (this.lora && this.lora.dropout > 0) {
      // Training runs draw the chunk's masks; plain embedding (seed null) keeps every element.
      for (const { name, module } of this.lora.dropoutInputs()) {
        const m = seed === null ? new Float32Array(n * len * module.inFeatures).fill(1) : undefined;
        if (m) feeds[name] = hostTensor('f32', m, [n * len, module.inFeatures]);
      }
      if (seed !== null) for (const [name, m] of this.lora.dropoutMasks(n * len, seed)) feeds[name] = hostTensor('f32', m, [n * len, m.length / (n * len)]);
    }
    return { feeds, rows };
  }

  /**
   * Splits a chunk into runs of similar lengths (longest first), so that short texts are not padded to
   * the longest one: a run closes once it holds ≥ MIN_RUN_TOKENS padded tokens and the next text is
   * shorter than MIN_FILL of its padded length. A chunk of equal lengths stays one run. The gradient is
   * the same either way (a sum over rows); only the padding work changes.
   */
  private runsOf(enc: readonly Int32Array[]): number[][] {
    const lens = enc.map((e) => e.length);
    const order = lens.map((_, i) => i).sort((a, b) => lens[b]! - lens[a]! || a - b);
    const runs: number[][] = [];
    for (let start = 0; start < order.length;) {
      const len = lens[order[start]!]!;
      let n = 1;
      while (start + n < order.length && (n * len < MIN_RUN_TOKENS || lens[order[start + n]!]! >= len * MIN_FILL)) n++;
      runs.push(order.slice(start, start + n));
      start += n;
    }
    return runs;
  }

  async embed(texts: readonly string[], ctx: EncodeContext): Promise<Float32Array> {
    return this.forward(this.encodeChunk(texts, ctx), ctx.seed);
  }

  /** Forward pass for evaluation-style use: one vector per text (no dropout). */
  async embedTexts(texts: readonly string[], kind: TextKind = 'query'): Promise<Float32Array> {
    return this.forward(this.encodeChunk(texts, { kind }), null);
  }

  private async forward(enc: readonly Int32Array[], seed: number | null): Promise<Float32Array> {
    const session = await this.forwardSession();
    const d = this.dim;
    const out = new Float32Array(enc.length * d);
    const runs = this.runsOf(enc);
    for (const [ri, run] of runs.entries()) {
      const { feeds } = this.feeds(run.map((i) => enc[i]!), seed === null ? null : runSeed(seed, ri, runs.length));
      const e = (await session.run(feeds, ['embedding'])).embedding!.data as Float32Array;
      run.forEach((i, r) => out.set(e.subarray(r * d, (r + 1) * d), i * d));
    }
    return out;
  }

  async backward(texts: readonly string[], dE: Float32Array, grads: GradientBuffers, ctx: EncodeContext): Promise<void> {
    const s = await this.vjpSession();
    const d = this.dim;
    if (dE.length !== texts.length * d) throw new Error(`GraphEncoder.backward: dE has ${dE.length} values for ${texts.length} texts × ${d}`);
    const enc = this.encodeChunk(texts, ctx);
    const runs = this.runsOf(enc);
    for (const [ri, run] of runs.entries()) {
      const { feeds, rows } = this.feeds(run.map((i) => enc[i]!), runSeed(ctx.seed, ri, runs.length));
      const upstream = new Float32Array(run.length * d);
      run.forEach((i, r) => upstream.set(dE.subarray(i * d, (i + 1) * d), r * d));
      feeds['grad:embedding'] = hostTensor('f32', upstream, [run.length, d]);
      const out = await s.session.run(feeds, s.gradOutputs.map(([o]) => o));
      for (const [o, name] of s.gradOutputs) {
        const g = out[o]!.data as Float32Array;
        const master = grads.get(name);
        if (o === gradName(EMBED_ROWS_INPUT)) {
          const H = this.config.hiddenSize;
          rows!.forEach((id, r) => {
            const src = r * H;
            const dst = id * H;
            for (let k = 0; k < H; k++) master[dst + k] += g[src + k]!;
          });
        } else {
          if (g.length !== master.length) throw new Error(`GraphEncoder.backward: gradient of "${name}" has ${g.length} values, expected ${master.length}`);
          for (let i = 0; i < g.length; i++) master[i] += g[i]!;
        }
      }
    }
  }

  /** f32 weights of the model as it stands (LoRA merged), by canonical name, for saving. */
  async modelWeights(): Promise<Map<string, Float32Array>> {
    const mode = this.o.mode;
    if (mode.kind === 'full') return new Map(this.requests.map((r) => [r.name, mode.weights.get(r.name)!]));
    const out = new Map<string, Float32Array>();
    for (const r of this.requests) {
      const base = await mode.readBase(r.name);
      out.set(r.name, r.name.endsWith('.weight') ? this.lora!.merge(r.name.slice(0, -'.weight'.length), base) : base);
    }
    return out;
  }

  /**
   * Writes the model in Hugging Face layout (config.json, model.safetensors in f32, tokenizer files,
   * sentence-transformers metadata with this encoder's pooling and max length), LoRA merged, into `dir`
   * (created atomically; `overwrite` replaces an existing folder). With LoRA the adapters are written too.
   */
  async save(dir: string, opts: { overwrite?: boolean; dtype?: 'F32' | 'F16' | 'BF16'; maxShardBytes?: number } = {}): Promise<void> {
    const c = this.config;
    const raw = configForSave(c);
    const tensors: TensorToWrite[] = [];
    const mode = this.o.mode;
    for (const r of this.requests) {
      const name = r.name;
      tensors.push({
        name, shape: r.shape, dtype: opts.dtype ?? 'F32',
        // LoRA: merged one tensor at a time while writing (bounded memory for large bases).
        data: async () => {
          const v = mode.kind === 'full' ? mode.weights.get(name)! : name.endsWith('.weight') ? this.lora!.merge(name.slice(0, -7), await mode.readBase(name)) : await mode.readBase(name);
          const t = floatTensor(name, r.shape, v, opts.dtype ?? 'F32');
          return typeof t.data === 'function' ? t.data() : t.data;
        },
      });
    }
    const st = this.o.sentenceTransformers;
    const present = new Set(readdirSync(this.o.tokenizerDir));
    await saveModelCheckpoint(dir, {
      config: raw,
      tensors,
      tokenizerDir: this.o.tokenizerDir,
      tokenizerFiles: this.tokenizer.files.filter((f) => present.has(f)),
      extraFiles: (this.o.extraFiles ?? []).filter((f) => present.has(f)),
      sentenceTransformers: {
        pooling: this.pooling, includePrompt: st?.includePrompt ?? true, dimension: c.hiddenSize,
        maxSeqLength: st?.maxSeqLength ?? Math.max(this.maxLength.query, this.maxLength.passage), doLowerCase: this.o.lowercase ?? false,
        prompts: st?.prompts, defaultPromptName: st?.defaultPromptName, similarityFnName: st?.similarityFnName,
      },
      maxShardBytes: opts.maxShardBytes,
      overwrite: opts.overwrite,
    });
    if (this.lora) await this.lora.save(dir);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.fwd, this.vjp]);
    this.forwardGraph = undefined;
    // A shared runtime's owner releases its sessions (they are cached there by graph hash).
    if (this.ownRuntime) await this.runtime.releaseAll();
  }
}

