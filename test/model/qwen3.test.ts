// Qwen3 (Qwen3-Embedding) has no Python fixture here: its graph is checked against an independent, plain
// JavaScript forward pass written from the transformers modeling code (q/k RMSNorm per head before RoPE,
// head_dim independent of hidden/heads, attention_bias on q/k/v/o, causal GQA, last-token pooling).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEmbedder } from '../../src/model/index.js';
import { writeSafetensors, floatTensor } from '../../src/model/safetensors.js';
import { tempDir, removeDir, wordPieceTokenizer, indexVocab, dot } from './helpers.js';

const C = { hidden: 32, heads: 4, kv: 2, headDim: 16, layers: 2, ffn: 48, vocab: 50, eps: 1e-6, theta: 10000 };

function rng(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.5) * 0.2;
  };
}

type W = Map<string, Float32Array>;

function randomWeights(): W {
  const r = rng(11);
  const w: W = new Map();
  const t = (name: string, n: number, fill?: () => number) => w.set(name, Float32Array.from({ length: n }, fill ?? r));
  t('embed_tokens.weight', C.vocab * C.hidden, () => r() * 5);
  for (let i = 0; i < C.layers; i++) {
    const p = `layers.${i}`;
    t(`${p}.input_layernorm.weight`, C.hidden, () => 1 + r());
    t(`${p}.post_attention_layernorm.weight`, C.hidden, () => 1 + r());
    for (const [n, out, inp] of [['q', C.heads * C.headDim, C.hidden], ['k', C.kv * C.headDim, C.hidden], ['v', C.kv * C.headDim, C.hidden], ['o', C.hidden, C.heads * C.headDim]] as const) {
      t(`${p}.self_attn.${n}_proj.weight`, out * inp);
      t(`${p}.self_attn.${n}_proj.bias`, out);
    }
    t(`${p}.self_attn.q_norm.weight`, C.headDim, () => 1 + r());
    t(`${p}.self_attn.k_norm.weight`, C.headDim, () => 1 + r());
    t(`${p}.mlp.gate_proj.weight`, C.ffn * C.hidden);
    t(`${p}.mlp.up_proj.weight`, C.ffn * C.hidden);
    t(`${p}.mlp.down_proj.weight`, C.hidden * C.ffn);
  }
  t('norm.weight', C.hidden, () => 1 + r());
  return w;
}

/** y[t][o] = Σ_i x[t][i]·W[o][i] + b[o] */
function lin(x: number[][], w: Float32Array, b: Float32Array | undefined, out: number): number[][] {
  return x.map((row) => Array.from({ length: out }, (_, o) => row.reduce((s, v, i) => s + v * w[o * row.length + i]!, b ? b[o]! : 0)));
}

function rms(x: number[], w: Float32Array): number[] {
  const ms = x.reduce((s, v) => s + v * v, 0) / x.length;
  return x.map((v, i) => (v / Math.sqrt(ms + C.eps)) * w[i]!);
}

function rope(x: number[], pos: number): number[] {
  const half = C.headDim / 2;
  const out = [...x];
  for (let i = 0; i < half; i++) {
    const a = pos / C.theta ** ((2 * i) / C.headDim);
    out[i] = x[i]! * Math.cos(a) - x[i + half]! * Math.sin(a);
    out[i + half] = x[i + half]! * Math.cos(a) + x[i]! * Math.sin(a);
  }
  return out;
}

/** The reference forward pass for one unpadded sequence: final hidden states. */
function reference(w: W, ids: number[]): number[][] {
  const E = w.get('embed_tokens.weight')!;
  let h = ids.map((id) => Array.from(E.subarray(id * C.hidden, (id + 1) * C.hidden)));
  const n = ids.length;
  const g = C.heads / C.kv;
  for (let l = 0; l < C.layers; l++) {
    const p = `layers.${l}`;
    const x = h.map((r) => rms(r, w.get(`${p}.input_layernorm.weight`)!));
    const proj = (name: string, out: number) => lin(x, w.get(`${p}.self_attn.${name}_proj.weight`)!, w.get(`${p}.self_attn.${name}_proj.bias`), out);
    const split = (m: number[][], heads: number, norm?: Float32Array) =>
      m.map((row, t) => Array.from({ length: heads }, (_, hd) => {
        const v = row.slice(hd * C.headDim, (hd + 1) * C.headDim);
        return norm ? rope(rms(v, norm), t) : v;
      }));
    const q = split(proj('q', C.heads * C.headDim), C.heads, w.get(`${p}.self_attn.q_norm.weight`));
    const k = split(proj('k', C.kv * C.headDim), C.kv, w.get(`${p}.self_attn.k_norm.weight`));
    const v = split(proj('v', C.kv * C.headDim), C.kv);
    const attn = Array.from({ length: n }, (_, t) => {
      const out: number[] = [];
      for (let hd = 0; hd < C.heads; hd++) {
        const kvh = Math.floor(hd / g);
        const scores = Array.from({ length: t + 1 }, (_, j) => dot(q[t]![hd]!, k[j]![kvh]!) / Math.sqrt(C.headDim));
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < C.headDim; d++) out.push(e.reduce((s, ej, j) => s + (ej / z) * v[j]![kvh]![d]!, 0));
      }
      return out;
    });
    const o = lin(attn, w.get(`${p}.self_attn.o_proj.weight`)!, w.get(`${p}.self_attn.o_proj.bias`), C.hidden);
    h = h.map((r, t) => r.map((val, i) => val + o[t]![i]!));
    const y = h.map((r) => rms(r, w.get(`${p}.post_attention_layernorm.weight`)!));
    const gate = lin(y, w.get(`${p}.mlp.gate_proj.weight`)!, undefined, C.ffn);
    const up = lin(y, w.get(`${p}.mlp.up_proj.weight`)!, undefined, C.ffn);
    const act = gate.map((r, t) => r.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[t]![i]!));
    const down = lin(act, w.get(`${p}.mlp.down_proj.weight`)!, undefined, C.hidden);
    h = h.map((r, t) => r.map((val, i) => val + down[t]![i]!));
  }
  return h.map((r) => rms(r, w.get('norm.weight')!));
}

