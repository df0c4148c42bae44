// The benchmark model of the training benches: a BERT-style encoder of 4 layers, hidden 256, 4 heads,
// FFN 1024, vocabulary 30522 (random weights, transformers' init), with a word-level tokenizer over
// "w4" … "w30521" so that a text of n words is exactly n + 2 tokens ([CLS] … [SEP]).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig, type ModelConfig } from '../src/model/config.js';
import { randomWeights } from '../src/model/random-init.js';
import { HfTokenizer } from '../src/model/tokenizer.js';

export const BENCH_SHAPE = { layers: 4, hidden: 256, heads: 4, ffn: 1024, vocab: 30522 };

export interface BenchModel {
  config: ModelConfig;
  tokenizer: HfTokenizer;
  tokenizerDir: string;
  weights: Map<string, Float32Array>;
}

export async function benchModel(dir: string): Promise<BenchModel> {
  const V = BENCH_SHAPE.vocab;
  const vocab: Record<string, number> = { '[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3 };
  for (let i = 4; i < V; i++) vocab[`w${i}`] = i;
  const sp = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizerDir = join(dir, 'tokenizer');
  mkdirSync(tokenizerDir, { recursive: true });
  writeFileSync(join(tokenizerDir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: [sp(0, '[PAD]'), sp(1, '[UNK]'), sp(2, '[CLS]'), sp(3, '[SEP]')],
    normalizer: null, pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: { type: 'BertProcessing', cls: ['[CLS]', 2], sep: ['[SEP]', 3] }, decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '[UNK]' },
  }));
  writeFileSync(join(tokenizerDir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '[PAD]', padding_side: 'right' }));
  const s = BENCH_SHAPE;
  const config = parseModelConfig({
    model_type: 'bert', hidden_size: s.hidden, intermediate_size: s.ffn, num_attention_heads: s.heads, num_hidden_layers: s.layers,
    vocab_size: V, max_position_embeddings: 512, hidden_act: 'gelu', pad_token_id: 0,
  }, join(dir, 'config.json'));
  return { config, tokenizer: await HfTokenizer.load(tokenizerDir, { modelType: 'bert' }), tokenizerDir, weights: randomWeights(config, { seed: 1 }) };
}

/** Seeded random texts of `words` words (→ words + 2 tokens). */
export function textMaker(seed: number): (words: number) => string {
  let s = seed >>> 0 || 1;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return (words) => Array.from({ length: words }, () => `w${4 + Math.floor(next() * (BENCH_SHAPE.vocab - 4))}`).join(' ');
}
