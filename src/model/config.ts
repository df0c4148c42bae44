// config.json of a Hugging Face checkpoint → a typed configuration with every field the graphs need.
// Supports qwen2 (QZhou-Embedding, gte-Qwen2), qwen3 (Qwen3-Embedding: q/k RMSNorm, explicit head_dim) and
// bert (bge, e5, MiniLM, ...). Errors name the file and the field.
import { tryStat } from '../util/paths.js';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CheckpointError } from './errors.js';

export type AttentionMode = 'bidirectional' | 'causal';
export type DecoderType = 'qwen2' | 'qwen3';
export type EncoderType = 'bert';
export type ModelType = DecoderType | EncoderType;

export const SUPPORTED_MODEL_TYPES: readonly ModelType[] = ['qwen2', 'qwen3', 'bert'];

interface CommonConfig {
  /** The config.json this came from. */
  file: string;
  /** The parsed JSON as read, kept so that saving writes back every field. */
  raw: Record<string, unknown>;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  padTokenId: number | undefined;
  attention: AttentionMode;
  /** Why that attention mode was chosen (shown by `qzhou embed --verbose` and in errors). */
  attentionReason: string;
}

/** RoPE variants that change the rotation frequencies. */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number };

export interface DecoderConfig extends CommonConfig {
  family: 'decoder';
  modelType: DecoderType;
  numKvHeads: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  /** Biases on q/k/v projections (always in Qwen2; `attention_bias` in Qwen3). */
  qkvBias: boolean;
  /** Bias on the output projection (Qwen3 `attention_bias`; never in Qwen2). */
  oBias: boolean;
  /** Per-head RMSNorm on q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  tieWordEmbeddings: boolean;
  /** Sequences longer than this would need sliding-window attention, which is not built: the max length is capped. */
  slidingWindow: number | undefined;
}

export type HiddenAct = 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'relu' | 'silu';

export interface EncoderConfig extends CommonConfig {
  family: 'encoder';
  modelType: EncoderType;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenAct: HiddenAct;
}

export type ModelConfig = DecoderConfig | EncoderConfig;

export interface ConfigOptions {
  /** Overrides the attention mode derived from the config (decoders only). */
  attention?: AttentionMode;
}

class Fields {
  constructor(readonly raw: Record<string, unknown>, readonly file: string) {}

  err(field: string, msg: string): CheckpointError {
    return new CheckpointError(this.file, field, msg);
  }

