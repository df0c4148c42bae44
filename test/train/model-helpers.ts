// Tiny from-scratch models for the trainer tests: a tokenizer trained on a small corpus, a random
// Qwen2 (bidirectional) or BERT config, and helpers to build GraphEncoders and checkpoints in tmpdir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseModelConfig, type ModelConfig } from '../../src/model/config.js';
import { completeRandomConfig, randomWeights } from '../../src/model/random-init.js';
import { HfTokenizer } from '../../src/model/tokenizer.js';
import { saveTrainedTokenizer, trainTokenizer } from '../../src/model/tokenizer-trainer.js';
import { GraphEncoder, type GraphEncoderOptions } from '../../src/train/graph-encoder.js';

export const CORPUS = [
  'How do I reset my card PIN?', 'Where is my refund?', 'my card was declined at the shop', 'I lost my card abroad',
  'what is the exchange rate today', 'top up failed twice', 'Why was I charged a fee?', 'can I get a virtual card',
  'The transfer has not arrived yet', 'please cancel my transaction', 'how long does delivery take', 'my PIN is blocked',
];

/** qwen2: bidirectional (QZhou's); qwen3: causal with q/k norms and an explicit head_dim; bert. */
export type Arch = 'qwen2' | 'qwen3' | 'bert';

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `qzhou-train-${tag}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function tinyConfig(arch: Arch, extra: Record<string, unknown> = {}): Record<string, unknown> {
  if (arch === 'qwen3') return { model_type: 'qwen3', hidden_size: 32, head_dim: 12, intermediate_size: 48, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, ...extra };
  return arch === 'qwen2'
    ? { model_type: 'qwen2', architectures: ['Qwen2Model'], is_causal: false, hidden_size: 32, intermediate_size: 48, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, ...extra }
    : { model_type: 'bert', architectures: ['BertModel'], hidden_size: 24, intermediate_size: 40, num_attention_heads: 3, num_hidden_layers: 2, max_position_embeddings: 128, type_vocab_size: 2, hidden_act: 'gelu', layer_norm_eps: 1e-12, pad_token_id: 0, ...extra };
}

export interface TinyModel {
  dir: string;
  tokenizerDir: string;
  raw: Record<string, unknown>;
  config: ModelConfig;
  tokenizer: HfTokenizer;
  weights: Map<string, Float32Array>;
}

/** A tokenizer trained on CORPUS and a random model over it (weights from `seed`). */
export async function tinyModel(arch: Arch, seed = 1, extra: Record<string, unknown> = {}): Promise<TinyModel> {
  const dir = tempDir(arch);
  const tokenizerDir = join(dir, 'tokenizer');
  await saveTrainedTokenizer(tokenizerDir, await trainTokenizer(CORPUS, { kind: arch === 'bert' ? 'wordpiece' : 'bpe', vocabSize: 400, minFrequency: 1 }));
  const raw = await completeRandomConfig(tinyConfig(arch, extra), tokenizerDir);
  const config = parseModelConfig(raw, join(dir, 'config.json'));
  const tokenizer = await HfTokenizer.load(tokenizerDir, { modelType: arch });
  return { dir, tokenizerDir, raw, config, tokenizer, weights: randomWeights(config, { seed }) };
}

/** A full fine-tuning GraphEncoder over a copy of the model's weights. */
export function fullEncoder(m: TinyModel, opts: Partial<GraphEncoderOptions> = {}): GraphEncoder {
  const weights = new Map([...m.weights].map(([k, v]) => [k, Float32Array.from(v)]));
  return new GraphEncoder({
    config: m.config, tokenizer: m.tokenizer, tokenizerDir: m.tokenizerDir, mode: { kind: 'full', weights },
    maxLength: { query: 48, passage: 64 }, cacheDir: join(m.dir, 'cache'), threads: 1, ...opts,
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
