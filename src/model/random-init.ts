// Random initialisation of a model from its config.json, the way transformers' `_init_weights` does it
// for BERT and Qwen2/Qwen3: linear weights and embeddings ~ N(0, initializer_range²), biases 0, norm
// weights 1 (LayerNorm bias 0), and the embedding row of `pad_token_id` zeroed (nn.Embedding's
// padding_idx). Every tensor draws from its own seeded stream (seed, tensor name), so a tensor's values do
// not depend on which other tensors exist. Used to train a model from scratch; `writeRandomCheckpoint`
// writes the result as a normal Hugging Face checkpoint folder.
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { ModelConfig } from './config.js';
import { parseModelConfig } from './config.js';
import { decoderWeightRequests } from './qwen2.js';
import { encoderWeightRequests } from './bert.js';
import { floatTensor } from './safetensors.js';
import { saveCheckpoint } from './save.js';
import { TOKENIZER_FILES } from './tokenizer.js';
import type { WeightRequest } from './weights.js';
import type { PoolingMode } from './sentence-transformers.js';
import { Rng, mix32 } from '../util/random.js';

/** The tensors a model needs (canonical names, no `model.`/`bert.` prefix) with their shapes. */
export function modelWeightRequests(config: ModelConfig): WeightRequest[] {
  return config.family === 'decoder' ? decoderWeightRequests(config) : encoderWeightRequests(config);
}

/** The token-embedding tensor of a model (the one indexed by input ids). */
export function tokenEmbeddingName(config: ModelConfig): string {
  return config.family === 'decoder' ? 'embed_tokens.weight' : 'embeddings.word_embeddings.weight';
}

export interface RandomInitOptions {
  /** Seed of the draw (default 0). */
  seed?: number;
  /** Standard deviation (default: config.json `initializer_range`, else 0.02 as transformers). */
  initializerRange?: number;
}

type InitRule = 'normal' | 'zeros' | 'ones';

/** How transformers initialises a tensor, from its canonical name. */
export function initRule(name: string): InitRule {
  const isNorm = /(^|\.)(LayerNorm|[a-z_]*layernorm|[a-z_]*norm)\.(weight|bias|gamma|beta)$/i.test(name);
  if (isNorm) return /\.(bias|beta)$/.test(name) ? 'zeros' : 'ones';
  if (/\.bias$/.test(name)) return 'zeros';
  return 'normal';
}

/** f32 weights of a randomly initialised model, by canonical name. */
export function randomWeights(config: ModelConfig, opts: RandomInitOptions = {}): Map<string, Float32Array> {
  const seed = opts.seed ?? 0;
  const rawRange = config.raw.initializer_range;
  const std = opts.initializerRange ?? (typeof rawRange === 'number' && rawRange > 0 ? rawRange : 0.02);
  if (!(std > 0) || !Number.isFinite(std)) throw new Error(`random init: initializer range must be a positive number, got ${std}`);
  const out = new Map<string, Float32Array>();
  const embName = tokenEmbeddingName(config);
  const pad = config.family === 'encoder' ? (config.padTokenId ?? 0) : config.padTokenId;
  for (const r of modelWeightRequests(config)) {
    const n = r.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const rule = initRule(r.name);
    if (rule === 'ones') v.fill(1);
    else if (rule === 'normal') {
      new NormalStream(seed, r.name).fill(v, std);
      if (r.name === embName && pad !== undefined && pad >= 0 && pad < r.shape[0]!) v.fill(0, pad * r.shape[1]!, (pad + 1) * r.shape[1]!);
    }
    out.set(r.name, v);
  }
  return out;
}

export interface WriteRandomCheckpointOptions extends RandomInitOptions {
  /** config.json content (model_type, sizes...). `vocab_size` defaults to the tokenizer's size. */
  config: Record<string, unknown>;
  /** Folder with tokenizer.json (+ tokenizer_config.json), copied into the checkpoint. */
  tokenizerDir: string;
  /** Pooling written to the sentence-transformers metadata (default mean). */
  pooling?: PoolingMode;
  /** max_seq_length for sentence-transformers (default 512). */
  maxSeqLength?: number;
  overwrite?: boolean;
}

/** Completes a config.json for a from-scratch model: vocab size from the tokenizer, f32 dtype. */
export async function completeRandomConfig(config: Record<string, unknown>, tokenizerDir: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { ...config };
  if (out.vocab_size === undefined) {
    const tj = JSON.parse(await readFile(join(tokenizerDir, 'tokenizer.json'), 'utf8')) as { model?: { vocab?: unknown }; added_tokens?: { id: number }[] };
    const vocab = tj.model?.vocab;
    let size = Array.isArray(vocab) ? vocab.length : vocab && typeof vocab === 'object' ? Object.keys(vocab).length : 0;
    for (const t of tj.added_tokens ?? []) size = Math.max(size, t.id + 1);
    out.vocab_size = size;
  }
  out.torch_dtype ??= 'float32';
  return out;
}

/** Writes a randomly initialised model as a Hugging Face checkpoint folder (atomically). */
export async function writeRandomCheckpoint(dir: string, opts: WriteRandomCheckpointOptions): Promise<ModelConfig> {
  const raw = await completeRandomConfig(opts.config, opts.tokenizerDir);
  const config = parseModelConfig(raw, join(dir, 'config.json'));
  const weights = randomWeights(config, opts);
  const { readdir } = await import('node:fs/promises');
  const present = new Set(await readdir(opts.tokenizerDir));
  await saveCheckpoint(dir, {
    config: raw,
    tensors: modelWeightRequests(config).map((r) => floatTensor(r.name, r.shape, weights.get(r.name)!)),
    tokenizerDir: opts.tokenizerDir,
    tokenizerFiles: TOKENIZER_FILES.filter((f) => present.has(f)),
    sentenceTransformers: { pooling: opts.pooling ?? 'mean', includePrompt: true, dimension: config.hiddenSize, maxSeqLength: opts.maxSeqLength ?? 512 },
    overwrite: opts.overwrite,
  });
  return config;
}

/**
 * Seeded standard normals for one tensor: xoshiro128** (src/util/random.ts) seeded from (seed, name),
 * uniforms in (0, 1), Box–Muller with both values used. Deterministic across platforms (integer ops and
 * Math.log/cos/sin of doubles, rounded to f32).
 */
class NormalStream {
  private readonly rng: Rng;

  constructor(seed: number, name: string) {
    let h = mix32(seed >>> 0);
    for (let i = 0; i < name.length; i++) h = mix32((h ^ name.charCodeAt(i)) >>> 0);
    this.rng = new Rng(h);
  }

  /** Uniform in (0, 1): 53 bits, offset by half a step so that log() never sees 0. */
  private uniform(): number {
    return ((this.rng.nextUint32() >>> 5) * 67108864 + (this.rng.nextUint32() >>> 6) + 0.5) / 9007199254740992;
  }

  fill(out: Float32Array, std: number): void {
    for (let i = 0; i < out.length; i += 2) {
      const r = std * Math.sqrt(-2 * Math.log(this.uniform()));
      const a = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(a);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(a);
    }
  }
}
