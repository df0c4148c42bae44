// Writes the peers' copy of a Qwen2 checkpoint as GGUF (v3) for llama.cpp / node-llama-cpp: the same weights
// in F32, the Qwen BPE vocabulary and merges, `qwen2.attention.causal = false` and `qwen2.pooling_type = 1`
// (mean), so llama.cpp computes the same bidirectional mean-pooled embedding as QZhou.
// Format: ggml docs/gguf.md — header, key/values, tensor infos (dims innermost first), aligned data.
//   npx tsx bench/model-gguf.ts CHECKPOINT OUT.gguf
import { existsSync, openSync, writeSync, closeSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelConfig, type DecoderConfig } from '../src/model/config.js';
import { SafetensorsCheckpoint } from '../src/model/safetensors.js';

const T = { U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10 } as const;
const ALIGN = 32;

class Buf {
  parts: Buffer[] = [];
  size = 0;
  push(b: Buffer) {
    this.parts.push(b);
    this.size += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
}

type KV = [string, 'u32' | 'i32' | 'f32' | 'bool' | 'str' | 'strs' | 'i32s', unknown];

function writeKv(b: Buf, [key, type, value]: KV) {
  b.str(key);
  switch (type) {
    case 'u32': b.u32(T.U32); b.u32(value as number); break;
    case 'i32': b.u32(T.I32); b.i32(value as number); break;
    case 'f32': b.u32(T.F32); b.f32(value as number); break;
    case 'bool': b.u32(T.BOOL); b.push(Buffer.from([value ? 1 : 0])); break;
    case 'str': b.u32(T.STRING); b.str(value as string); break;
    case 'strs': {
      const a = value as string[];
      b.u32(T.ARRAY); b.u32(T.STRING); b.u64(a.length);
      for (const s of a) b.str(s);
      break;
    }
    case 'i32s': {
      const a = value as number[];
      b.u32(T.ARRAY); b.u32(T.I32); b.u64(a.length);
      const raw = Buffer.alloc(a.length * 4);
      a.forEach((v, i) => raw.writeInt32LE(v, i * 4));
      b.push(raw);
      break;
    }
  }
}

/** Tensor name mapping HF Qwen2 → llama.cpp. */
function ggufName(name: string): string {
  if (name === 'embed_tokens.weight') return 'token_embd.weight';
  if (name === 'norm.weight') return 'output_norm.weight';
  const m = /^layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) throw new Error(`unexpected tensor ${name}`);
  const map: Record<string, string> = {
    'input_layernorm.weight': 'attn_norm.weight', 'post_attention_layernorm.weight': 'ffn_norm.weight',
    'self_attn.q_proj.weight': 'attn_q.weight', 'self_attn.q_proj.bias': 'attn_q.bias',
    'self_attn.k_proj.weight': 'attn_k.weight', 'self_attn.k_proj.bias': 'attn_k.bias',
    'self_attn.v_proj.weight': 'attn_v.weight', 'self_attn.v_proj.bias': 'attn_v.bias',
    'self_attn.o_proj.weight': 'attn_output.weight', 'mlp.gate_proj.weight': 'ffn_gate.weight',
    'mlp.up_proj.weight': 'ffn_up.weight', 'mlp.down_proj.weight': 'ffn_down.weight',
  };
  const t = map[m[2]!];
  if (!t) throw new Error(`unexpected tensor ${name}`);
  return `blk.${m[1]}.${t}`;
}

