// The Embedder over a Hugging Face checkpoint folder: config + tokenizer + safetensors → one ONNX graph
// (pooling and L2 normalisation inside) → ONNX Runtime. Texts are tokenised with their prompt, sorted by
// length, cut into token-budget batches padded to a few bucket lengths (so kernels see few shapes), run,
// and returned in input order.
import { createHash } from 'node:crypto';
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { defaultCacheDir } from '../util/cache-dir.js';
import { Runtime, bucketLength, hostTensor, type Device, type GraphSession } from '../graph/index.js';
import type { Embedder, EmbedRequest } from './embedder.js';
import { type AttentionMode, type ModelConfig, configForSave, loadModelConfig } from './config.js';
import { saveCheckpoint, checkpointTensors } from './save.js';
import { CheckpointError } from './errors.js';
import { type SentenceTransformersConfig, type PoolingMode, loadSentenceTransformersConfig, POOLING_MODES } from './sentence-transformers.js';
import { SafetensorsCheckpoint } from './safetensors.js';
import { HfTokenizer } from './tokenizer.js';
import { type WeightDtype, type PreparedWeights, type WeightRequest, WEIGHT_DTYPES, prepareWeights } from './weights.js';
import { buildDecoderGraph, decoderWeightRequests } from './qwen2.js';
import { buildEncoderGraph, encoderWeightRequests } from './bert.js';
import { RecentEncodings } from './recent-encodings.js';
import { type AttentionKernel, type DenseLayer, type EmbeddingGraphOptions, attentionKernelFor } from './layers.js';
import { type PromptSettings, defaultEmptyText, resolvePrompt } from './prompts.js';
import { QZHOU_PROMPT_TEMPLATE } from './instructions.js';

export interface EmbedderOptions {
  /** Execution provider (default cpu). */
  device?: Device;
  /** Weight dtype: f32 (CPU default), f16 (WebGPU default), int8 / int4 weight-only quantised linears. */
  dtype?: WeightDtype;
  /** Max tokens per text, prompt and special tokens included (default: sentence_bert_config max_seq_length, else
   * min(tokenizer model_max_length, 8192); never above max_position_embeddings). */
  maxLength?: number;
  /** Padded tokens per batch (rows × bucket length); default 16384. */
  batchTokens?: number;
  /** Most texts per batch (default 256). */
  batchSize?: number;
  /** Pooling override (default: 1_Pooling/config.json, else mean). */
  pooling?: PoolingMode;
  /** Attention override for decoders (default from config.json: QZhou / is_causal false → bidirectional). */
  attention?: AttentionMode;
  /**
   * Attention kernel: `fused` (ORT MultiHeadAttention; default on CPU and CUDA) or `matmul` (plain ops;
   * default on WebGPU, whose MultiHeadAttention lacks the padding mask; 6–9% faster for short texts on CPU).
   */
  attentionKernel?: AttentionKernel;
  /** Intra-op threads (default: all cores). */
  threads?: number;
  /** Folder for converted weights and ORT model files (default $QZHOU_CACHE or ~/.cache/qzhou). */
  cacheDir?: string;
  /** Template around instructions (default "Instruct: {instruction}\nQuery: "). */
  promptTemplate?: string;
  /** Look task names up in QZhou's instruction table (default: true for decoders, false for BERT). */
  instructionTable?: boolean;
  /** Replacement for empty texts (default "Null" for decoders, as QZhou's reference; BERT keeps ""). null keeps "". */
  emptyText?: string | null;
  /** Block size of int8/int4 quantisation (default 32). */
  quantBlockSize?: number;
  /** Identity override (default: folder name + hash of what changes the vectors). */
  id?: string;
  /** Progress of the one-time weight conversion (bytes). */
  onLoadProgress?: (done: number, total: number) => void;
  /** Also compute last_hidden_state (for parity checks; slower, larger outputs). */
  withHiddenStates?: boolean;
}