  int(field: string, opts: { min?: number; fallback?: number } = {}): number {
    const v = this.raw[field];
    if (v === undefined || v === null) {
      if (opts.fallback !== undefined) return opts.fallback;
      throw this.err(field, 'missing');
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw this.err(field, `must be an integer, got ${JSON.stringify(v)}`);
    if (v < (opts.min ?? 1)) throw this.err(field, `must be ≥ ${opts.min ?? 1}, got ${v}`);
    return v;
  }

  optInt(field: string): number | undefined {
    const v = this.raw[field];
    if (v === undefined || v === null) return undefined;
    return this.int(field, { min: 0 });
  }

  num(field: string, fallback?: number): number {
    const v = this.raw[field];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw this.err(field, 'missing');
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw this.err(field, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.raw[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw this.err(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }
}

/** Names of architectures/auto_map classes that mark QZhou's bidirectional Qwen2 (`QZhouModel`). */
function namesQZhou(raw: Record<string, unknown>): string | undefined {
  const names: string[] = [];
  if (Array.isArray(raw.architectures)) names.push(...raw.architectures.filter((a): a is string => typeof a === 'string'));
  if (raw.auto_map && typeof raw.auto_map === 'object') {
    for (const v of Object.values(raw.auto_map as Record<string, unknown>)) {
      if (typeof v === 'string') names.push(v);
      else if (Array.isArray(v)) names.push(...v.filter((a): a is string => typeof a === 'string'));
    }
  }
  return names.find((n) => /qzhou/i.test(n));
}

/**
 * The attention rule for decoders: bidirectional when `architectures` or `auto_map` names QZhou, or when
 * `is_causal` is false (gte-Qwen2 style); otherwise causal (plain Qwen2/Qwen3, Qwen3-Embedding). An explicit
 * option overrides both. (QZhou's released config.json could not be inspected, so a QZhou name wins over
 * whatever `is_causal` it may carry.)
 */
export function decoderAttention(raw: Record<string, unknown>, override?: AttentionMode): { attention: AttentionMode; reason: string } {
  if (override) return { attention: override, reason: 'set explicitly' };
  const qz = namesQZhou(raw);
  if (qz) return { attention: 'bidirectional', reason: `config names ${qz}` };
  if (raw.is_causal === false) return { attention: 'bidirectional', reason: 'config has "is_causal": false' };
  return { attention: 'causal', reason: 'decoder default (no QZhou architecture, no "is_causal": false)' };
}

/**
 * config.json for saving a model as it runs, so that loading the copy gives the same attention (and the
 * same vectors): a decoder's attention override is written as `"is_causal"`; a causal override of a config
 * that names QZhou also drops the QZhou names (architectures → Qwen2Model, QZhou auto_map entries removed),
 * since the rule reads a QZhou name as bidirectional.
 */
export function configForSave(config: ModelConfig): Record<string, unknown> {
  const raw: Record<string, unknown> = { ...config.raw };
  if (config.family !== 'decoder' || decoderAttention(raw).attention === config.attention) return raw;
  raw.is_causal = config.attention === 'causal';
  if (config.attention === 'causal' && namesQZhou(raw)) {
    const qz = (n: unknown) => typeof n === 'string' && /qzhou/i.test(n);
    if (Array.isArray(raw.architectures)) {
      const kept = raw.architectures.filter((a) => !qz(a));
      raw.architectures = kept.length ? kept : [raw.model_type === 'qwen3' ? 'Qwen3Model' : 'Qwen2Model'];
    }
    if (raw.auto_map && typeof raw.auto_map === 'object') {
      const map = Object.fromEntries(
        Object.entries(raw.auto_map as Record<string, unknown>).filter(([, v]) => !(qz(v) || (Array.isArray(v) && v.some(qz)))),
      );
      if (Object.keys(map).length) raw.auto_map = map;
      else delete raw.auto_map;
    }
  }
  return raw;
}

function parseRope(f: Fields): { theta: number; scaling: RopeScaling } {
  const params = f.raw.rope_parameters;
  let theta: number;
  let scalingRaw: Record<string, unknown> | undefined;
  let scalingField: string;
  if (params !== undefined && params !== null) {
    if (typeof params !== 'object' || Array.isArray(params)) throw f.err('rope_parameters', 'must be an object');
    const p = params as Record<string, unknown>;
    const t = p.rope_theta ?? f.raw.rope_theta;
    if (typeof t !== 'number' || !(t > 0)) throw f.err('rope_parameters.rope_theta', `missing or not a positive number (got ${JSON.stringify(t)})`);
    theta = t;
    scalingRaw = p;
    scalingField = 'rope_parameters';
  } else {
    theta = f.num('rope_theta', 10000);
    const s = f.raw.rope_scaling;
    if (s !== undefined && s !== null && (typeof s !== 'object' || Array.isArray(s))) throw f.err('rope_scaling', 'must be an object or null');
    scalingRaw = (s ?? undefined) as Record<string, unknown> | undefined;
    scalingField = 'rope_scaling';
  }
  const type = scalingRaw ? (scalingRaw.rope_type ?? scalingRaw.type ?? 'default') : 'default';
  const factor = (field: string): number => {
    const v = scalingRaw?.[field];
    if (typeof v !== 'number' || !(v > 0)) throw f.err(`${scalingField}.${field}`, `must be a positive number for rope type ${String(type)}, got ${JSON.stringify(v)}`);
    return v;
  };
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: factor('factor') } };
    default:
      throw f.err(`${scalingField}.rope_type`, `RoPE type ${JSON.stringify(type)} is not supported (supported: default, linear)`);
  }
}

function parseDecoder(f: Fields, modelType: DecoderType, opts: ConfigOptions): DecoderConfig {
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const numKvHeads = f.int('num_key_value_heads', { fallback: numHeads });
  if (numHeads % numKvHeads !== 0) throw f.err('num_key_value_heads', `${numKvHeads} does not divide num_attention_heads ${numHeads}`);
  const explicitHeadDim = f.optInt('head_dim');
  if (explicitHeadDim === undefined && hiddenSize % numHeads !== 0) throw f.err('num_attention_heads', `${numHeads} does not divide hidden_size ${hiddenSize}`);
  const headDim = explicitHeadDim ?? hiddenSize / numHeads;
  if (headDim % 2 !== 0) throw f.err('head_dim', `must be even for RoPE, got ${headDim}`);
  const act = f.raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw f.err('hidden_act', `${JSON.stringify(act)} is not supported for ${modelType} (only "silu")`);
  const rope = parseRope(f);
  const { attention, reason } = decoderAttention(f.raw, opts.attention);
  const attnBias = modelType === 'qwen3' ? f.bool('attention_bias', false) : true;
  const sliding = f.bool('use_sliding_window', false) ? f.optInt('sliding_window') : undefined;
  return {
    family: 'decoder', modelType, file: f.file, raw: f.raw,
    hiddenSize, numLayers: f.int('num_hidden_layers'), numHeads, numKvHeads, headDim,
    intermediateSize: f.int('intermediate_size'), vocabSize: f.int('vocab_size'),
    maxPositionEmbeddings: f.int('max_position_embeddings', { fallback: 32768 }),
    padTokenId: f.optInt('pad_token_id'),
    rmsNormEps: f.num('rms_norm_eps', 1e-6), ropeTheta: rope.theta, ropeScaling: rope.scaling,
    qkvBias: attnBias, oBias: modelType === 'qwen3' && attnBias, qkNorm: modelType === 'qwen3',
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    slidingWindow: sliding || undefined,
    attention, attentionReason: reason,
  };
}

const HIDDEN_ACTS: readonly HiddenAct[] = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu', 'silu'];

function parseEncoder(f: Fields, opts: ConfigOptions): EncoderConfig {
  if (opts.attention === 'causal') throw f.err('model_type', 'bert is an encoder: a causal attention override does not apply');
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  if (hiddenSize % numHeads !== 0) throw f.err('num_attention_heads', `${numHeads} does not divide hidden_size ${hiddenSize}`);
  const pet = f.raw.position_embedding_type ?? 'absolute';
  if (pet !== 'absolute') throw f.err('position_embedding_type', `${JSON.stringify(pet)} is not supported (only "absolute")`);
  const act = f.raw.hidden_act ?? 'gelu';
  if (typeof act !== 'string' || !HIDDEN_ACTS.includes(act as HiddenAct)) {
    throw f.err('hidden_act', `${JSON.stringify(act)} is not supported (supported: ${HIDDEN_ACTS.join(', ')})`);
  }
  if (f.raw.is_decoder === true) throw f.err('is_decoder', 'BERT used as a decoder is not supported');
  return {
    family: 'encoder', modelType: 'bert', file: f.file, raw: f.raw,
    hiddenSize, numLayers: f.int('num_hidden_layers'), numHeads, headDim: hiddenSize / numHeads,
    intermediateSize: f.int('intermediate_size'), vocabSize: f.int('vocab_size'),
    maxPositionEmbeddings: f.int('max_position_embeddings', { fallback: 512 }),
    typeVocabSize: f.int('type_vocab_size', { fallback: 2 }),
    layerNormEps: f.num('layer_norm_eps', 1e-12), hiddenAct: act as HiddenAct,
    padTokenId: f.optInt('pad_token_id'),
    attention: 'bidirectional', attentionReason: 'encoder',
  };
}

/** Parses an already-read config.json object. */
export function parseModelConfig(raw: unknown, file: string, opts: ConfigOptions = {}): ModelConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new CheckpointError(file, undefined, 'is not a JSON object');
  const f = new Fields(raw as Record<string, unknown>, file);
  const mt = f.raw.model_type;
  if (typeof mt !== 'string') throw f.err('model_type', 'missing');
  switch (mt) {
    case 'qwen2':
    case 'qwen3':
      return parseDecoder(f, mt, opts);
    case 'bert':
      return parseEncoder(f, opts);
    default:
      throw f.err('model_type', `${JSON.stringify(mt)} is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  }
}

/** Reads a JSON file with errors that name it. `undefined` when it does not exist and `optional`. */
export async function readJson(path: string, optional: true): Promise<unknown | undefined>;
export async function readJson(path: string, optional?: false): Promise<unknown>;
export async function readJson(path: string, optional = false): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && optional) return undefined;
    if (code === 'ENOTDIR') {
      // A checkpoint "folder" that is a file (e.g. --model pointing at model.safetensors): name that file.
      let dir = dirname(path);
      while (!tryStat(dir) && dirname(dir) !== dir) dir = dirname(dir);
      throw new CheckpointError(dir, undefined, 'is a file, not a checkpoint folder (config.json, tokenizer.json, model.safetensors)');
    }
    throw new CheckpointError(path, undefined, code === 'ENOENT' ? 'missing' : `cannot read (${code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(path, undefined, `is not valid JSON (${(e as Error).message})`);
  }
}

/** Reads and parses `<dir>/config.json`. */
export async function loadModelConfig(dir: string, opts: ConfigOptions = {}): Promise<ModelConfig> {
  const file = join(dir, 'config.json');
  return parseModelConfig(await readJson(file), file, opts);
}