export async function writeGguf(src: string, out: string): Promise<void> {
  if (existsSync(out)) return;
  const c = (await loadModelConfig(src)) as DecoderConfig;
  const tok = JSON.parse(readFileSync(join(src, 'tokenizer.json'), 'utf8'));
  // vocabulary padded to the model's vocab_size, as convert_hf_to_gguf.py does
  const tokens: string[] = Array.from({ length: c.vocabSize }, (_, i) => `[PAD${i}]`);
  const types: number[] = Array(c.vocabSize).fill(3); // 1 normal, 3 control (padding entries are unused)
  for (const [t, id] of Object.entries(tok.model.vocab as Record<string, number>)) {
    tokens[id] = t;
    types[id] = 1;
  }
  for (const a of tok.added_tokens as { id: number; content: string; special: boolean }[]) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  const merges = (tok.model.merges as ([string, string] | string)[]).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const eos = tok.model.vocab['<|endoftext|>'] ?? (tok.added_tokens as { id: number; content: string }[]).find((a) => a.content === '<|endoftext|>')!.id;
  const kvs: KV[] = [
    ['general.architecture', 'str', 'qwen2'],
    ['general.name', 'str', 'qzhou-bench'],
    ['general.file_type', 'u32', 0],
    ['general.alignment', 'u32', ALIGN],
    ['qwen2.context_length', 'u32', c.maxPositionEmbeddings],
    ['qwen2.embedding_length', 'u32', c.hiddenSize],
    ['qwen2.block_count', 'u32', c.numLayers],
    ['qwen2.feed_forward_length', 'u32', c.intermediateSize],
    ['qwen2.attention.head_count', 'u32', c.numHeads],
    ['qwen2.attention.head_count_kv', 'u32', c.numKvHeads],
    ['qwen2.rope.freq_base', 'f32', c.ropeTheta],
    ['qwen2.attention.layer_norm_rms_epsilon', 'f32', c.rmsNormEps],
    ['qwen2.attention.causal', 'bool', false],
    ['qwen2.pooling_type', 'u32', 1],
    ['tokenizer.ggml.model', 'str', 'gpt2'],
    ['tokenizer.ggml.pre', 'str', 'qwen2'],
    ['tokenizer.ggml.tokens', 'strs', tokens],
    ['tokenizer.ggml.token_type', 'i32s', types],
    ['tokenizer.ggml.merges', 'strs', merges],
    ['tokenizer.ggml.eos_token_id', 'u32', eos],
    ['tokenizer.ggml.padding_token_id', 'u32', eos],
    ['tokenizer.ggml.bos_token_id', 'u32', eos],
    ['tokenizer.ggml.add_bos_token', 'bool', false],
  ];
  const ck = await SafetensorsCheckpoint.open(src);
  const names = ck.names().sort();
  const head = new Buf();
  head.push(Buffer.from('GGUF'));
  head.u32(3);
  head.u64(names.length);
  head.u64(kvs.length);
  for (const kv of kvs) writeKv(head, kv);
  let offset = 0;
  const offsets: number[] = [];
  for (const n of names) {
    const e = ck.get(n)!;
    head.str(ggufName(n));
    head.u32(e.shape.length);
    for (const d of [...e.shape].reverse()) head.u64(d); // ggml: innermost dimension first
    head.u32(0); // GGML_TYPE_F32
    offset = Math.ceil(offset / ALIGN) * ALIGN;
    offsets.push(offset);
    head.u64(offset);
    offset += (e.byteLength / (e.dtype === 'F32' ? 4 : 2)) * 4;
  }
  const tmp = `${out}.tmp`;
  const fd = openSync(tmp, 'w');
  let pos = 0;
  const write = (b: Uint8Array, at: number) => {
    let done = 0;
    while (done < b.length) done += writeSync(fd, b, done, b.length - done, at + done);
  };
  for (const p of head.parts) {
    write(p, pos);
    pos += p.length;
  }
  const dataStart = Math.ceil(pos / ALIGN) * ALIGN;
  for (let i = 0; i < names.length; i++) {
    const f = await ck.readFloat32(names[i]!);
    write(new Uint8Array(f.buffer, f.byteOffset, f.byteLength), dataStart + offsets[i]!);
  }
  closeSync(fd);
  renameSync(tmp, out);
  await ck.close();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [src, out] = process.argv.slice(2);
  if (!src || !out) {
    console.error('usage: npx tsx bench/model-gguf.ts CHECKPOINT OUT.gguf');
    process.exit(2);
  }
  await writeGguf(src, out);
  console.log(`wrote ${out}`);
}