const DEFAULT_BATCH_TOKENS = 16384;
/** Max length when neither the option nor sentence_bert_config.json sets one (QZhou advertises 8192). */
const DEFAULT_MAX_LENGTH = 8192;
const DEFAULT_BATCH_SIZE = 256;
/** Attention scores per batch (ORT's CPU attention materialises them when there is a padding mask). */
const ATTENTION_BYTES = 512 << 20;
/** Padded tokens a batch needs before it may close early (matrix products are efficient from about here). */
const MIN_BATCH_TOKENS = 512;
/** A text shorter than this share of the batch's padded length starts a new batch (once the batch is big enough). */
const MIN_FILL = 0.85;

/** A text after tokenisation: ids with special tokens, and how many leading tokens are prompt. */
interface Encoded {
  ids: number[];
  promptTokens: number;
}

export class CheckpointEmbedder implements Embedder {
  readonly id: string;
  readonly dim: number;
  readonly maxLength: number;
  /** The parsed config.json. */
  readonly config: ModelConfig;
  readonly pooling: PoolingMode;
  readonly dtype: WeightDtype;
  readonly device: Device;
  private closed = false;
  /** Ids from countTokens() for the embed() that follows it (the server's count-then-embed). */
  private readonly counted = new RecentEncodings();

  private constructor(
    readonly dir: string,
    readonly tokenizer: HfTokenizer,
    readonly sentenceTransformers: SentenceTransformersConfig | undefined,
    private readonly runtime: Runtime,
    private readonly session: GraphSession,
    private readonly checkpoint: SafetensorsCheckpoint,
    private readonly prompt: PromptSettings,
    private readonly settings: {
      config: ModelConfig; pooling: PoolingMode; includePrompt: boolean; maxLength: number; dim: number; id: string;
      dtype: WeightDtype; device: Device; batchTokens: number; batchSize: number; emptyText: string | null; lowercase: boolean;
    },
    /** Weights as prepared for the graph (bytes held by ORT). */
    readonly weights: PreparedWeights,
  ) {
    this.config = settings.config;
    this.pooling = settings.pooling;
    this.maxLength = settings.maxLength;
    this.dim = settings.dim;
    this.id = settings.id;
    this.dtype = settings.dtype;
    this.device = settings.device;
  }

