// Where a training run's model comes from: a Hugging Face checkpoint folder (model.path) or a random
// initialisation from a model config and a tokenizer folder (model.init), and how each stage's starting
// weights are held: f32 master arrays for full fine-tuning, or a frozen base (in memory, or the
// checkpoint's own safetensors byte ranges, optionally quantised) for LoRA.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ModelConfig, loadModelConfig, parseModelConfig } from '../model/config.js';
import { completeRandomConfig, modelWeightRequests, randomWeights } from '../model/random-init.js';
import { SafetensorsCheckpoint } from '../model/safetensors.js';
import { type SentenceTransformersConfig, type PoolingMode, loadSentenceTransformersConfig } from '../model/sentence-transformers.js';
import { HfTokenizer } from '../model/tokenizer.js';
import { type PreparedWeights, type WeightRequest, prepareWeights, readFloatWeights } from '../model/weights.js';
import type { ModelSpec } from './config.js';
import { readdirSync } from 'node:fs';
import { memoryWeights } from './graph-encoder.js';

export interface ModelSource {
  config: ModelConfig;
  tokenizer: HfTokenizer;
  /** Folder holding the tokenizer files (copied into every saved checkpoint). */
  tokenizerDir: string;
  /** The checkpoint folder the run starts from (model.path); undefined for random initialisation. */
  checkpointDir: string | undefined;
  sentenceTransformers: SentenceTransformersConfig | undefined;
  pooling: PoolingMode;
  extraFiles: string[];
  requests: WeightRequest[];
  /** Name prefixes the starting checkpoint's tensors may carry. */
  prefixes: string[];
}

/** Reads the model's config, tokenizer and metadata (no weights yet). */
export async function openModelSource(spec: ModelSpec): Promise<ModelSource> {
  const opts = { attention: spec.attention };
  if (spec.path) {
    const st = await loadSentenceTransformersConfig(spec.path);
    checkTrainable(spec.path, st);
    const dir = st?.transformerPath ? join(spec.path, st.transformerPath) : spec.path;
    const config = await loadModelConfig(dir, opts);
    const tokenizer = await HfTokenizer.load(dir, { modelType: config.modelType });
    const pooling = spec.pooling ? poolingOf(spec.pooling) : (st?.pooling ?? 'mean');
    return {
      config, tokenizer, tokenizerDir: dir, checkpointDir: dir, sentenceTransformers: st, pooling, extraFiles: modelExtraFiles(dir),
      requests: modelWeightRequests(config), prefixes: config.family === 'decoder' ? ['', 'model.'] : ['', 'bert.', 'model.'],
    };
  }
  const init = spec.init;
  if (!init) throw new Error('model: give "path" or "init"');
  const where = typeof init.config === 'string' ? init.config : 'model.init.config';
  let raw: Record<string, unknown>;
  if (typeof init.config === 'string') {
    try {
      raw = JSON.parse(await readFile(init.config, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${init.config}: cannot read the model config (${(e as Error).message})`);
    }
  } else raw = init.config;
  raw = await completeRandomConfig(raw, init.tokenizer);
  const config = parseModelConfig(raw, where, opts);
  const tokenizer = await HfTokenizer.load(init.tokenizer, { modelType: config.modelType });
  return {
    config, tokenizer, tokenizerDir: init.tokenizer, checkpointDir: undefined, sentenceTransformers: undefined,
    pooling: spec.pooling ? poolingOf(spec.pooling) : 'mean', extraFiles: [], requests: modelWeightRequests(config), prefixes: [''],
  };
}

/**
 * sentence-transformers pipelines the training graph (Transformer → pooling → L2 norm) does not reproduce
 * are refused, rather than trained and saved as a different model.
 */
function checkTrainable(dir: string, st: SentenceTransformersConfig | undefined): void {
  if (!st) return;
  const modules = join(dir, 'modules.json');
  if (st.dense.length) {
    throw new Error(`${modules}: Dense modules after pooling (${st.dense.map((d) => d.path).join(', ')}) are not part of qzhou's training graph; training would drop them and change the embeddings`);
  }
  if (!st.includePrompt) {
    throw new Error(`${modules}: the Pooling module has include_prompt: false, which qzhou train does not support (training pools every token of a text, its instruction included)`);
  }
}

function poolingOf(p: 'mean' | 'cls' | 'last'): PoolingMode {
  return p === 'last' ? 'lasttoken' : p;
}

/** f32 starting weights of the run (the checkpoint's, or the random initialisation's). */
export async function initialWeights(src: ModelSource, spec: ModelSpec): Promise<Map<string, Float32Array>> {
  if (src.checkpointDir) return readCheckpointWeights(src.checkpointDir, src.requests, src.prefixes);
  return randomWeights(src.config, { seed: spec.init!.seed });
}

/** f32 weights from a checkpoint folder (a training checkpoint, a stage's final weights). */
export async function readCheckpointWeights(dir: string, requests: readonly WeightRequest[], prefixes: readonly string[] = ['']): Promise<Map<string, Float32Array>> {
  const ck = await SafetensorsCheckpoint.open(dir);
  try {
    return await readFloatWeights(ck, requests, prefixes);
  } finally {
    await ck.close();
  }
}

/** A frozen LoRA base: graph parameters plus a reader of its f32 values for merging. */
export interface FrozenBase {
  weights: PreparedWeights;
  read: (name: string) => Promise<Float32Array>;
  close: () => Promise<void>;
}

/** A frozen base over weights already in memory. */
export function memoryBase(requests: readonly WeightRequest[], values: Map<string, Float32Array>): FrozenBase {
  return { weights: memoryWeights(requests, values), read: async (n) => values.get(n)!, close: async () => undefined };
}

/**
 * A frozen base that stays in the checkpoint's files: byte ranges when the dtype allows (f32 weights
 * run in f32), otherwise converted once into the weights cache (bf16/f16 checkpoints, int8/int4 for QLoRA).
 */
export async function checkpointBase(dir: string, requests: readonly WeightRequest[], prefixes: readonly string[], dtype: 'f32' | 'int8' | 'int4', cacheDir: string): Promise<FrozenBase> {
  const ck = await SafetensorsCheckpoint.open(dir);
  try {
    const weights = await prepareWeights(ck, requests, { dtype, cacheDir, prefixes });
    const byName = new Map(requests.map((r) => [r.name, r]));
    return {
      weights,
      read: async (n) => (await readFloatWeights(ck, [byName.get(n)!], prefixes)).get(n)!,
      close: () => ck.close(),
    };
  } catch (e) {
    await ck.close();
    throw e;
  }
}

/** Files next to a checkpoint's config.json that a saved copy should carry (remote code, generation config). */
export function modelExtraFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.py') || f === 'generation_config.json');
}