test('qwen3: q/k norm, explicit head_dim, attention_bias, causal GQA, last-token pooling match a plain JS forward pass', async () => {
  const dir = tempDir('qwen3');
  const cache = tempDir('cache');
  try {
    const w = randomWeights();
    const shapes: Record<string, number[]> = {};
    for (const [name, data] of w) {
      const m = /(q|k|v|o)_proj\.weight$/.exec(name);
      if (name === 'embed_tokens.weight') shapes[name] = [C.vocab, C.hidden];
      else if (m) shapes[name] = m[1] === 'o' ? [C.hidden, C.heads * C.headDim] : [(m[1] === 'q' ? C.heads : C.kv) * C.headDim, C.hidden];
      else if (/gate_proj|up_proj/.test(name)) shapes[name] = [C.ffn, C.hidden];
      else if (/down_proj/.test(name)) shapes[name] = [C.hidden, C.ffn];
      else shapes[name] = [data.length];
    }
    await writeSafetensors(join(dir, 'model.safetensors'), [...w].map(([name, data]) => floatTensor(`model.${name}`, shapes[name]!, data, 'F32')));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      model_type: 'qwen3', architectures: ['Qwen3ForCausalLM'], hidden_size: C.hidden, num_attention_heads: C.heads, num_key_value_heads: C.kv,
      head_dim: C.headDim, num_hidden_layers: C.layers, intermediate_size: C.ffn, vocab_size: C.vocab, rms_norm_eps: C.eps,
      rope_theta: C.theta, attention_bias: true, max_position_embeddings: 128, hidden_act: 'silu', tie_word_embeddings: true,
    }));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(wordPieceTokenizer(indexVocab(C.vocab), { specials: false })));
    writeFileSync(join(dir, 'tokenizer_config.json'), '{}');
    const rows = [[3, 17, 42, 8, 0, 49, 21], [5, 6], [30]];
    const e = await loadEmbedder(dir, { cacheDir: cache, pooling: 'lasttoken', withHiddenStates: true });
    try {
      assert.equal(e.config.attention, 'causal');
      assert.equal(e.tokenizer.paddingSide, 'left');
      const vecs = await e.embed(rows.map((r) => r.map((id) => `w${id}`).join(' ')));
      rows.forEach((ids, i) => {
        const h = reference(w, ids);
        const last = h.at(-1)!;
        const n = Math.sqrt(dot(last, last));
        const cos = dot(vecs[i]!, last.map((x) => x / n));
        assert.ok(cos >= 0.99999, `row ${i}: cosine ${cos}`);
      });
      // hidden states of a left-padded batch against the reference
      const S = 7;
      const ids = new BigInt64Array(rows.length * S);
      const mask = new BigInt64Array(rows.length * S);
      rows.forEach((r, b) => r.forEach((id, j) => {
        ids[b * S + S - r.length + j] = BigInt(id);
        mask[b * S + S - r.length + j] = 1n;
      }));
      const { lastHiddenState } = await e.runBatch(ids, mask, [rows.length, S]);
      let worst = 0;
      rows.forEach((r, b) => reference(w, r).forEach((hv, j) => hv.forEach((x, k) => {
        worst = Math.max(worst, Math.abs(lastHiddenState![(b * S + S - r.length + j) * C.hidden + k]! - x));
      })));
      assert.ok(worst <= 1e-4, `hidden states: max abs diff ${worst}`);
    } finally {
      await e.close();
    }
  } finally {
    removeDir(dir);
    removeDir(cache);
  }
});