  /** Loads a checkpoint folder (shared API 3). */
  static async load(dir: string, opts: EmbedderOptions = {}): Promise<CheckpointEmbedder> {
    const st = await loadSentenceTransformersConfig(dir);
    const modelDir = st?.transformerPath ? join(dir, st.transformerPath) : dir;
    const config = await loadModelConfig(modelDir, { attention: opts.attention });
    const tokenizer = await HfTokenizer.load(modelDir, { modelType: config.modelType });
    if (tokenizer.vocabSize > config.vocabSize) {
      throw new CheckpointError(config.file, 'vocab_size', `${config.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`);
    }
    const device = opts.device ?? 'cpu';
    const dtype = opts.dtype ?? (device === 'webgpu' ? 'f16' : 'f32');
    if (!WEIGHT_DTYPES.includes(dtype)) throw new Error(`dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got ${String(dtype)}`);
    const pooling = opts.pooling ?? st?.pooling ?? 'mean';
    if (!POOLING_MODES.includes(pooling)) throw new Error(`pooling must be one of ${POOLING_MODES.join(', ')}, got ${String(pooling)}`);

    let maxLength = opts.maxLength ?? st?.maxSeqLength ?? Math.min(tokenizer.modelMaxLength ?? Infinity, DEFAULT_MAX_LENGTH);
    if (!Number.isSafeInteger(maxLength) || maxLength < tokenizer.numSpecialTokens + 1) throw new Error(`max length must be an integer > ${tokenizer.numSpecialTokens}, got ${maxLength}`);
    maxLength = Math.min(maxLength, config.maxPositionEmbeddings);
    if (config.family === 'decoder' && config.slidingWindow) maxLength = Math.min(maxLength, config.slidingWindow);

    const cacheDir = opts.cacheDir ?? defaultCacheDir();
    const runtime = new Runtime({ device, cacheDir, threads: opts.threads });
    const checkpoint = await SafetensorsCheckpoint.open(modelDir);
    try {
      const decoder = config.family === 'decoder';
      const requests = decoder ? decoderWeightRequests(config) : encoderWeightRequests(config);
      const weights = await prepareWeights(checkpoint, requests, {
        dtype, cacheDir, blockSize: opts.quantBlockSize, prefixes: decoder ? ['', 'model.'] : ['', 'bert.', 'model.'],
        onProgress: opts.onLoadProgress,
      });
      const dense: DenseLayer[] = [];
      let dim = config.hiddenSize;
      for (const d of st?.dense ?? []) {
        if (d.inFeatures !== dim) throw new CheckpointError(join(dir, d.path, 'config.json'), 'in_features', `is ${d.inFeatures}, but the previous module outputs ${dim}`);
        const ck = await SafetensorsCheckpoint.open(join(dir, d.path));
        try {
          const reqs: WeightRequest[] = [{ name: 'linear.weight', shape: [d.outFeatures, d.inFeatures], role: 'linear' }];
          if (d.bias) reqs.push({ name: 'linear.bias', shape: [d.outFeatures], role: 'vector' });
          dense.push({ weights: await prepareWeights(ck, reqs, { dtype: 'f32', cacheDir }), bias: d.bias, activation: d.activation });
        } finally {
          await ck.close();
        }
        dim = d.outFeatures;
      }
      const includePrompt = st?.includePrompt ?? true;
      const graphOpts: EmbeddingGraphOptions = {
        pooling, dense, maxLength, act: dtype === 'f16' ? 'f16' : 'f32', withHidden: opts.withHiddenStates, poolMaskInput: !includePrompt,
        attentionKernel: opts.attentionKernel ?? attentionKernelFor(device),
      };
      const graph = config.family === 'decoder' ? buildDecoderGraph(config, weights, graphOpts) : buildEncoderGraph(config, weights, graphOpts);
      const session = await runtime.session(graph);
      const promptSettings: PromptSettings = {
        template: opts.promptTemplate ?? QZHOU_PROMPT_TEMPLATE,
        instructionTable: opts.instructionTable ?? decoder,
        prompts: st?.prompts ?? {},
        defaultPromptName: st?.defaultPromptName,
      };
      const emptyText = opts.emptyText !== undefined ? opts.emptyText : defaultEmptyText(config.family);
      const idFiles = [join(modelDir, 'config.json'), ...tokenizer.files.map((f) => join(modelDir, f)), ...checkpoint.files.map((f) => f.path), ...(st?.dense ?? []).flatMap((d) => [join(dir, d.path, 'config.json'), join(dir, d.path, 'model.safetensors')])];
      const id = opts.id ?? modelId(dir, idFiles, { dtype, pooling, attention: config.attention, maxLength, includePrompt, template: promptSettings.template, emptyText, dense: dense.length });
      return new CheckpointEmbedder(dir, tokenizer, st, runtime, session, checkpoint, promptSettings, {
        config, pooling, includePrompt, maxLength, dim, id, dtype, device,
        batchTokens: opts.batchTokens ?? DEFAULT_BATCH_TOKENS, batchSize: opts.batchSize ?? DEFAULT_BATCH_SIZE,
        emptyText, lowercase: st?.doLowerCase ?? false,
      }, weights);
    } catch (e) {
      await checkpoint.close();
      await runtime.releaseAll();
      throw e;
    }
  }

  /** The prompt prefix this request puts in front of each text (before tokenisation). */
  promptFor(request?: EmbedRequest): string {
    return resolvePrompt(request, this.prompt);
  }

  private prepareText(text: string, prompt: string): string {
    if (typeof text !== 'string') throw new TypeError(`texts must be strings, got ${typeof text}`);
    const body = text === '' && this.settings.emptyText !== null ? this.settings.emptyText : text;
    const full = prompt + body;
    return this.settings.lowercase ? full.toLowerCase() : full;
  }

  countTokens(texts: readonly string[], request?: EmbedRequest): number[] {
    const prompt = this.promptFor(request);
    return texts.map((t) => {
      const text = this.prepareText(t, prompt);
      const ids = this.tokenizer.encodeText(text);
      this.counted.put(text, ids);
      return ids.length + this.tokenizer.numSpecialTokens;
    });
  }

  private encode(texts: readonly string[], request?: EmbedRequest): Encoded[] {
    const prompt = this.promptFor(request);
    const truncate = request?.truncate ?? true;
    let promptTokens = 0;
    // The prompt as it is tokenised inside the text (lowercased too when the model lowercases its input).
    if (!this.settings.includePrompt && prompt) {
      promptTokens = this.tokenizer.prefixIds.length + this.tokenizer.encodeText(this.settings.lowercase ? prompt.toLowerCase() : prompt).length;
    }
    return texts.map((t, i) => {
      const text = this.prepareText(t, prompt);
      const enc = this.tokenizer.encodeTruncated(text, this.maxLength, this.counted.take(text));
      if (enc.truncated && !truncate) {
        throw new RangeError(`text ${i} has ${enc.fullLength} tokens (prompt included), more than the max length ${this.maxLength}`);
      }
      return { ids: enc.ids, promptTokens: Math.min(promptTokens, enc.ids.length - 1) };
    });
  }

  async embed(texts: readonly string[], request?: EmbedRequest): Promise<Float32Array[]> {
    return this.run(this.encode(texts, request), request?.onProgress);
  }

  async embedTokenIds(ids: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const vocab = this.config.vocabSize;
    const enc = ids.map((row, i) => {
      if (row.length === 0) throw new RangeError(`token row ${i} is empty`);
      if (row.length > this.maxLength) throw new RangeError(`token row ${i} has ${row.length} tokens, more than the max length ${this.maxLength}`);
      for (const id of row) if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`token row ${i}: id ${id} is outside the vocabulary [0, ${vocab})`);
      return { ids: [...row], promptTokens: 0 };
    });
    return this.run(enc);
  }

  /** Length-sorted token-budget batches; results in input order. */
  private async run(items: Encoded[], onProgress?: (done: number, total: number) => void): Promise<Float32Array[]> {
    if (this.closed) throw new Error(`embedder ${this.id} is closed`);
    const out = new Array<Float32Array>(items.length);
    const order = items.map((_, i) => i).sort((a, b) => items[b]!.ids.length - items[a]!.ids.length || a - b);
    const { batchTokens, batchSize } = this.settings;
    const left = this.tokenizer.paddingSide === 'left';
    const pad = BigInt(this.tokenizer.padId);
    let done = 0;
    for (let start = 0; start < order.length;) {
      const longest = items[order[start]!]!.ids.length;
      // CPU kernels take any length: pad only to the batch's longest text. GPUs compile per shape: buckets.
      const len = this.device === 'cpu' ? longest : bucketLength(longest, { max: this.maxLength });
      // CPU attention holds heads × len² scores per row: keep them within ATTENTION_BYTES per batch too
      const attnRows = Math.floor(ATTENTION_BYTES / (this.config.numHeads * len * len * 4));
      const cap = Math.max(1, Math.min(batchSize, Math.floor(batchTokens / len), attnRows, order.length - start));
      // Close the batch early once it is big enough for efficient matrix products (≥ MIN_BATCH_TOKENS) and the
      // next text is much shorter than the padded length, so that padding stays a small share of the work.
      let rows = 1;
      while (rows < cap && (rows * len < MIN_BATCH_TOKENS || items[order[start + rows]!]!.ids.length >= len * MIN_FILL)) rows++;
      const batch = order.slice(start, start + rows);
      const ids = new BigInt64Array(rows * len).fill(pad);
      const mask = new BigInt64Array(rows * len);
      const poolMask = this.settings.includePrompt ? undefined : new BigInt64Array(rows * len);
      batch.forEach((idx, r) => {
        const e = items[idx]!;
        const off = r * len + (left ? len - e.ids.length : 0);
        for (let j = 0; j < e.ids.length; j++) {
          ids[off + j] = BigInt(e.ids[j]!);
          mask[off + j] = 1n;
          if (poolMask && j >= e.promptTokens) poolMask[off + j] = 1n;
        }
      });
      const feeds = {
        input_ids: hostTensor('i64', ids, [rows, len]),
        attention_mask: hostTensor('i64', mask, [rows, len]),
        ...(poolMask ? { pool_mask: hostTensor('i64', poolMask, [rows, len]) } : {}),
      };
      const res = await this.session.run(feeds, ['embedding']).catch((e: Error) => Promise.reject(this.explainRunError(e)));
      const emb = res.embedding!.data as Float32Array;
      batch.forEach((idx, r) => (out[idx] = emb.slice(r * this.dim, (r + 1) * this.dim)));
      start += rows;
      done += rows;
      onProgress?.(done, items.length);
    }
    return out;
  }

  /** ORT's message for a GPU without 16-bit shaders names a kernel, not the remedy: say what to do. */
  private explainRunError(e: Error): Error {
    if (this.device === 'webgpu' && /requires f16 but the device does not support it/.test(e.message)) {
      return new Error(
        `${this.id}: this GPU's WebGPU adapter has no 16-bit float support (shader-f16), which f16 weights and the int8/int4 embedding table need; ` +
          `load the model with dtype f32 (--dtype f32). ONNX Runtime said: ${e.message}`,
        { cause: e },
      );
    }
    return e;
  }

  /** Runs one padded batch and returns the hidden states too (needs `withHiddenStates`). */
  async runBatch(ids: BigInt64Array, mask: BigInt64Array, dims: [number, number]): Promise<{ embedding: Float32Array; lastHiddenState?: Float32Array }> {
    const res = await this.session.run({ input_ids: hostTensor('i64', ids, dims), attention_mask: hostTensor('i64', mask, dims) }).catch((e: Error) => Promise.reject(this.explainRunError(e)));
    return { embedding: res.embedding!.data as Float32Array, lastHiddenState: res.last_hidden_state?.data as Float32Array | undefined };
  }

  /**
   * Writes this model in Hugging Face layout (config, safetensors in the source's dtype or `dtype`, tokenizer
   * files, sentence-transformers metadata with the pooling, prompts and max length in use). An attention
   * override on a decoder is kept as `"is_causal"` in config.json, so loading the copy gives the same vectors.
   */
  async save(outDir: string, opts: { dtype?: 'F32' | 'F16' | 'BF16'; overwrite?: boolean; maxShardBytes?: number } = {}): Promise<void> {
    const st = this.sentenceTransformers;
    await saveCheckpoint(outDir, {
      config: configForSave(this.config),
      tensors: checkpointTensors(this.checkpoint, opts.dtype),
      tokenizerDir: this.checkpoint.dir,
      tokenizerFiles: this.tokenizer.files,
      // remote code (auto_map → e.g. modeling_qzhou.py) so transformers' trust_remote_code loading still works
      extraFiles: readdirSync(this.checkpoint.dir).filter((f) => f.endsWith('.py') || f === 'generation_config.json'),
      sentenceTransformers: {
        pooling: this.pooling, includePrompt: this.settings.includePrompt, dimension: this.config.hiddenSize,
        maxSeqLength: this.maxLength, doLowerCase: this.settings.lowercase, prompts: st?.prompts, defaultPromptName: st?.defaultPromptName,
        similarityFnName: st?.similarityFnName, denseDirs: (st?.dense ?? []).map((d) => join(this.dir, d.path)),
      },
      maxShardBytes: opts.maxShardBytes,
      overwrite: opts.overwrite,
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.runtime.releaseAll();
    await this.checkpoint.close();
  }
}

/**
 * Folder name + a hash of what changes the vectors: the files read (config, tokenizer, every weights file
 * or shard, Dense modules — each by path, inode, size and mtime, so a replaced file changes the id even
 * with the same size and mtime) and the options. Evaluation caches vectors under this id.
 */
function modelId(dir: string, files: readonly string[], opts: Record<string, unknown>): string {
  const h = createHash('sha256');
  const real = realpathSync(dir);
  h.update(real);
  for (const f of files) {
    try {
      const s = statSync(f);
      h.update(`${f}:${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}\n`);
    } catch {
      /* absent */
    }
  }
  h.update(JSON.stringify(opts));
  return `${basename(real)}@${h.digest('hex').slice(0, 12)}`;
}
